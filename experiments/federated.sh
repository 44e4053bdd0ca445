#!/usr/bin/env bash
# Seed 004 on generated phantoms: four sites whose images differ (anatomy family, contrast, noise, resolution).
#  1. single-site models vs FL-MR vs FL-MRCM, all tested on the target site H;
#  2. site I leaves the FL-MR federation: fl_retrain (the gold standard), federaser, fl_ft and pga, every site's
#     PSNR / SSIM / NMSE against fl_retrain's;
#  3. FL-MR of two sites once in one process and once through torchrun (a site a process): the weights must agree.
# Writes runs/federated/{target,unlearn}/table.{md,csv,png} and, for the README, $PUBLISH_{target,unlearn}.{md,csv}
# (results/federated_target, results/federated_unlearn). Variables can be set from the environment, e.g.
#   ROUNDS=10 METHODS="federaser fl_ft" bash experiments/federated.sh
# Real sites: SITE_B=... SITE_F=... SITE_H=... SITE_I=... folders in the FL-MRCM layout (T1/ T2/ of train/ val/ test/).
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/command.sh
COMMAND=$(command_line experiments/federated.sh)

OUT=${OUT:-runs/federated}
PUBLISH=${PUBLISH:-results/federated}
DATA=${DATA:-data/federated}
SEQUENCE=${SEQUENCE:-T1}
VOLUMES=${VOLUMES:-4} SLICES=${SLICES:-8}
ROUNDS=${ROUNDS:-20} LR=${LR:-1e-3} LOCAL_BS=${LOCAL_BS:-8} CHANS=${CHANS:-16} POOLS=${POOLS:-3}
TARGET=${TARGET:-H} LEAVING=${LEAVING:-I}
METHODS=${METHODS:-"federaser fl_ft pga"}
SEED=${SEED:-1}
SITE_B=${SITE_B:-$DATA/B} SITE_F=${SITE_F:-$DATA/F} SITE_H=${SITE_H:-$DATA/H} SITE_I=${SITE_I:-$DATA/I}
MODELS="$OUT/model_weights"
COMMON="--sequence $SEQUENCE --seed $SEED --model_dir $MODELS --runs_dir $OUT"
SITES="--sites B:$SITE_B,F:$SITE_F,H:$SITE_H,I:$SITE_I $COMMON"
NET="--arch unet --chans $CHANS --num_pool_layers $POOLS --lr $LR"

if [ ! -d "$SITE_B/$SEQUENCE" ]; then  # B brain; F knee; H brain, brighter contrast and noisier; I knee at 80 px
    python -m datasets.mri.phantoms --out "$SITE_B" --family brain --volumes "$VOLUMES" --test_volumes 2 --slices "$SLICES" --size 64 --seed 1 --sequence "$SEQUENCE"
    python -m datasets.mri.phantoms --out "$SITE_F" --family knee --volumes "$VOLUMES" --test_volumes 2 --slices "$SLICES" --size 64 --seed 2 --sequence "$SEQUENCE"
    python -m datasets.mri.phantoms --out "$SITE_H" --family brain --volumes "$VOLUMES" --test_volumes 2 --slices "$SLICES" --size 64 --seed 3 --sequence "$SEQUENCE" --contrast 1.6 --noise 0.03
    python -m datasets.mri.phantoms --out "$SITE_I" --family knee --volumes "$VOLUMES" --test_volumes 2 --slices "$SLICES" --size 80 --seed 4 --sequence "$SEQUENCE" --contrast 0.7
fi
rm -rf "$OUT/target_results" "$OUT/unlearn_results"  # the tables describe this run only
mkdir -p "$OUT/target_results" "$OUT/unlearn_results"

# 1. single-site models, FL-MR and FL-MRCM on the target site
row=0
on_target() {  # ROW_NAME MODEL_ID
    row=$((row + 1))
    python main_test.py --train_groups "$TARGET:$(eval echo \$SITE_$TARGET)" $COMMON --model_id "$2" --no_gui \
        --label "$1" --json "$OUT/target_results/$(printf %02d $row)_$1.json"
}
for site in B F H I; do
    python main_train.py --train_groups "$site:$(eval echo \$SITE_$site)" $COMMON $NET --optimizer rmsprop \
        --batch_size "$LOCAL_BS" --epochs "$ROUNDS" --save_model_id "fl_single_$site" --overwrite
    on_target "only_$site" "fl_single_${site}_best"
done
python main_train.py --federated fedavg $SITES $NET --train_dataset BFHI --test_dataset "$TARGET" --num_users 4 \
    --local_ep 1 --local_bs "$LOCAL_BS" --epochs "$ROUNDS" --unlearn_interval "${INTERVAL:-1}" --save_model_id fl_mr --overwrite
on_target FL-MR fl_mr_last
python main_train.py --federated mrcm $SITES $NET --train_dataset BFHI --test_dataset "$TARGET" --num_users 4 \
    --local_ep 1 --local_bs "$LOCAL_BS" --epochs "$ROUNDS" --save_model_id fl_mrcm --overwrite
on_target FL-MRCM fl_mrcm_last
python -m utils.report --results "$OUT/target_results" --out "$OUT/target/table" \
    --title "Target site $TARGET: single-site models vs FL-MR vs FL-MRCM" \
    --publish "${PUBLISH}_target" --command "$COMMAND"

# 2. site I leaves the FL-MR federation
unlearn() {  # METHOD: print the id of the checkpoint written
    python main_unlearn.py $SITES --model_id fl_mr_last --forget_site "$LEAVING" --unlearn "$1" --overwrite \
        | last_line
}
evaluate() {  # NN_ROW MODEL_ID
    python main_test_unlearn.py $SITES --model_id "$2" --forget_site "$LEAVING" --retrain_model_id "$RETRAIN" \
        --label "${1#*_}" --json "$OUT/unlearn_results/$1.json"
}
RETRAIN=$(unlearn fl_retrain)
evaluate 01_original fl_mr_last
evaluate 02_fl_retrain "$RETRAIN"
n=2
for method in $METHODS; do
    n=$((n + 1))
    evaluate "$(printf %02d $n)_$method" "$(unlearn "$method")"
done
python -m utils.report --results "$OUT/unlearn_results" --out "$OUT/unlearn/table" \
    --title "Site $LEAVING leaves the FL-MR federation: every site's test quality" \
    --publish "${PUBLISH}_unlearn" --metrics psnr --command "$COMMAND"

# 3. one process per site through torchrun against the same federation in one process
TWO="--sites B:$SITE_B,F:$SITE_F $COMMON $NET --federated fedavg --train_dataset BF --epochs 3 --local_bs $LOCAL_BS --overwrite"
OMP_NUM_THREADS=1 python main_train.py $TWO --save_model_id fl_two_inprocess
OMP_NUM_THREADS=1 python -m torch.distributed.run --nproc_per_node 2 --master_port "${PORT:-29541}" main_train.py $TWO \
    --save_model_id fl_two_torchrun
python - "$MODELS" <<'EOF'
import sys
import torch
a, b = (torch.load(f"{sys.argv[1]}/fl_two_{k}_last.pt", weights_only=True)["state_dict"] for k in ("inprocess", "torchrun"))
print(f"torchrun (2 processes) vs one process: largest weight difference {max((a[k] - b[k]).abs().max().item() for k in a):.2e}")
EOF
