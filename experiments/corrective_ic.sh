#!/usr/bin/env bash
# Corrective unlearning of an interclass label swap (seed 003): half of FORGET_SET_SIZE samples of class A are
# labelled B and half of class B labelled A; each method then unlearns knowing SHARES % of them, for each seed.
# Offline on Digits (classes 3 and 5) by default; every variable of corrective_poisoning.sh applies (DATASET, ARCH,
# EPOCHS, METHODS, SHARES, SEEDS, RESUME, ...). Writes $OUT/grid.{csv,png} and results/corrective_interclasslabelswap_digits.
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/command.sh
export COMMAND
COMMAND=$(command_line experiments/corrective_ic.sh experiments/corrective_poisoning.sh)

CLASSES=${CLASSES:-3,5}
export FORGET_SET_SIZE=${FORGET_SET_SIZE:-120}
export MANIPULATION="--dataset_method interclasslabelswap --confused_classes $CLASSES"
exec bash experiments/corrective_poisoning.sh
