#!/usr/bin/env bash
# Launch lightning_bias with the DeepSpeed launcher on the nodes of a hostfile.
#
#   launch/deepspeed.sh --hostfile launch/hostfile.example -- \
#       fit --config configs/quickstart.yaml --config configs/strategy/deepspeed_zero3.yaml
#
# The hostfile ("HOSTNAME slots=N" per line, see launch/hostfile.example) is checked first: a
# malformed line, a duplicate host or unequal slot counts stop the launch with the line named.
# The launcher appends --trainer.num_nodes <hosts> --trainer.devices <slots> so Lightning matches
# the hostfile, and runs `deepspeed --module lightning_bias` from this node, reaching the other
# hosts over ssh (pdsh). Without ssh between nodes, run it on every node with --no-ssh --node-rank i.
#
# Options:
#   --hostfile FILE     the hostfile [DS_HOSTFILE]; required
#   --master-addr HOST  rendezvous address (default: the first host)
#   --master-port P     rendezvous port [MASTER_PORT, default 29500]
#   --launcher NAME     multi-node backend: pdsh (default), openmpi, mvapich, slurm, mpich, impi
#   --no-ssh            start only this node's processes (with --node-rank)
#   --node-rank I       this node's index in the hostfile (with --no-ssh)
#   --dry-run           check the hostfile and print the command, start nothing
# Environment: DEEPSPEED (default: deepspeed).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "deepspeed.sh: error: $*" >&2; exit 2; }

hostfile=${DS_HOSTFILE:-}
master_addr=""
master_port=${MASTER_PORT:-29500}
launcher=""
no_ssh=0
node_rank=""
dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hostfile|--master-addr|--master-port|--launcher|--node-rank)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case "$1" in
        --hostfile) hostfile=$2 ;; --master-addr) master_addr=$2 ;; --master-port) master_port=$2 ;;
        --launcher) launcher=$2 ;; --node-rank) node_rank=$2 ;;
      esac
      shift 2 ;;
    --hostfile=*) hostfile=${1#*=}; shift ;;
    --master-addr=*) master_addr=${1#*=}; shift ;;
    --master-port=*) master_port=${1#*=}; shift ;;
    --launcher=*) launcher=${1#*=}; shift ;;
    --node-rank=*) node_rank=${1#*=}; shift ;;
    --no-ssh) no_ssh=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (lightning_bias arguments go after --); see --help" ;;
  esac
done
[[ -n "$hostfile" ]] || die "no hostfile; pass --hostfile FILE (format: launch/hostfile.example)"
[[ -f "$hostfile" ]] || die "hostfile '$hostfile' does not exist"
[[ "$master_port" =~ ^[1-9][0-9]*$ ]] || die "--master-port must be a port number, got '$master_port'"
[[ $# -gt 0 ]] || die "no lightning_bias arguments; give them after --, e.g. -- fit --config configs/tiny.yaml"

# --- check the hostfile: "HOSTNAME slots=N", same N everywhere, no host twice ---
hosts=()
slots=""
line_number=0
while IFS= read -r line || [[ -n "$line" ]]; do
  line_number=$((line_number + 1))
  content=${line%%#*}
  [[ "$content" =~ ^[[:space:]]*$ ]] && continue
  if [[ ! "$content" =~ ^[[:space:]]*([A-Za-z0-9._-]+)[[:space:]]+slots=([1-9][0-9]*)[[:space:]]*$ ]]; then
    die "hostfile $hostfile line $line_number is malformed: '$line'; expected 'HOSTNAME slots=N' (N >= 1)"
  fi
  host=${BASH_REMATCH[1]}
  host_slots=${BASH_REMATCH[2]}
  for seen in "${hosts[@]}"; do
    [[ "$seen" == "$host" ]] && die "hostfile $hostfile line $line_number lists host '$host' a second time"
  done
  if [[ -n "$slots" && "$host_slots" != "$slots" ]]; then
    die "hostfile $hostfile line $line_number gives $host slots=$host_slots but earlier hosts have slots=$slots; Lightning needs the same number of processes on every node"
  fi
  hosts+=("$host")
  slots=$host_slots
done < "$hostfile"
[[ ${#hosts[@]} -gt 0 ]] || die "hostfile $hostfile lists no hosts; expected lines like 'worker-0 slots=8'"
num_nodes=${#hosts[@]}
[[ -n "$master_addr" ]] || master_addr=${hosts[0]}
if [[ $no_ssh -eq 1 ]]; then
  [[ "$node_rank" =~ ^[0-9]+$ && "$node_rank" -lt $num_nodes ]] \
    || die "--no-ssh needs --node-rank between 0 and $((num_nodes - 1)), got '${node_rank}'"
elif [[ -n "$node_rank" ]]; then
  die "--node-rank only applies with --no-ssh"
fi

command=("${DEEPSPEED:-deepspeed}" --hostfile "$hostfile" --master_addr "$master_addr" --master_port "$master_port"
  --no_local_rank)
[[ -n "$launcher" ]] && command+=(--launcher "$launcher")
[[ $no_ssh -eq 1 ]] && command+=(--no_ssh --node_rank "$node_rank")
command+=(--module lightning_bias "$@" --trainer.num_nodes "$num_nodes" --trainer.devices "$slots")

if [[ $dry_run -eq 1 ]]; then
  echo "# hostfile $hostfile: ${num_nodes} node(s) x ${slots} slot(s): ${hosts[*]}"
  printf '%q ' "${command[@]}"
  echo
  exit 0
fi
exec "${command[@]}"
