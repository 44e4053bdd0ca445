"""Unlearning-cost benchmark: in one process, train an original model, then time retraining and every
unlearning method on the same forget set, the SalUn mask, and evaluation: of one model in this process (logits
computed), and a whole `main_test_unlearn.py` process comparing GA's model with the retrained one, as
experiments/compare_methods.sh runs it (the retrained model's logits cached by its first evaluation, GA's computed),
with and without the time of a process that only imports torch.

Prints seconds and the RTE ratio (time / retrain time) of each, and the machine they ran on, and writes them to
--out.{md,csv} (results/bench_unlearn). Run from the repository root:

    python bench/bench_unlearn.py --dataset Digits --arch smallcnn --epochs 20 --class_to_forget 3
"""
import argparse
import copy
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import unlearn  # noqa: E402
from arg_parser import build_parser  # noqa: E402
from datasets.batching import BatchLoader  # noqa: E402
from engine.train_loop import task_loss  # noqa: E402
from engine.training import train_model  # noqa: E402
from unlearn import masks  # noqa: E402
from unlearn.evaluate import unlearning_metrics  # noqa: E402
from unlearn.workflow import Setup, load_setup, unlearn_model  # noqa: E402
from utils import checkpoints  # noqa: E402
from utils.errors import run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import format_table, markdown_table  # noqa: E402

MASK_THRESHOLD = 0.5
EVAL_BATCH_SIZE = 256  # main_test_unlearn.py's
ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable, device: torch.device):
    """fn()'s result and the seconds it took (the GPU waited for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - started


def script_flags(args: argparse.Namespace, folder: Path) -> list[str]:
    """The flags main_train.py and main_unlearn.py share, from the benchmark's."""
    return ["--dataset", args.dataset, "--data_dir", args.data_dir, "--size", str(args.size), "--arch", args.arch,
            "--seed", str(args.seed), "--device", args.device, "--model_dir", str(folder), "--runs_dir", str(folder)]


def train_original(args: argparse.Namespace, folder: Path) -> str:
    """Train the original model as main_train.py would, into `folder`; return its best checkpoint's path."""
    flags = build_parser("data", "model", "training", "system", "output").parse_args(
        [*script_flags(args, folder), "--save_model_id", "original", "--epochs", str(args.epochs), "--lr", str(args.lr),
         "--batch_size", str(args.batch_size)])
    return train_model(flags)["best"]


def unlearn_args(args: argparse.Namespace, folder: Path, model_path: str) -> argparse.Namespace:
    """The flags main_unlearn.py would get for this forget set (each method's defaults apply)."""
    return build_parser("data", "model", "unlearning", "system", "output").parse_args(
        [*script_flags(args, folder), "--model_id", model_path, "--class_to_forget", args.class_to_forget])


def saliency_mask(setup: Setup) -> dict[str, torch.Tensor]:
    """The SalUn mask at MASK_THRESHOLD, as generate_mask.py computes it."""
    forget_batches = BatchLoader(setup.data.train, unlearn.DEFAULT_BATCH_SIZE, tuple(setup.meta["mean"]),
                                 tuple(setup.meta["std"]), setup.device, indices=setup.forget.indices)
    saliency = masks.forget_gradient_magnitude(setup.model, forget_batches, task_loss(False))
    return masks.top_share_masks(saliency, [MASK_THRESHOLD])[MASK_THRESHOLD]


def time_method(name: str, setup: Setup, args: argparse.Namespace, mask: dict | None,
                save_to: Path | None = None) -> float:
    """Seconds unlearn.run reports for `name` on a fresh copy of the original model; with `save_to` the unlearned
    model is saved there as main_unlearn.py saves it."""
    method_args = argparse.Namespace(**{**vars(args), "unlearn": name})
    if save_to:
        model, meta = unlearn_model(dataclasses.replace(setup, model=copy.deepcopy(setup.model)), method_args, mask,
                                    save_to.stem)
        checkpoints.save_checkpoint(save_to, model, meta)
        info = meta["unlearn"]
    else:
        _, info = unlearn.run(copy.deepcopy(setup.model), setup.data, setup.forget, setup.meta, method_args,
                              setup.device, mask, show=False)
    print(f"{name}: {info['unlearn_time_s']:.2f} s", file=sys.stderr, flush=True)
    return info["unlearn_time_s"]


def wall_seconds(command: list[str]) -> float:
    """Wall seconds of `command` run from the repository root with this process's torch threads."""
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}, check=True,
                   capture_output=True)
    return time.perf_counter() - started


TORCH_ALONE = {"`python -c \"import torch\"`": "import torch",
               "an `import torch` process ended as the scripts end (utils.errors.leave)":
               "import torch; from utils.errors import leave; leave(0)"}


def evaluation_process_seconds(args: argparse.Namespace, folder: Path, repeat: int = 5) -> dict[str, float]:
    """Median seconds of one main_test_unlearn.py process comparing GA's model with the retrained one, as
    compare_methods.sh runs them (the retrained model's logits cached by its own evaluation, GA's computed: each run
    starts without them), and, for each of TORCH_ALONE, the median of that time less the time of that command run
    right after it (pairs, so that a slow spell of the machine cancels)."""
    flags = [*script_flags(args, folder), "--class_to_forget", args.class_to_forget]
    evaluate = [sys.executable, str(ROOT / "main_test_unlearn.py"), *flags, "--retrain_model_id", "retrained"]
    subprocess.run([*evaluate, "--model_id", "retrained"], cwd=ROOT, check=True, capture_output=True)
    cache = folder / "eval_cache"
    retrained_logits = set(cache.iterdir())
    process, beyond = [], {name: [] for name in TORCH_ALONE}
    for _ in range(repeat):
        for path in set(cache.iterdir()) - retrained_logits:
            path.unlink()
        process.append(wall_seconds([*evaluate, "--model_id", "GA"]))
        for name, code in TORCH_ALONE.items():
            beyond[name].append(process[-1] - wall_seconds([sys.executable, "-c", code]))
    return {"process": statistics.median(process), **{name: statistics.median(t) for name, t in beyond.items()}}


def machine(device: torch.device) -> str:
    """CPU cores, torch threads and the device the timings ran on."""
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    return (f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
            f"device {device}{gpu}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Digits")
    parser.add_argument("--data_dir", default="./data")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--arch", default="smallcnn")
    parser.add_argument("--epochs", type=int, default=20,
                        help="of the original model and so of retrain (20: the small-CNN recipe of issue 15)")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--class_to_forget", default="3")
    parser.add_argument("--methods", nargs="+", default=None, help="method ids (default: all registered)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(RESULTS_DIR / "bench_unlearn"), help="results prefix: writes .md and .csv")
    args = parser.parse_args(argv)
    methods = [unlearn.get_method(name).name for name in args.methods or unlearn.available()]
    methods = [name for name in methods if name != "retrain"]

    with tempfile.TemporaryDirectory() as folder:
        flags = unlearn_args(args, Path(folder), train_original(args, Path(folder)))
        setup = load_setup(flags)
        retrain_s = time_method("retrain", setup, flags, None, Path(folder) / "retrained.pt")
        mask, mask_s = timed(lambda: saliency_mask(setup), setup.device)
        rows = [["retrain", retrain_s, 1.0], [f"SalUn mask (top {MASK_THRESHOLD:.0%})", mask_s, mask_s / retrain_s]]
        for name in methods:
            seconds = time_method(name, setup, flags, mask, Path(folder) / "GA.pt" if name == "GA" else None)
            rows.append([name, seconds, seconds / retrain_s])
        evaluate = lambda: unlearning_metrics(setup.model, setup.meta, setup.data, setup.forget, setup.device,  # noqa: E731
                                              EVAL_BATCH_SIZE)
        evaluate()  # warm-up: the first call loads libsvm (the process row below pays for it)
        _, eval_s = timed(evaluate, setup.device)
        rows.append(["evaluation (UA, RA, TA, MIA) of one model, in process", eval_s, eval_s / retrain_s])
        if "GA" in methods:
            process = evaluation_process_seconds(args, Path(folder))
            rows.append(["main_test_unlearn.py process, GA (computed) vs retrained (cached)", process["process"],
                         process["process"] / retrain_s])
            rows += [[f"the same, less {name}", process[name], process[name] / retrain_s] for name in TORCH_ALONE]

    setting = (f"{setup.data.name}, {args.arch}, {args.epochs} epochs; forgetting "
               f"{unlearn.forget_sets.describe(setup.forget)}; _with_SalUn times exclude the mask")
    print(setting)
    print(format_table(["method", "seconds", "RTE ratio"], rows, floatfmt=".3f"))
    print(machine(setup.device))
    body = markdown_table(["method", "s", "RTE"], [[name, f"{s:.2f}", f"{rte:.3f}"] for name, s, rte in rows])
    publish(args.out, f"{setting}.\n\n{body}", [{"method": name, "seconds": s, "rte": rte} for name, s, rte in rows],
            script_command("bench/bench_unlearn.py", argv))


if __name__ == "__main__":
    run_cli(main)
