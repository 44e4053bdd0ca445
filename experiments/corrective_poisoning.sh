#!/usr/bin/env bash
# Corrective unlearning of a BadNets poison (seed 003): train on a training set with FORGET_SET_SIZE
# poisoned samples, then let each method unlearn knowing only 10 %, 20 %, ..., 100 % of them; plot clean
# accuracy, attack success rate and the rest against that share. Offline on Digits by default; for
# MedMNIST change the first line to e.g. DATASET=${DATASET:-BloodMNIST} ARCH=${ARCH:-resnet18} EPOCHS=${EPOCHS:-50} FORGET_SET_SIZE=${FORGET_SET_SIZE:-500}
set -euo pipefail
cd "$(dirname "$0")/.."

DATASET=${DATASET:-Digits} ARCH=${ARCH:-smallcnn} EPOCHS=${EPOCHS:-15} FORGET_SET_SIZE=${FORGET_SET_SIZE:-126}
MANIPULATION=${MANIPULATION:-"--dataset_method poisoning --patch_size 3 --poison_target 0"}
METHODS=${METHODS:-"EU CF SCRUB SSD BadT"}
K=${K:--1}  # EU-k / CF-k: the last K layers only (-1 = all)
SHARES=${SHARES:-"10 20 30 40 50 60 70 80 90 100"}
SEED=${SEED:-1}
OUT=${OUT:-runs/corrective_$(echo "$MANIPULATION" | awk '{print $2}')_${DATASET}}

RESULTS="$OUT/results"
rm -rf "$RESULTS"  # the grid describes this run only
mkdir -p "$RESULTS"
ORIGINAL="corr_$(echo "$MANIPULATION" | awk '{print $2}')_${DATASET}_s${SEED}"

# shellcheck disable=SC2086  # MANIPULATION holds several flags
python main_train.py --save_model_id "$ORIGINAL" --dataset "$DATASET" --arch "$ARCH" --epochs "$EPOCHS" --lr 0.05 \
    --batch_size 64 --seed "$SEED" --forget_set_size "$FORGET_SET_SIZE" $MANIPULATION --overwrite
python main_test_unlearn.py --model_id "${ORIGINAL}_best" --dataset "$DATASET" --json "$RESULTS/original__del0.json"

for share in $SHARES; do
    size=$(( (FORGET_SET_SIZE * share + 50) / 100 ))
    size=$(( size < 1 ? 1 : size ))
    for method in $METHODS; do
        extra=()
        case $method in EU|CF|EU_with_SalUn|CF_with_SalUn) extra=(--k "$K");; esac
        ID=$(python main_unlearn.py --model_id "${ORIGINAL}_best" --dataset "$DATASET" --unlearn "$method" \
            --deletion_size "$size" --seed "$SEED" "${extra[@]}" --overwrite | tail -n 1)
        python main_test_unlearn.py --model_id "$ID" --dataset "$DATASET" --json "$RESULTS/${method}__del${share}.json"
    done
done

python -m utils.corrective_report --results "$RESULTS" --out "$OUT/grid"
