#!/usr/bin/env bash
# Seed 000 ("Erase to Enhance") on generated phantoms: train a U-Net on two organs (Original: brain + knee), retrain
# it on brain only (Oracle), then forget the knee with every method at one retain share, and tabulate PSNR / SSIM /
# NMSE on both organs' test volumes, the gap to the Oracle and the time relative to retraining.
# Writes runs/mri_unlearn/table.{md,csv,png} and, for the README, $PUBLISH.{md,csv} (results/mri_unlearn).
# Each variable can be set from the environment, e.g.
#   METHODS="FT NL_FT" RETAIN_RATIO=0.1 bash experiments/mri_unlearn.sh
# For real fastMRI data give BRAIN=... KNEE=... folders holding train/ val/ test/ (multi-coil: ARCH=varnet).
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/command.sh
COMMAND=$(command_line experiments/mri_unlearn.sh)

OUT=${OUT:-runs/mri_unlearn}
PUBLISH=${PUBLISH:-results/mri_unlearn}
DATA=${DATA:-data/phantoms}
BRAIN=${BRAIN:-$DATA/brain} KNEE=${KNEE:-$DATA/knee}
SIZE=${SIZE:-64} VOLUMES=${VOLUMES:-8} SLICES=${SLICES:-8}
ARCH=${ARCH:-unet} CHANS=${CHANS:-16} POOLS=${POOLS:-3} EPOCHS=${EPOCHS:-20} BATCH_SIZE=${BATCH_SIZE:-8}
MASK=${MASK:-"--mask_type random --accelerations 4 --center_fractions 0.08"}
RETAIN_RATIO=${RETAIN_RATIO:-0.25}
SEED=${SEED:-1}
METHODS=${METHODS:-"FT GA GA_l1 NL GA_FT GA_l1_FT NL_FT NL_FT_with_SalUn SSD"}
MODELS="$OUT/model_weights"
GROUPS_FLAGS="--train_groups brain:$BRAIN,knee:$KNEE $MASK --seed $SEED --model_dir $MODELS --runs_dir $OUT"

if [ ! -d "$BRAIN/train" ]; then
    python -m datasets.mri_phantoms --out "$BRAIN" --family brain --volumes "$VOLUMES" --slices "$SLICES" --size "$SIZE" --seed 1
    python -m datasets.mri_phantoms --out "$KNEE" --family knee --volumes "$VOLUMES" --slices "$SLICES" --size "$SIZE" --seed 2
fi
RESULTS="$OUT/results"
rm -rf "$RESULTS"  # the table describes this run only
mkdir -p "$RESULTS"

# evaluate ROW_NAME MODEL_ID: the seed-000 row of one model -> $RESULTS/{nn}_{row}.json
row=0
evaluate() {
    row=$((row + 1))
    python main_test_unlearn.py $GROUPS_FLAGS --model_id "$2" --forget_group knee --retrain_model_id "$ORACLE" \
        --json "$RESULTS/$(printf %02d $row)_$1.json"
}
# unlearn METHOD [FLAGS...]: forget the knee; print the id of the checkpoint written
unlearn() {
    local method=$1; shift
    python main_unlearn.py $GROUPS_FLAGS --model_id "$ORIGINAL" --forget_group knee --unlearn "$method" --overwrite "$@" \
        | tee /dev/stderr | tail -n 1
}

python main_train.py $GROUPS_FLAGS --save_model_id mri_original --arch "$ARCH" --chans "$CHANS" --num_pool_layers "$POOLS" \
    --epochs "$EPOCHS" --batch_size "$BATCH_SIZE" --overwrite
ORIGINAL=mri_original_best
ORACLE=$(unlearn retrain --unlearn_epochs $((EPOCHS * 2)))  # brain only: twice the epochs = the same steps
evaluate Original "$ORIGINAL"
evaluate Oracle "$ORACLE"
python generate_mask.py $GROUPS_FLAGS --model_id "$ORIGINAL" --forget_group knee --overwrite
for method in $METHODS; do
    case "$method" in
        FT) evaluate "Full_FT" "$(unlearn FT)"
            evaluate "Sub_FT" "$(unlearn FT --retain_ratio "$RETAIN_RATIO")" ;;
        *_FT|*_FT_with_SalUn) evaluate "$method" "$(unlearn "$method" --retain_ratio "$RETAIN_RATIO")" ;;
        *) evaluate "$method" "$(unlearn "$method")" ;;
    esac
done

python -m utils.recon_compare --results "$RESULTS" --out "$OUT/table" \
    --title "Forgetting the knee: test-set quality per organ (mean ± std over volumes)" \
    --publish "$PUBLISH" --metrics psnr,ssim --command "$COMMAND"
