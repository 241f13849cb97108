#!/bin/bash
# One `kerasimb compare` split over a Slurm job array: array task K runs shard K of 3 into the
# shared --output folder (every node must see it), each run trained once; the last shard to
# finish writes the report. Submit with `sbatch examples/slurm_compare.sh`; rerun one failed or
# killed shard with `sbatch --array=2 examples/slurm_compare.sh` (it resumes its runs).
#SBATCH --job-name=kerasimb-compare
#SBATCH --array=1-3
#SBATCH --cpus-per-task=4
#SBATCH --time=02:00:00
#SBATCH --output=kerasimb-compare-%A_%a.log
set -euo pipefail
SHARDS=3  # the number of tasks of --array above
kerasimb compare --dataset digits-lt --methods ce reweight ldam-drw --seeds 0 1 2 --epochs 30 --output "${OUTPUT:-runs/compare-sharded}" --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}"
