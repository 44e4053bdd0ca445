#!/usr/bin/env bash
# Privacy audit on the real handwritten digits that ship with scikit-learn (offline): train a small CNN that fits its
# training rows (no augmentation), then audit, with the same shadows for every row, the ladder (the original itself,
# retraining, one epoch of RL as a deliberately weak method) and RL_with_SalUn, SSD and SCRUB at their defaults, by
# U-LiRA, the NeurIPS 2023 challenge's per-example epsilon and the population SVC MIA. Writes results/audit_digits.*
# (table, ROC and epsilon figures). About 7 minutes on 2 CPU cores; NPROC torchrun processes share the shadows.
set -euo pipefail
cd "$(dirname "$0")/.."

DATASET=${DATASET:-Digits}
ID=${ID:-audit_digits}
SHADOWS=${SHADOWS:-16}
FORGET=${FORGET:-50}
NPROC=${NPROC:-2}
OUT=${OUT:-results/audit_digits}
RUNS=runs/$ID
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one thread per process: NPROC processes share the cores

python main_train.py --save_model_id "$ID" --dataset "$DATASET" --arch smallcnn --epochs 12 --lr 0.05 --batch_size 32 \
    --no_aug --seed 1 --runs_dir "$RUNS" --overwrite
rm -rf "$RUNS/records"

audit() {  # LABEL, then main_audit.py's method flags
    local label=$1
    shift
    torchrun --nproc_per_node "$NPROC" main_audit.py --model_id "${ID}_best" --dataset "$DATASET" \
        --num_indexes_to_replace "$FORGET" --shadows "$SHADOWS" --device cpu --runs_dir "$RUNS" --overwrite \
        --label "$label" --json "$RUNS/records/${label// /_}.json" "$@"
}
audit original --unlearn original
audit retrain --unlearn retrain
audit "RL, 1 epoch" --unlearn RL --unlearn_epochs 1
audit RL_with_SalUn --unlearn RL_with_SalUn
audit SSD --unlearn SSD
audit SCRUB --unlearn SCRUB

python -m utils.report --results "$RUNS/records" --out "$RUNS/audit" --publish "$OUT" \
    --command "bash experiments/audit.sh"
