"""Federated MRI benchmark: seconds per FedAvg round in one process vs under torchrun (2 processes, a site each),
and the share of a torchrun round spent communicating.

Writes two phantom sites (A: brain, B: knee; FL-MRCM layout, T1) to a temporary folder and runs
`main_train.py --federated fedavg` on them twice, both with OMP_NUM_THREADS=1 (one core per process, so torchrun
may use both cores and in-process one): (1) in one process, the sites trained one after another, (2) through
`torch.distributed.run --nproc_per_node 2`. Seconds per round come from each run's log.csv (round 1 skipped as
warm-up); they include validation on the target site A by the main process, which is timed here separately.
The communication cost is the all-reduce of the U-Net's state (engine.federated.all_reduce_average, what a torchrun
round sends) timed alone, --repeats times, in a 2-process gloo group (NCCL with --device cuda, a GPU per
process). Writes the table to --out.{md,csv} (results/bench_federated). Run from the repository root:

    python bench/bench_federated.py --volumes 4 --slices 8 --size 64 --rounds 8
"""
import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arg_parser import build_parser  # noqa: E402
from datasets.mri.data import load_recon  # noqa: E402
from datasets.mri.phantoms import generate  # noqa: E402
from engine.federated import all_reduce_average, clone_state  # noqa: E402
from engine.recon import model_kwargs  # noqa: E402
from engine.recon_loop import evaluate_recon  # noqa: E402
from engine.recon_training import build_model  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import format_table, markdown_table  # noqa: E402

SITES = {"A": "brain", "B": "knee"}


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_flags(folder: Path, run_id: str, args: argparse.Namespace) -> list[str]:
    """main_train.py flags of the benchmarked federation (the same for both configurations)."""
    return ["--federated", "fedavg", "--sites", ",".join(f"{s}:{folder / s}" for s in SITES), "--sequence", "T1",
            "--train_dataset", "".join(SITES), "--test_dataset", "A", "--epochs", str(args.rounds),
            "--chans", str(args.chans), "--num_pool_layers", str(args.num_pool_layers), "--local_ep", "1",
            "--batch_size", str(args.batch_size), "--device", args.device, "--save_model_id", run_id,
            "--model_dir", str(folder / "model_weights"), "--runs_dir", str(folder / "runs")]


def round_seconds(launcher: list[str], folder: Path, run_id: str, args: argparse.Namespace) -> list[float]:
    """Train the federation with `launcher`; the seconds of every round after the first, from its log.csv."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([*launcher, str(ROOT / "main_train.py"), *train_flags(folder, run_id, args)], cwd=ROOT,
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise UserError(f"{' '.join(launcher)} main_train.py failed:\n{run.stderr[-3000:]}")
    with open(folder / "runs" / run_id / "log.csv", newline="") as f:
        return [float(row["seconds"]) for row in csv.DictReader(f)][1:]


def validation_seconds(folder: Path, args: argparse.Namespace) -> float:
    """Median seconds of the per-round validation on site A's val split (one thread, as in the runs)."""
    parsed = build_parser("data", "model", "training", "system", "output").parse_args(
        train_flags(folder, "val", args))
    data = load_recon(parsed)
    device = torch.device(args.device)
    model = build_model({"arch": "unet", "model_kwargs": model_kwargs("unet", parsed)}).to(device)
    times = []
    for _ in range(4):
        start = time.perf_counter()
        evaluate_recon(model, data, "val", "image", device, batch_size=parsed.batch_size, groups=["A"],
                       examples_per_group=0)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def allreduce_worker(rank: int, port: int, kwargs: dict, repeats: int, device: str, queue) -> None:
    """One of 2 processes (gloo on CPU, NCCL on a GPU each): time `repeats` all-reduces of the U-Net's state with
    FedAvg weight 1/2."""
    torch.set_num_threads(1)
    cuda = device == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
    torch_dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                  world_size=2)
    model = build_model({"arch": "unet", "model_kwargs": kwargs}).to(f"cuda:{rank}" if cuda else "cpu")
    state = clone_state(model)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        torch_dist.barrier()
        start = time.perf_counter()
        all_reduce_average(state, 0.5)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if rank == 0:
        queue.put(times[1:])
    torch_dist.barrier()
    torch_dist.destroy_process_group()


def allreduce_seconds(kwargs: dict, repeats: int, device: str) -> float:
    """Median seconds of one all-reduce of the model state between 2 processes."""
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(allreduce_worker, args=(free_port(), kwargs, repeats, device, queue), nprocs=2, join=True)
    return statistics.median(queue.get())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volumes", type=int, default=4, help="training volumes per site")
    parser.add_argument("--slices", type=int, default=8, help="slices per volume")
    parser.add_argument("--size", type=int, default=64, help="phantom image size (pixels)")
    parser.add_argument("--rounds", type=int, default=8, help="federated rounds per run (the first is not timed)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--chans", type=int, default=16, help="U-Net channels of the first level")
    parser.add_argument("--num_pool_layers", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=50, help="timed all-reduces")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cuda: a GPU per process and NCCL (needs 2 GPUs); cpu: one core per process and gloo")
    parser.add_argument("--out", default=str(RESULTS_DIR / "bench_federated"), help="results prefix: writes .md and .csv")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        raise UserError("--rounds must be 2 or more: the first round is a warm-up")
    if args.device == "cuda" and torch.cuda.device_count() < 2:
        raise UserError(f"--device cuda runs a process per GPU and needs 2 GPUs; this machine has "
                        f"{torch.cuda.device_count()}: use --device cpu")
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPU cores (load average {load:.1f} before the run), "
          f"torch {torch.__version__}; every process runs with 1 thread (OMP_NUM_THREADS=1), so in-process "
          f"training uses one core and torchrun one core per site")
    if load > 1.5:
        print(f"warning: load average {load:.1f} on {os.cpu_count()} cores: other work shares them, "
              f"timings are unreliable")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for site, family in SITES.items():
            generate(folder / site, family, args.volumes, args.slices, args.size, sequence="T1", val_volumes=1,
                     test_volumes=1)
        kwargs = {"in_channels": 1, "chans": args.chans, "num_pool_layers": args.num_pool_layers}
        state = clone_state(build_model({"arch": "unet", "model_kwargs": kwargs}))
        floats = [v for v in state.values() if v.is_floating_point()]
        numel, mb = sum(v.numel() for v in floats), sum(v.numel() * v.element_size() for v in floats) / 2**20
        print(f"2 sites (A brain, B knee; T1), {args.volumes} train volumes × {args.slices} slices of "
              f"{args.size}x{args.size} each, batch {args.batch_size}; U-Net chans {args.chans}, "
              f"{args.num_pool_layers} pools, {numel:,} floats in {len(floats)} tensors ({mb:.2f} MB); "
              f"{args.rounds} rounds × 1 local epoch, round 1 not timed")
        local = round_seconds([sys.executable], folder, "inprocess", args)
        dist = round_seconds([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "--master_port", str(free_port())], folder, "torchrun", args)
        val = validation_seconds(folder, args)
    comm = allreduce_seconds(kwargs, args.repeats, args.device)
    backend = "NCCL" if args.device == "cuda" else "gloo"

    t_local, t_dist = statistics.median(local), statistics.median(dist)
    rows = [["in-process, 1 process (sites one after another)", t_local, t_local - val, 1.0, 1.0],
            ["torchrun, 2 processes (a site each)", t_dist, t_dist - val, t_local / t_dist,
             (t_local - val) / (t_dist - val)]]
    print(format_table(["configuration", "s/round", "s/round less validation", "speed-up", "speed-up less validation"],
                       rows, floatfmt=".3f"))
    print(f"s/round is the median of rounds 2-{args.rounds}: in-process "
          f"{', '.join(f'{s:.2f}' for s in local)}; torchrun {', '.join(f'{s:.2f}' for s in dist)}")
    print(f"validation on site A's val split (main process, inside every round of both runs): {val:.3f} s "
          f"(median of 3, timed alone)")
    print(f"all-reduce of {numel:,} floats ({mb:.2f} MB, {len(floats)} tensors, one all_reduce each, {backend}, "
          f"2 processes) "
          f"takes {1000 * comm:.2f} ms (median of {args.repeats}) = {100 * comm / t_dist:.2f} % of a torchrun round "
          f"({100 * comm / (t_dist - val):.2f} % of it less validation); waiting for the slower site is not included")
    setting = (f"2 phantom sites, {args.volumes} train volumes × {args.slices} slices of {args.size}² each, batch "
               f"{args.batch_size}; U-Net chans {args.chans}, {args.num_pool_layers} pools ({mb:.2f} MB of weights); "
               f"median of rounds 2-{args.rounds}; every process on one thread.")
    body = markdown_table(["configuration", "s / round", "s / round less validation", "speed-up",
                           "speed-up less validation"], [[name, *(f"{v:.3f}" for v in values[:2]),
                                                          *(f"{v:.2f}" for v in values[2:])] for name, *values in rows])
    after = (f"The all-reduce of the weights ({len(floats)} tensors, {backend}, 2 processes) takes "
             f"{1000 * comm:.1f} ms, "
             f"{100 * comm / t_dist:.1f} % of a torchrun round; waiting for the slower site is not included.")
    publish(args.out, f"{setting}\n\n{body}\n\n{after}",
            [{"configuration": name, "s_per_round": values[0], "s_per_round_less_validation": values[1],
              "speed_up": values[2], "speed_up_less_validation": values[3]} for name, *values in rows]
            + [{"configuration": "all-reduce of the weights alone", "s_per_round": comm}],
            script_command("bench/bench_federated.py", argv))


if __name__ == "__main__":
    run_cli(main)
