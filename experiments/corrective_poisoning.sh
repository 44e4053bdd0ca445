#!/usr/bin/env bash
# Corrective unlearning of a BadNets poison (seed 003): for each seed, train on a training set with FORGET_SET_SIZE
# poisoned samples, then let each method unlearn knowing only SHARES % of them; plot clean accuracy, attack success
# rate and the rest against that share (mean ± std over seeds) in $OUT/grid.{csv,png}, and write the README's table
# to $PUBLISH.{md,csv} (results/corrective_poisoning_digits). Offline on Digits by default; for MedMNIST change the
# first line to e.g. DATASET=${DATASET:-BloodMNIST} ARCH=${ARCH:-resnet18} EPOCHS=${EPOCHS:-50} FORGET_SET_SIZE=${FORGET_SET_SIZE:-500}
# RESUME=1 keeps the original models and result files an interrupted run left, and runs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/command.sh
COMMAND=${COMMAND:-$(command_line experiments/corrective_poisoning.sh)}

DATASET=${DATASET:-Digits} ARCH=${ARCH:-smallcnn} EPOCHS=${EPOCHS:-15} FORGET_SET_SIZE=${FORGET_SET_SIZE:-126}
MANIPULATION=${MANIPULATION:-"--dataset_method poisoning --patch_size 3 --poison_target 0"}
METHODS=${METHODS:-"EU CF SCRUB SSD ASSD BadT"}
K=${K:--1}  # EU-k / CF-k: the last K layers only (-1 = all)
SHARES=${SHARES:-"10 30 50 70 90 100"}
SEEDS=${SEEDS:-"1 2 3"}
RESUME=${RESUME:-0}
KIND=$(echo "$MANIPULATION" | awk '{print $2}')
NAME=$(basename "$DATASET" .npz)  # data/mnist5k.npz -> mnist5k
OUT=${OUT:-runs/corrective_${KIND}_${NAME}}
PUBLISH=${PUBLISH:-results/corrective_${KIND}_$(echo "$NAME" | tr 'A-Z' 'a-z')}
MODELS=${MODELS:-model_weights}

RESULTS="$OUT/results"
[ "$RESUME" = 1 ] || rm -rf "$RESULTS"  # the grid describes this run only

for seed in $SEEDS; do
    ORIGINAL="corr_${KIND}_${NAME}_s${seed}"
    if [ "$RESUME" != 1 ] || [ ! -f "$MODELS/${ORIGINAL}_best.pt" ]; then
        # shellcheck disable=SC2086  # MANIPULATION holds several flags
        python main_train.py --save_model_id "$ORIGINAL" --dataset "$DATASET" --arch "$ARCH" --epochs "$EPOCHS" \
            --lr 0.05 --batch_size 64 --seed "$seed" --forget_set_size "$FORGET_SET_SIZE" $MANIPULATION \
            --model_dir "$MODELS" --overwrite
        rm -rf "$RESULTS/seed$seed"  # results of an earlier original model
    fi
    # shellcheck disable=SC2086  # METHODS and SHARES are lists
    python experiments/corrective_cells.py --model_id "${ORIGINAL}_best" --dataset "$DATASET" --model_dir "$MODELS" \
        --seed "$seed" --forget_set_size "$FORGET_SET_SIZE" --k "$K" --methods $METHODS --shares $SHARES \
        --results "$RESULTS/seed$seed"
done

python -m utils.report --results "$RESULTS" --out "$OUT/grid" --publish "$PUBLISH" --command "$COMMAND"
