#!/usr/bin/env bash
# Transfer-learning view of unlearning (seed 002): train an original model, retrain it without one class (the gold
# standard), run FT, GA, FT_prune, SalUn (RL_with_SalUn) and SPKD, and measure for every model the k=5 cosine kNN
# accuracy of its frozen pooled features on a downstream image folder and the linear CKA of its test-split features
# with the retrained model's; tabulate them (Markdown, CSV, bar chart) in $OUT/table.* and, for the README, in
# $PUBLISH.{md,csv} (results/transfer_digits).
# The default downstream set works offline: experiments/digits_downstream.py writes scikit-learn's digits as a
# 2-class folder tree (0-4 against 5-9, rendered blocky at 32 px). Point KNN_DATASET at any other dataset, e.g.
#   KNN_DATASET=imagefolder:/data/OfficeHome/Art DATASET=... ARCH=resnet50 bash experiments/transfer_knn.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/command.sh
COMMAND=$(command_line experiments/transfer_knn.sh)

DATASET=${DATASET:-Digits} ARCH=${ARCH:-smallcnn} EPOCHS=${EPOCHS:-15} LR=${LR:-0.05} BATCH_SIZE=${BATCH_SIZE:-64}
CLASS=${CLASS:-3}
SEED=${SEED:-1}
METHODS=${METHODS:-"FT GA FT_prune RL_with_SalUn SPKD"}
# SalUn's RL needs several forget steps an epoch: Digits' class 3 (128 rows) gets 8 at batch 16, 2 at the default 100
RL_BATCH_SIZE=${RL_BATCH_SIZE:-16}
DOWNSTREAM=${DOWNSTREAM:-data/digits_low_high}
KNN_DATASET=${KNN_DATASET:-imagefolder:$DOWNSTREAM}
OUT=${OUT:-runs/transfer_${DATASET}}
PUBLISH=${PUBLISH:-results/transfer_$(echo "$DATASET" | tr 'A-Z' 'a-z')}
ORIGINAL=transfer_${DATASET}_s${SEED}

RESULTS="$OUT/results"
rm -rf "$RESULTS"  # the table describes this run only
mkdir -p "$RESULTS"
if [[ "$KNN_DATASET" == "imagefolder:$DOWNSTREAM" && ! -d "$DOWNSTREAM" ]]; then
    python experiments/digits_downstream.py "$DOWNSTREAM"
fi

# unlearn METHOD: run one method on the original model; print the id of the checkpoint it wrote
unlearn() {
    local extra=()
    case $1 in RL|RL_with_SalUn) extra=(--unlearn_batch_size "$RL_BATCH_SIZE");; esac
    python main_unlearn.py --model_id "${ORIGINAL}_best" --dataset "$DATASET" --unlearn "$1" --class_to_forget "$CLASS" \
        --seed "$SEED" --overwrite "${extra[@]}" | last_line
}

# evaluate MODEL_ID NAME [flags]: forgetting metrics, kNN transfer and CKA to the retrained model -> $RESULTS/NAME.json
evaluate() {
    python main_test_unlearn.py --model_id "$1" --dataset "$DATASET" --retrain_model_id "$RETRAIN" \
        --knn_dataset "$KNN_DATASET" --cka_with "$RETRAIN" --label "$2" --json "$RESULTS/$2.json" "${@:3}"
}

python main_train.py --save_model_id "$ORIGINAL" --dataset "$DATASET" --arch "$ARCH" --epochs "$EPOCHS" \
    --lr "$LR" --batch_size "$BATCH_SIZE" --seed "$SEED" --overwrite
RETRAIN=$(unlearn retrain)
python generate_mask.py --model_id "${ORIGINAL}_best" --dataset "$DATASET" --class_to_forget "$CLASS" \
    --seed "$SEED" --overwrite
evaluate "${ORIGINAL}_best" original --class_to_forget "$CLASS"
evaluate "$RETRAIN" retrain
for method in $METHODS; do
    evaluate "$(unlearn "$method")" "$method"
done

python -m utils.report --results "$RESULTS" --out "$OUT/table" --publish "$PUBLISH" --command "$COMMAND"
