#!/usr/bin/env bash
# Compare every unlearning method on one class-wise forgetting task, over several seeds: per seed, train an
# original model, retrain it without the class (the gold standard), compute SalUn masks, run each method and
# evaluate it against that seed's retrained model; then tabulate mean ± std per method (Markdown, CSV, figure).
# Writes $OUT/table.{md,csv,png} and, for the README, $PUBLISH.{md,csv} (results/compare_digits_class3).
# METHODS defaults to every classification method of the registry (python main_unlearn.py --list) but retrain.
# Each variable below can also be set from the environment, e.g. SEEDS=1 METHODS="RL RL_with_SalUn" bash experiments/compare_methods.sh
# --tuned (or TUNED=1): first tune each method's knobs with main_tune.py (TRIALS trials, default 30, on a validation
# class, never class $CLASS, each trial over TRIAL_SEEDS seeds, default 1), then run the tuned setting, as the papers'
# tables do; publishes ..._tuned.
# For BloodMNIST (bloodmnist.npz in ./data) change the first line to:
#   DATASET=${DATASET:-BloodMNIST} ARCH=${ARCH:-resnet18} EPOCHS=${EPOCHS:-50} LR=${LR:-0.01} BATCH_SIZE=${BATCH_SIZE:-50}
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/command.sh
COMMAND=$(command_line experiments/compare_methods.sh)${*:+ $*}
while [ $# -gt 0 ]; do
    case "$1" in
        --tuned) TUNED=1; shift ;;
        *) echo "compare_methods.sh: error: unknown argument $1; it takes --tuned (and environment variables)" >&2
           exit 2 ;;
    esac
done
TUNED=${TUNED:-} TRIALS=${TRIALS:-30} TRIAL_SEEDS=${TRIAL_SEEDS:-1}

DATASET=${DATASET:-Digits} ARCH=${ARCH:-smallcnn} EPOCHS=${EPOCHS:-15} LR=${LR:-0.05} BATCH_SIZE=${BATCH_SIZE:-64}
CLASS=${CLASS:-3}
SEEDS=${SEEDS:-"1 2 3"}
METHODS=${METHODS:-$(python main_unlearn.py --list | sed -n 's/^classification: //p' | tr ', ' '\n\n' \
    | grep -vx -e retrain -e '')}
[ -n "$METHODS" ] || { echo "error: no METHODS (python main_unlearn.py --list has no 'classification:' line)" >&2; exit 2; }
OUT=${OUT:-runs/compare_${DATASET}}
PUBLISH=${PUBLISH:-results/compare_$(echo "$DATASET" | tr 'A-Z' 'a-z')_class${CLASS//,/_}${TUNED:+_tuned}}

RESULTS="$OUT/results"
rm -rf "$RESULTS"  # the table describes this run only
mkdir -p "$RESULTS"

# unlearn METHOD ORIGINAL_ID SEED [FLAGS...]: run one method; print the id of the checkpoint it wrote
unlearn() {
    python main_unlearn.py --model_id "$2" --dataset "$DATASET" --unlearn "$1" --class_to_forget "$CLASS" \
        --seed "$3" --overwrite "${@:4}" | last_line
}

# tuned METHOD ORIGINAL_ID SEED: with --tuned, tune the method (if it declares knobs to tune) and print
# "--hparams best.json"; otherwise print nothing
tuned() {
    [ -n "$TUNED" ] || return 0
    python -c "import sys, unlearn; sys.exit(0 if unlearn.get_method('$1').search else 1)" || return 0
    local study="cmp_${DATASET}_s$3_$1"
    python main_tune.py --model_id "$2" --dataset "$DATASET" --unlearn "$1" --class_to_forget "$CLASS" --seed "$3" \
        --trials "$TRIALS" --trial_seeds "$TRIAL_SEEDS" --final_seeds 0 --study "$study" --overwrite >&2
    echo "--hparams runs/tune/$study/best.json"
}

# evaluate MODEL_ID RETRAIN_ID METHOD SEED: gaps to the retrained model -> $RESULTS/{method}__seed{seed}.json
evaluate() {
    python main_test_unlearn.py --model_id "$1" --retrain_model_id "$2" --dataset "$DATASET" \
        --label "$3" --json "$RESULTS/$3__seed$4.json"
}

for seed in $SEEDS; do
    ORIGINAL="cmp_${DATASET}_s${seed}"
    python main_train.py --save_model_id "$ORIGINAL" --dataset "$DATASET" --arch "$ARCH" --epochs "$EPOCHS" \
        --lr "$LR" --batch_size "$BATCH_SIZE" --seed "$seed" --overwrite
    RETRAIN=$(unlearn retrain "${ORIGINAL}_best" "$seed")
    evaluate "$RETRAIN" "$RETRAIN" retrain "$seed"
    python generate_mask.py --model_id "${ORIGINAL}_best" --dataset "$DATASET" --class_to_forget "$CLASS" \
        --seed "$seed" --overwrite
    for method in $METHODS; do
        # shellcheck disable=SC2046  # tuned prints two words, or none
        UNLEARNED=$(unlearn "$method" "${ORIGINAL}_best" "$seed" $(tuned "$method" "${ORIGINAL}_best" "$seed"))
        evaluate "$UNLEARNED" "$RETRAIN" "$method" "$seed"
    done
done

python -m utils.report --results "$RESULTS" --out "$OUT/table" --publish "$PUBLISH" --command "$COMMAND"
