#!/usr/bin/env bash
# Corrective unlearning of an interclass label swap (seed 003): half of FORGET_SET_SIZE samples of class A are
# labelled B and half of class B labelled A; each method then unlearns knowing 10 % ... 100 % of them.
# Offline on Digits (classes 3 and 5) by default; for MedMNIST set DATASET/ARCH/EPOCHS/CLASSES as in
# corrective_poisoning.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

CLASSES=${CLASSES:-3,5}
export FORGET_SET_SIZE=${FORGET_SET_SIZE:-120}
export MANIPULATION="--dataset_method interclasslabelswap --confused_classes $CLASSES"
exec bash experiments/corrective_poisoning.sh
