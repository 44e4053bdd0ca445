#!/usr/bin/env bash
# Training recipes for the MRI protocol's Original: train one on every group per recipe and tabulate each one's test
# PSNR / SSIM per group beside the zero-filled input's, to show which knob moves the reconstruction.
#
#   bash experiments/mri_recipes.sh --groups brain:DIR,body:DIR [--out DIR] [--publish results/NAME]
#
# The first recipe is the 30-epoch one mri_unlearn.sh trains on the phantoms (U-Net chans 32, 3 pools, 30 epochs,
# batch 4, Adam 1e-3 with a cosine schedule, L1, --mri_aug, random 4x masks; on real anatomy it trains 90 epochs
# and adds --mri_aug_affine 0.5); every other one changes it as its flags say. RECIPES (one
# "name|flags" per line) replaces the list, e.g.
#   RECIPES=$'default|\nwider|--chans 48' bash experiments/mri_recipes.sh --groups ...
# Writes OUT/results/NN_NAME.json (evaluation records) and OUT/table.{md,csv,png}; with --publish also PREFIX.{md,csv}.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
. "$REPO/experiments/command.sh"
COMMAND="$(cd "$REPO" && command_line experiments/mri_recipes.sh)${*:+ $*}"

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "mri_recipes.sh: error: $1 (see --help)" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --groups) TRAIN_GROUPS=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --publish) PUBLISH=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) fail "unknown argument $1; it takes --groups, --out, --publish" ;;
    esac
done
[ -n "${TRAIN_GROUPS:-}" ] || fail "name the groups: --groups NAME:DIR,NAME:DIR"
OUT=${OUT:-runs/mri_recipes}
PUBLISH=${PUBLISH:-}
SEED=${SEED:-1}
RECIPES=${RECIPES:-"default|
40 epochs|--epochs 40
chans 16, 100 epochs|--chans 16 --epochs 100
4 pooling layers|--num_pool_layers 4
no --mri_aug|--no_mri_aug"}

BASE="--arch unet --chans 32 --num_pool_layers 3 --epochs 30 --batch_size 4 --lr 0.001 --loss l1"
COMMON="--train_groups $TRAIN_GROUPS --mask_type random --accelerations 4 --center_fractions 0.08 --seed $SEED
        --model_dir $OUT/model_weights --runs_dir $OUT"
RESULTS="$OUT/results"
rm -rf "$RESULTS"  # the table describes this run only
mkdir -p "$RESULTS"
row=0
while IFS='|' read -r name flags; do
    [ -n "$name" ] || continue
    row=$((row + 1))
    id=$(printf 'recipe%02d' "$row")
    aug=--mri_aug
    case " $flags " in *" --no_mri_aug "*) aug="" flags=${flags//--no_mri_aug/} ;; esac
    echo "recipe $row: $name ($BASE $aug $flags)" >&2
    # shellcheck disable=SC2086  # BASE, COMMON and flags hold several flags each (later ones win)
    python "$REPO/main_train.py" $COMMON $BASE $aug $flags --save_model_id "$id" --overwrite
    # shellcheck disable=SC2086
    python "$REPO/main_test.py" $COMMON --model_id "${id}_best" --no_gui --label "$name" \
        --json "$RESULTS/$(printf %02d "$row")_$id.json"
done <<< "$RECIPES"

python -m utils.report --results "$RESULTS" --out "$OUT/table" --metrics psnr,ssim \
    --title "The Original's test quality per group, one recipe a row" --command "$COMMAND" \
    ${PUBLISH:+--publish "$PUBLISH"}
