#!/usr/bin/env bash
# Offline quickstart on the real handwritten digits that ship with scikit-learn:
# examine the data, train a small CNN, test it. Copy this file and edit the lines below for MedMNIST
# (e.g. DATASET=BloodMNIST ARCH=resnet18, with the npz in ./data or --download).
set -euo pipefail
cd "$(dirname "$0")/.."

DATASET=${DATASET:-Digits}
ARCH=${ARCH:-smallcnn}
ID=${ID:-quickstart_digits}
EPOCHS=${EPOCHS:-15}
SEED=${SEED:-1}

python examine_dataset.py --dataset "$DATASET" --no_gui --save_fig "runs/$ID/samples.png"
python main_train.py --save_model_id "$ID" --dataset "$DATASET" --arch "$ARCH" \
    --epochs "$EPOCHS" --lr 0.05 --batch_size 64 --seed "$SEED" --overwrite
python main_test.py --model_id "${ID}_best" --dataset "$DATASET" --batch_size 256 \
    --no_gui --json "runs/$ID/test.json" --save_fig "runs/$ID/test_samples.png"
python - "$ID" <<'PY'
import json, sys
result = json.load(open(f"runs/{sys.argv[1]}/test.json"))
print(f"quickstart: test accuracy {result['accuracy']:.2f}% (AUC {result['auc']:.4f}); figures in runs/{sys.argv[1]}/")
PY
