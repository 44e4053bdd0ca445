#!/usr/bin/env bash
# Offline quickstart on the real handwritten digits that ship with scikit-learn, the seed-001 workflow:
# examine the data, train, test, retrain without one class (the gold standard), build SalUn saliency
# masks, unlearn the class with RL_with_SalUn, and compare the unlearned model with the retrained one.
# Copy this file and edit the lines below for MedMNIST (e.g. DATASET=BloodMNIST ARCH=resnet18, with the
# npz in ./data or --download on the first command).
set -euo pipefail
cd "$(dirname "$0")/.."

DATASET=${DATASET:-Digits}
ARCH=${ARCH:-smallcnn}
ID=${ID:-quickstart_digits}
EPOCHS=${EPOCHS:-15}
SEED=${SEED:-1}
CLASS=${CLASS:-3}

python examine_dataset.py --dataset "$DATASET" --no_gui --save_fig "runs/$ID/samples.png" --overwrite
python main_train.py --save_model_id "$ID" --dataset "$DATASET" --arch "$ARCH" \
    --epochs "$EPOCHS" --lr 0.05 --batch_size 64 --seed "$SEED" --overwrite
python main_test.py --model_id "${ID}_best" --dataset "$DATASET" --batch_size 256 \
    --no_gui --json "runs/$ID/test.json" --save_fig "runs/$ID/test_samples.png" --overwrite

RETRAIN=$(python main_unlearn.py --model_id "${ID}_best" --dataset "$DATASET" --unlearn retrain \
    --class_to_forget "$CLASS" --seed "$SEED" --overwrite | tail -n 1)
python generate_mask.py --model_id "${ID}_best" --dataset "$DATASET" --class_to_forget "$CLASS" --overwrite
# SalUn's RL takes one pass over the forget rows, then one over the retain rows, each epoch. Digits' class 3 has
# 128 training rows: at batch 100 the forget pass is 2 steps an epoch and hardly forgets; at 16 it is 8.
SALUN=$(python main_unlearn.py --model_id "${ID}_best" --dataset "$DATASET" --unlearn RL_with_SalUn \
    --class_to_forget "$CLASS" --mask_thresh 0.5 --unlearn_epochs 5 --unlearn_lr 0.01 --unlearn_batch_size 16 \
    --seed "$SEED" --overwrite | tail -n 1)
echo "== before unlearning =="
python main_test_unlearn.py --model_id "${ID}_best" --dataset "$DATASET" --class_to_forget "$CLASS" \
    --retrain_model_id "$RETRAIN"
echo "== after RL_with_SalUn =="
python main_test_unlearn.py --model_id "$SALUN" --dataset "$DATASET" --retrain_model_id "$RETRAIN" \
    --json "runs/$ID/unlearn.json" --overwrite

python - "$ID" <<'PY'
import json, sys
test = json.load(open(f"runs/{sys.argv[1]}/test.json"))
forgot = json.load(open(f"runs/{sys.argv[1]}/unlearn.json"))
print(f"quickstart: test accuracy {test['accuracy']:.2f}% (AUC {test['auc']:.4f}); RL_with_SalUn UA {forgot['UA']:.1f} "
      f"RA {forgot['RA']:.1f} TA {forgot['TA']:.1f} MIA {forgot['MIA']:.1f}, Avg. Gap to retrain {forgot['avg_gap']:.2f}, "
      f"{forgot['unlearn_time_s']:.1f} s; figures in runs/{sys.argv[1]}/")
PY
