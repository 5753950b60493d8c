#!/bin/bash
# A ttc sweep on a Slurm cluster: a job array runs `ttc eval --shard auto`, one shard
# per task, and a job that starts once every task succeeded runs `ttc merge`.
#
#   deploy/slurm-eval.sh RUN.toml OUTPUT_DIR SHARDS [sbatch options...]
#   deploy/slurm-eval.sh config/demo.toml /shared/runs/demo 8 --partition=gpu --gres=gpu:1
#
# What it needs:
# - the `ttc` binary and ONNX Runtime on every node: TTC (default: `ttc` on PATH)
#   and ORT_DYLIB_PATH, exported before submitting (sbatch passes the environment on),
#   or the container image of deploy/Dockerfile through your site's container plugin;
# - the run file, its model folders and OUTPUT_DIR on a filesystem every node sees:
#   each task writes OUTPUT_DIR/shard-I-of-SHARDS, the merge reads them all.
#   Without one, copy the shard folders back into OUTPUT_DIR before merging.
#
# A task that fails or is killed can be resubmitted as it was (`sbatch --array=I ...`
# with the same arguments): the shard resumes where it stopped. The merge refuses,
# naming the shard and questions, until every shard is complete.
set -euo pipefail

TTC=${TTC:-ttc}

case "${1:-}" in
  --task)
    # Inside one array task: Slurm's SLURM_ARRAY_TASK_* pick the shard.
    shift
    exec "$TTC" eval "$1" --output "$2" --shard auto --shards "$3"
    ;;
  --merge)
    shift
    shards=()
    for ((i = 0; i < $3; i++)); do shards+=("$2/shard-$i-of-$3"); done
    exec "$TTC" merge "${shards[@]}" --output "$2"
    ;;
esac

if [ $# -lt 3 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
run=$(realpath "$1")
out=$(realpath -m "$2")
n=$3
shift 3
mkdir -p "$out/logs"

# One task per shard, ids 0..n-1 with no step: `--shard auto` refuses anything else.
array=$(sbatch --parsable --job-name=ttc-eval --array="0-$((n - 1))" \
  --output="$out/logs/shard-%a.log" "$@" "$0" --task "$run" "$out" "$n")
array=${array%%;*}
merge=$(sbatch --parsable --job-name=ttc-merge --dependency="afterok:$array" \
  --output="$out/logs/merge.log" "$@" "$0" --merge "$run" "$out" "$n")
echo "submitted shards as job array $array and the merge as job ${merge%%;*}; logs in $out/logs"
