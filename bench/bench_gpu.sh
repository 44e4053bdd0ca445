#!/usr/bin/env bash
# GPU benchmark, about 8 minutes on one CUDA machine; writes results/gpu_*.{md,csv} (PREFIX=results/gpu):
#   1. ResNet-18 training images/s at 32 px: the SalUn loop against ours in fp32, channels-last, torch.compile and
#      bf16 AMP (bench/bench_train_step.py)                                              -> PREFIX_train_step
#   2. MRI slices/s: the slice loader with 0 and 4 DataLoader workers and U-Net steps (bench/bench_recon.py)
#                                                                                        -> PREFIX_recon
#   3. the NCCL all-reduce share of a torchrun federated round, a GPU per process (bench/bench_federated.py; needs
#      2 GPUs, otherwise the file says so)                                               -> PREFIX_federated
#   4. the whole quickstart (experiments/quickstart.sh) on the GPU, timed                -> PREFIX_quickstart
#
#   bash bench/bench_gpu.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
PREFIX=${PREFIX:-results/gpu}
GPUS=$(python -c "import torch; print(torch.cuda.device_count())")
[ "$GPUS" -ge 1 ] || { echo "bench_gpu.sh: error: no CUDA device here; run it on a GPU machine" >&2; exit 2; }
note() {  # PREFIX_NAME COMMAND TEXT: a results file that only says why a part did not run
    python -c "import sys; from utils.results import publish; publish(sys.argv[1], sys.argv[3], [{'note': sys.argv[3]}], sys.argv[2])" "$@"
}

timeout 240 python bench/bench_train_step.py --device cuda --arch resnet18 --dataset Digits --size 32 \
    --batch_size 128 --steps 8 --repeat 3 --threads 4 --out "${PREFIX}_train_step"
timeout 90 python bench/bench_recon.py --device cuda --size 128 --volumes 8 --slices 16 --workers 0 4 \
    --out "${PREFIX}_recon"
if [ "$GPUS" -ge 2 ]; then
    timeout 90 python bench/bench_federated.py --device cuda --rounds 4 --out "${PREFIX}_federated"
else
    note "${PREFIX}_federated" "bash bench/bench_gpu.sh" \
        "Not measured: the NCCL all-reduce runs a process per GPU and this machine has $GPUS GPU."
fi
started=$(date +%s.%N)
timeout 180 bash experiments/quickstart.sh > /tmp/bench_gpu_quickstart.log 2>&1
seconds=$(python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)")
note "${PREFIX}_quickstart" "bash experiments/quickstart.sh" \
    "The whole quickstart (train, mask, unlearn, evaluate) took $seconds s on the GPU."
