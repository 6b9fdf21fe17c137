#!/usr/bin/env bash
# Simulate a cluster on this machine: N "nodes" of M processes each, talking over loopback.
#
#   launch/local_multinode.sh --nodes 2 --procs-per-node 1 -- fit --config configs/tiny.yaml
#
# Each simulated node is one `python -m lightning_bias` started with the variables Lightning reads on
# a plain (unmanaged) cluster: MASTER_ADDR=127.0.0.1, MASTER_PORT, NODE_RANK and WORLD_SIZE; Lightning
# then starts the node's other M-1 processes itself, exactly as it would on a real machine. The
# launcher appends --trainer.num_nodes N --trainer.devices M to the arguments it passes through.
#
# Output lines are prefixed with "[node i]". When one node exits non-zero, the launcher names it
# and its ranks, gives the other nodes --grace seconds to stop by themselves (they normally fail
# at their next collective and say which rank they lost), then sends SIGTERM to the process group
# of every node still running, and SIGKILL --kill-after seconds later to those that still run (a
# frozen node ignores SIGTERM). So the launcher always returns, within about grace + kill-after
# seconds of the first failure, with the failed node's exit code and a last line naming that node.
# SIGINT or SIGTERM to the launcher stops the nodes the same way (SIGTERM, then SIGKILL) and
# exits with 130 or 143.
#
# Options:
#   --nodes N            simulated nodes (default 2)
#   --procs-per-node M   processes per node (default 1)
#   --port P             rendezvous port on 127.0.0.1 (default: a free port)
#   --grace S            seconds the other nodes get to stop by themselves after a failure (default 10)
#   --kill-after S       seconds between SIGTERM and SIGKILL for nodes still running (default: --grace)
#   --dry-run            print the commands, start nothing
# Environment: PYTHON (default: python).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

die() { echo "local_multinode: error: $*" >&2; exit 2; }

is_positive_int() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }

nodes=2
procs=1
port=""
grace=10
kill_after=""
dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) [[ $# -ge 2 ]] || die "--nodes needs a value"; nodes=$2; shift 2 ;;
    --nodes=*) nodes=${1#*=}; shift ;;
    --procs-per-node) [[ $# -ge 2 ]] || die "--procs-per-node needs a value"; procs=$2; shift 2 ;;
    --procs-per-node=*) procs=${1#*=}; shift ;;
    --port) [[ $# -ge 2 ]] || die "--port needs a value"; port=$2; shift 2 ;;
    --port=*) port=${1#*=}; shift ;;
    --grace) [[ $# -ge 2 ]] || die "--grace needs a value"; grace=$2; shift 2 ;;
    --grace=*) grace=${1#*=}; shift ;;
    --kill-after) [[ $# -ge 2 ]] || die "--kill-after needs a value"; kill_after=$2; shift 2 ;;
    --kill-after=*) kill_after=${1#*=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (lightning_bias arguments go after --); see --help" ;;
  esac
done
is_positive_int "$nodes" || die "--nodes must be a positive integer, got '$nodes'"
is_positive_int "$procs" || die "--procs-per-node must be a positive integer, got '$procs'"
[[ "$grace" =~ ^[0-9]+$ ]] || die "--grace must be a whole number of seconds, got '$grace'"
[[ -n "$kill_after" ]] || kill_after=$grace
[[ "$kill_after" =~ ^[0-9]+$ ]] || die "--kill-after must be a whole number of seconds, got '$kill_after'"
[[ $# -gt 0 ]] || die "no lightning_bias arguments; give them after --, e.g. -- fit --config configs/tiny.yaml"
python=${PYTHON:-python}
if [[ -z "$port" ]]; then
  port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
is_positive_int "$port" || die "--port must be a port number, got '$port'"

world_size=$((nodes * procs))
node_command() {  # node_command NODE_RANK -> the command line of that node, one word per line
  printf '%s\n' env MASTER_ADDR=127.0.0.1 "MASTER_PORT=$port" "NODE_RANK=$1" "WORLD_SIZE=$world_size" \
    "$python" -m lightning_bias "${@:2}" --trainer.num_nodes "$nodes" --trainer.devices "$procs"
}

if [[ $dry_run -eq 1 ]]; then
  for ((node = 0; node < nodes; node++)); do
    mapfile -t words < <(node_command "$node" "$@")
    printf '[node %d] %s\n' "$node" "$(printf '%q ' "${words[@]}")"
  done
  exit 0
fi

pids=()  # each node runs in its own session (setsid): its pid is its process group, and signalling
          # the group reaches what Lightning started there
running=()  # the pids of the nodes not yet exited

node_of() {  # node_of PID -> the node index of that pid
  local i
  for i in "${!pids[@]}"; do [[ "${pids[$i]}" == "$1" ]] && { echo "$i"; return; }; done
  echo "?"
}

signal_nodes() {  # signal_nodes SIGNAL -> sends it to the process group of every node still running
  local pid names=()
  for pid in "${running[@]}"; do
    names+=("$(node_of "$pid")")
    kill "-$1" -- "-$pid" 2>/dev/null || true
  done
  echo "local_multinode: sending SIG$1 to node(s) ${names[*]}" >&2
}

describe_exit() {  # describe_exit CODE -> "code 137 (killed by SIGKILL)"
  if [[ $1 -gt 128 ]]; then
    echo "code $1 (killed by SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo "?"))"
  else
    echo "code $1"
  fi
}

describe_node() {  # describe_node NODE -> "node 1 (rank 1)"
  if [[ "$1" == "?" ]]; then
    echo "node ? (unknown ranks)"
  elif [[ $procs -eq 1 ]]; then
    echo "node $1 (rank $1)"
  else
    echo "node $1 (rank(s) $(($1 * procs))-$(($1 * procs + procs - 1)))"
  fi
}

node_finished() {  # node_finished PID CODE -> drops the node from `running`; a first failure starts the grace period
  local pid still=()
  for pid in "${running[@]}"; do [[ "$pid" != "$1" ]] && still+=("$pid"); done
  running=("${still[@]}")
  if [[ $2 -ne 0 && $phase == running ]]; then
    status=$2
    failed_node=$(node_of "$1")
    echo "local_multinode: $(describe_node "$failed_node") exited with $(describe_exit "$2"); the other nodes get ${grace} s to stop" >&2
    phase=grace
    deadline=$((SECONDS + grace))
  fi
}

# The shutdown is a sequence of phases, each bounded except the last (SIGKILL cannot be ignored):
#   running -> grace (a node failed) -> term (SIGTERM sent) -> kill (SIGKILL sent)
# An interrupt of the launcher skips the grace period.
phase=running
deadline=""
status=0
failed_node=""
interrupted=""
trap 'interrupted=INT' INT
trap 'interrupted=TERM' TERM

for ((node = 0; node < nodes; node++)); do
  mapfile -t words < <(node_command "$node" "$@")
  setsid "${words[@]}" > >(sed -u "s/^/[node $node] /") 2>&1 &
  pids+=("$!")
done
running=("${pids[@]}")

while [[ ${#running[@]} -gt 0 ]]; do
  if [[ -n "$interrupted" && ( $phase == running || $phase == grace ) ]]; then
    [[ $status -eq 0 ]] && { [[ $interrupted == INT ]] && status=130 || status=143; }
    echo "local_multinode: interrupted by SIG$interrupted; stopping the nodes" >&2
    signal_nodes TERM
    phase=term
    deadline=$((SECONDS + kill_after))
    continue
  fi
  if [[ -n "$deadline" && $deadline -le $SECONDS ]]; then
    if [[ $phase == grace ]]; then
      echo "local_multinode: nodes still running ${grace} s after the failure; SIGKILL follows in ${kill_after} s" >&2
      signal_nodes TERM
      phase=term
      deadline=$((SECONDS + kill_after))
    else
      echo "local_multinode: nodes still running ${kill_after} s after SIGTERM" >&2
      signal_nodes KILL
      phase=kill
      deadline=""
    fi
    continue
  fi
  finished_pid=""
  # wait for the next node, but at most 1 s (and no longer than the current phase has left): a signal
  # that reaches the launcher between the checks above and `wait` is then seen within a second
  step=1
  [[ -n "$deadline" && $((deadline - SECONDS)) -lt 1 ]] && step=0
  set +e
  sleep "$step" &
  sleeper=$!
  wait -n -p finished_pid "${running[@]}" "$sleeper" 2>/dev/null
  code=$?
  kill "$sleeper" 2>/dev/null
  set -e
  [[ "${finished_pid:-}" == "$sleeper" ]] && continue  # a second passed: back to the checks
  if [[ -n "${finished_pid:-}" ]]; then
    node_finished "$finished_pid" "$code"
    continue
  fi
  # An interrupt of the launcher, or `wait -n` no longer knows a node: bash drops a job from its
  # table once it has reported it ("Killed"), so find the nodes that are gone and ask each for its code.
  for pid in "${running[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      set +e
      wait "$pid" 2>/dev/null
      code=$?
      set -e
      node_finished "$pid" "$code"
    fi
  done
done
if [[ -n "$failed_node" ]]; then
  echo "local_multinode: exit code $status: $(describe_node "$failed_node") failed first" >&2
fi
exit "$status"
