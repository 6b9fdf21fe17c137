#!/usr/bin/env bash
# Launch lightning_bias with torchrun on one or more nodes (c10d rendezvous). Run it once per node.
#
#   # on every node of a 2-node job, 8 GPUs each:
#   launch/torchrun.sh --nnodes 2 --nproc-per-node 8 --rdzv-endpoint node0.example:29400 --rdzv-id run42 \
#       -- fit --config configs/quickstart.yaml --config configs/strategy/deepspeed_zero2.yaml
#
# torchrun starts --nproc-per-node workers on this node; the nodes find each other at the
# rendezvous endpoint (a host:port reachable from every node; the first node to arrive serves it).
# The launcher appends --trainer.num_nodes and --trainer.devices so Lightning's view matches.
# When a worker fails, torchrun stops this node's other workers and reports the failed rank
# ("Root Cause ... rank: R"); --max-restarts restarts the whole group instead. The shutdown is
# bounded by torchrun itself: SIGTERM to the workers, SIGKILL to those alive 30 s later. This
# script execs torchrun (no wrapper process stays), so signals to it reach torchrun directly.
#
# Options (environment variable in brackets):
#   --nnodes N              number of nodes [NNODES, default 1]
#   --nproc-per-node M      processes on this node [NPROC_PER_NODE, default: the GPUs nvidia-smi lists, else 1]
#   --rdzv-endpoint H:P     rendezvous endpoint [RDZV_ENDPOINT, default $MASTER_ADDR:$MASTER_PORT or 127.0.0.1:29400]
#   --rdzv-id ID            job id shared by all nodes [RDZV_ID, default $SLURM_JOB_ID or lightning_bias]
#   --max-restarts K        group restarts after a failure [MAX_RESTARTS, default 0]
#   --dry-run               print the command, start nothing
# Environment: PYTHON (default: python).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "torchrun.sh: error: $*" >&2; exit 2; }
is_positive_int() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }

gpu_count() {
  if command -v nvidia-smi >/dev/null 2>&1; then
    local n
    n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    [[ "$n" -gt 0 ]] && { echo "$n"; return; }
  fi
  echo 1
}

nnodes=${NNODES:-1}
nproc=${NPROC_PER_NODE:-}
endpoint=${RDZV_ENDPOINT:-}
rdzv_id=${RDZV_ID:-${SLURM_JOB_ID:-lightning_bias}}
max_restarts=${MAX_RESTARTS:-0}
dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nnodes|--nproc-per-node|--rdzv-endpoint|--rdzv-id|--max-restarts)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case "$1" in
        --nnodes) nnodes=$2 ;; --nproc-per-node) nproc=$2 ;; --rdzv-endpoint) endpoint=$2 ;;
        --rdzv-id) rdzv_id=$2 ;; --max-restarts) max_restarts=$2 ;;
      esac
      shift 2 ;;
    --nnodes=*) nnodes=${1#*=}; shift ;;
    --nproc-per-node=*) nproc=${1#*=}; shift ;;
    --rdzv-endpoint=*) endpoint=${1#*=}; shift ;;
    --rdzv-id=*) rdzv_id=${1#*=}; shift ;;
    --max-restarts=*) max_restarts=${1#*=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (lightning_bias arguments go after --); see --help" ;;
  esac
done
[[ -n "$nproc" ]] || nproc=$(gpu_count)
[[ -n "$endpoint" ]] || endpoint="${MASTER_ADDR:-127.0.0.1}:${MASTER_PORT:-29400}"
is_positive_int "$nnodes" || die "--nnodes must be a positive integer (Lightning needs a fixed node count), got '$nnodes'"
is_positive_int "$nproc" || die "--nproc-per-node must be a positive integer, got '$nproc'"
[[ "$max_restarts" =~ ^[0-9]+$ ]] || die "--max-restarts must be a non-negative integer, got '$max_restarts'"
[[ "$endpoint" =~ ^[^:]+:[0-9]+$ ]] || die "--rdzv-endpoint must be HOST:PORT, got '$endpoint'"
[[ $# -gt 0 ]] || die "no lightning_bias arguments; give them after --, e.g. -- fit --config configs/tiny.yaml"

python=${PYTHON:-python}
command=("$python" -m torch.distributed.run
  --nnodes "$nnodes" --nproc-per-node "$nproc"
  --rdzv-backend c10d --rdzv-endpoint "$endpoint" --rdzv-id "$rdzv_id"
  --max-restarts "$max_restarts"
  -m lightning_bias "$@" --trainer.num_nodes "$nnodes" --trainer.devices "$nproc")

if [[ $dry_run -eq 1 ]]; then
  printf '%q ' "${command[@]}"
  echo
  exit 0
fi
exec "${command[@]}"
