#!/usr/bin/env bash
# Seed 000 ("Erase to Enhance"): train a reconstruction network on every group (Original), retrain it without the
# forget group (Oracle), forget that group with every method, and tabulate PSNR / SSIM / NMSE per group on the test
# volumes (a zero-filled row first), the gap to the Oracle and the time relative to retraining.
#
#   bash experiments/mri_unlearn.sh [--groups NAME:DIR,NAME:DIR...] [--forget NAME] [--out DIR] [--methods "FT NL_FT"]
#                                   [--publish results/NAME] [--paper]
#
# Without --groups it writes brain and knee phantoms to $DATA (data/phantoms) and forgets the knee. Each DIR holds
# train/ val/ test/ folders of fastMRI-style .h5 volumes (single-coil: ARCH=unet, the default; multi-coil: ARCH=varnet). The
# forget group defaults to the last group. The Original is a U-Net trained 90 epochs with --mri_aug and
# --mri_aug_affine 0.5 (30 epochs without the affine part for the phantoms and --paper). --paper uses seed 000's own
# settings (see README). Every setting is also an environment variable (TRAIN_GROUPS, FORGET, OUT, METHODS, PUBLISH,
# PAPER=1, EPOCHS, MRI_AUG_AFFINE, CHANS, ...), e.g.
#   METHODS="FT NL_FT" RETAIN_RATIO=0.1 bash experiments/mri_unlearn.sh --groups brain:my/brain,knee:my/knee
# Writes OUT/table.{md,csv,png}, OUT/pictures/NN_ROW.png (zero-filled input, output, target, |error| for one test
# slice of each group); with --publish (default for the phantoms: results/mri_unlearn) also
# PREFIX.{md,csv} with provenance. Each checkpoint is evaluated once (cached by its hash in OUT/eval_cache).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # run from any folder: relative paths stay the user's
. "$REPO/experiments/command.sh"
COMMAND="$(cd "$REPO" && command_line experiments/mri_unlearn.sh)${*:+ $*}"

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "mri_unlearn.sh: error: $1 (see --help)" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --groups) TRAIN_GROUPS=${2:?}; shift 2 ;;
        --forget) FORGET=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --methods) METHODS=${2:?}; shift 2 ;;
        --publish) PUBLISH=${2:?}; shift 2 ;;
        --paper) PAPER=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) fail "unknown argument $1; it takes --groups, --forget, --out, --methods, --publish, --paper" ;;
    esac
done

OUT=${OUT:-runs/mri_unlearn}
DATA=${DATA:-data/phantoms}
SIZE=${SIZE:-64} VOLUMES=${VOLUMES:-8} SLICES=${SLICES:-8}
PHANTOMS=""
if [ -z "${TRAIN_GROUPS:-}" ]; then  # the phantoms, written once
    PHANTOMS=1
    TRAIN_GROUPS="brain:$DATA/brain,knee:$DATA/knee"
    PUBLISH=${PUBLISH-$REPO/results/mri_unlearn}
    [ -d "$DATA/brain/train" ] || python -m datasets.mri.phantoms --out "$DATA/brain" --family brain \
        --volumes "$VOLUMES" --slices "$SLICES" --size "$SIZE" --seed 1
    [ -d "$DATA/knee/train" ] || python -m datasets.mri.phantoms --out "$DATA/knee" --family knee \
        --volumes "$VOLUMES" --slices "$SLICES" --size "$SIZE" --seed 2
fi
PUBLISH=${PUBLISH:-}
NAMES=$(echo "$TRAIN_GROUPS" | tr ',' '\n' | cut -d: -f1)
GROUP_COUNT=$(echo "$NAMES" | wc -l)
FORGET=${FORGET:-$(echo "$NAMES" | tail -n 1)}
echo "$NAMES" | grep -qx -- "$FORGET" || fail "--forget $FORGET is not one of the groups: $(echo $NAMES)"
[ "$GROUP_COUNT" -ge 2 ] || fail "--groups $TRAIN_GROUPS: name at least two groups (one to forget, one to keep)"

# Real anatomy learns from 90 epochs with MRAugment's affine augmentation (--mri_aug_affine 0.5); the phantoms, and
# --paper (no augmentation, which the paper did not use), keep the 30-epoch recipe that fits them.
# A VarNet reads multi-coil k-space, which neither augmentation turns: off by default for it.
RECIPE_EPOCHS=90 RECIPE_AFFINE=0.5 RECIPE_AUG=1
if [ -n "$PHANTOMS" ] || [ -n "${PAPER:-}" ]; then RECIPE_EPOCHS=30 RECIPE_AFFINE=0; fi
ARCH=${ARCH:-unet} CHANS=${CHANS:-32} POOLS=${POOLS:-3} EPOCHS=${EPOCHS:-$RECIPE_EPOCHS} BATCH_SIZE=${BATCH_SIZE:-4}
[ "$ARCH" = unet ] || RECIPE_AUG=0 RECIPE_AFFINE=0
LR=${LR:-0.001} LOSS=${LOSS:-l1} MRI_AUG=${MRI_AUG:-$RECIPE_AUG}  # MRI_AUG=1: slices in random orientations (--mri_aug)
MRI_AUG_AFFINE=${MRI_AUG_AFFINE:-$RECIPE_AFFINE}  # the probability of each rotation, zoom and move (--mri_aug_affine)
MASK=${MASK:-"--mask_type random --accelerations 4 --center_fractions 0.08"}
RETAIN_RATIO=${RETAIN_RATIO:-0.25}
SEED=${SEED:-1}
METHODS=${METHODS:-"FT GA GA_l1 NL GA_FT GA_l1_FT NL_FT NL_FT_with_SalUn SSD"}
NL_FLAGS="" GA_L1_FLAGS=""
if [ -n "${PAPER:-}" ]; then  # the paper's configs: SSIM + 1e-5·L1, 10 % retain, absolute noise 1e-5, doubled GA-l1, no augmentation
    LOSS=ssim_l1 RETAIN_RATIO=0.1 MRI_AUG=0 MRI_AUG_AFFINE=0
    NL_FLAGS="--noise_scale absolute --noise_lambda 1e-5" GA_L1_FLAGS="--l1_lambda 1 --ascent_weight 2"
fi
# the Oracle trains as many steps as the Original: epochs × (all groups / retained groups), groups of equal size
ORACLE_EPOCHS=${ORACLE_EPOCHS:-$(( (EPOCHS * GROUP_COUNT + GROUP_COUNT - 2) / (GROUP_COUNT - 1) ))}
MODELS="$OUT/model_weights"
COMMON="--train_groups $TRAIN_GROUPS $MASK --seed $SEED --model_dir $MODELS --runs_dir $OUT"
RESULTS="$OUT/results" PICTURES="$OUT/pictures"
rm -rf "$RESULTS" "$PICTURES"  # the table and pictures describe this run only
mkdir -p "$RESULTS" "$PICTURES"
echo "groups: $(echo $NAMES); forgetting $FORGET; output in $OUT" >&2

row=0
evaluate() {  # ROW_NAME MODEL_ID: the seed-000 row of one model -> $RESULTS/NN_ROW.json and $PICTURES/NN_ROW.png
    row=$((row + 1))
    local name
    name=$(printf %02d_%s $row "$1")
    python "$REPO/main_test_unlearn.py" $COMMON --model_id "$2" --forget_group "$FORGET" --retrain_model_id "$ORACLE" \
        --label "$1" --json "$RESULTS/$name.json" --save_fig "$PICTURES/$name.png"
}
unlearn() {  # METHOD [FLAGS...]: forget the group; print the id of the checkpoint written
    local method=$1; shift
    python "$REPO/main_unlearn.py" $COMMON --model_id "$ORIGINAL" --forget_group "$FORGET" --unlearn "$method" \
        --overwrite "$@" | last_line
}

python "$REPO/main_train.py" $COMMON --save_model_id mri_original --arch "$ARCH" --chans "$CHANS" \
    --num_pool_layers "$POOLS" --epochs "$EPOCHS" --batch_size "$BATCH_SIZE" --lr "$LR" --loss "$LOSS" --overwrite \
    --mri_aug_affine "$MRI_AUG_AFFINE" $([ "$MRI_AUG" = 1 ] && echo --mri_aug)
ORIGINAL=mri_original_best
ORACLE=$(unlearn retrain --unlearn_epochs "$ORACLE_EPOCHS")
evaluate Original "$ORIGINAL"
evaluate Oracle "$ORACLE"
python "$REPO/generate_mask.py" $COMMON --model_id "$ORIGINAL" --forget_group "$FORGET" --overwrite
for method in $METHODS; do
    case "$method" in
        FT) evaluate Full_FT "$(unlearn FT)"
            evaluate Sub_FT "$(unlearn FT --retain_ratio "$RETAIN_RATIO")" ;;
        NL_FT*) evaluate "$method" "$(unlearn "$method" --retain_ratio "$RETAIN_RATIO" $NL_FLAGS)" ;;
        NL*) evaluate "$method" "$(unlearn "$method" $NL_FLAGS)" ;;
        GA_l1_FT*) evaluate "$method" "$(unlearn "$method" --retain_ratio "$RETAIN_RATIO" $GA_L1_FLAGS)" ;;
        GA_l1*) evaluate "$method" "$(unlearn "$method" $GA_L1_FLAGS)" ;;
        *_FT|*_FT_with_SalUn) evaluate "$method" "$(unlearn "$method" --retain_ratio "$RETAIN_RATIO")" ;;
        *) evaluate "$method" "$(unlearn "$method")" ;;
    esac
done

python -m utils.report --results "$RESULTS" --out "$OUT/table" \
    --title "Forgetting $FORGET: test-set quality per group (mean ± std over volumes)" \
    --metrics psnr,ssim --command "$COMMAND" ${PUBLISH:+--publish "$PUBLISH"}
echo "pictures: $PICTURES/" >&2
