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
# at their next collective and say which rank they lost), then stops them, and exits with the
# failed node's code.
#
# Options:
#   --nodes N            simulated nodes (default 2)
#   --procs-per-node M   processes per node (default 1)
#   --port P             rendezvous port on 127.0.0.1 (default: a free port)
#   --grace S            seconds the other nodes get to stop by themselves after a failure (default 10)
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
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (lightning_bias arguments go after --); see --help" ;;
  esac
done
is_positive_int "$nodes" || die "--nodes must be a positive integer, got '$nodes'"
is_positive_int "$procs" || die "--procs-per-node must be a positive integer, got '$procs'"
[[ "$grace" =~ ^[0-9]+$ ]] || die "--grace must be a whole number of seconds, got '$grace'"
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

pids=()  # each node runs in its own session (setsid): stopping the group stops what Lightning started there
stop_all() {
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
}
trap 'stop_all; exit 130' INT TERM

describe_exit() {  # describe_exit CODE -> "code 137 (killed by SIGKILL)"
  if [[ $1 -gt 128 ]]; then
    echo "code $1 (killed by SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo "?"))"
  else
    echo "code $1"
  fi
}

for ((node = 0; node < nodes; node++)); do
  mapfile -t words < <(node_command "$node" "$@")
  setsid "${words[@]}" > >(sed -u "s/^/[node $node] /") 2>&1 &
  pids+=("$!")
done

status=0
deadline=""
running=("${pids[@]}")
while [[ ${#running[@]} -gt 0 ]]; do
  finished_pid=""
  set +e
  if [[ -n "$deadline" ]]; then
    left=$((deadline - SECONDS))
    if [[ $left -le 0 ]]; then
      echo "local_multinode: stopping the nodes still running after ${grace} s" >&2
      stop_all
      deadline=""
      continue
    fi
    # wait for the next node, but no longer than the grace period left
    sleep "$left" &
    sleeper=$!
    wait -n -p finished_pid "${running[@]}" "$sleeper"
    code=$?
    kill "$sleeper" 2>/dev/null
    [[ "$finished_pid" == "$sleeper" ]] && { set -e; continue; }
  else
    wait -n -p finished_pid "${running[@]}"
    code=$?
  fi
  set -e
  still=()
  for pid in "${running[@]}"; do [[ "$pid" != "$finished_pid" ]] && still+=("$pid"); done
  running=("${still[@]}")
  if [[ $code -ne 0 && $status -eq 0 ]]; then
    status=$code
    failed_node="?"
    for i in "${!pids[@]}"; do [[ "${pids[$i]}" == "$finished_pid" ]] && failed_node=$i; done
    if [[ "$failed_node" != "?" ]]; then
      ranks="rank(s) $((failed_node * procs))-$((failed_node * procs + procs - 1))"
      [[ $procs -eq 1 ]] && ranks="rank $failed_node"
    else
      ranks="unknown ranks"
    fi
    echo "local_multinode: node $failed_node ($ranks) exited with $(describe_exit "$code"); the other nodes get ${grace} s to stop" >&2
    deadline=$((SECONDS + grace))
  fi
done
exit "$status"
