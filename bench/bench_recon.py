"""MRI reconstruction data-path benchmark: slices/s of the slice loader alone and of U-Net training fed by it.

Writes phantom volumes to a temporary folder, then times (1) a DataLoader over the train slices without a model
(random masks, U-Net image samples): lazy h5 reads with 0 and --workers workers, and the in-memory cache; and
(2) U-Net training steps (L1 on the normalised image, Adam) on batches pre-loaded once (pure compute) and on the
real loaders. The loading share of a step is (time per slice with the loader − time per slice on pre-loaded
batches) / time per slice with the loader, at least 0; the pre-loaded reference is timed before and after the
loader runs and the faster counts. Writes the table to --out.{md,csv} (results/bench_recon). Run from the
repository root:

    python bench/bench_recon.py --size 128 --volumes 8 --slices 16 --workers 0 2
"""
import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.mri.data import ReconData, SliceDataset, make_loader  # noqa: E402
from datasets.mri.phantoms import generate  # noqa: E402
from datasets.mri.subsample import MaskFunc  # noqa: E402
from engine.recon_training import build_model, plain_loss  # noqa: E402
from engine.train_loop import to_device, train_epoch  # noqa: E402
from utils.device import resolve_device  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import format_table, markdown_table  # noqa: E402

WARMUP_STEPS = 2
TARGET_SHARE = 0.10  # the bound on the loading share of a step with workers


def sync(device: torch.device) -> None:
    """Wait for the GPU before a timer is read."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stream(dataset: SliceDataset, batch_size: int, workers: int, device: torch.device) -> Iterator[dict]:
    """Shuffled batches epoch after epoch, from a fresh DataLoader per epoch as training makes them."""
    for epoch in itertools.count():
        yield from make_loader(dataset, batch_size, shuffle=True, epoch=epoch, num_workers=workers, device=device)


class Take:
    """The next `n` batches of an endless stream as a sized iterable for train_recon_epoch; counts the slices."""

    def __init__(self, batches: Iterator[dict], n: int) -> None:
        self.batches, self.n, self.slices = batches, n, 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[dict]:
        for batch in itertools.islice(self.batches, self.n):
            self.slices += len(batch.target)
            yield batch


def load_rate(dataset: SliceDataset, batch_size: int, workers: int, device: torch.device,
              epochs: int) -> tuple[float, float]:
    """Slices/s and seconds per batch over `epochs` passes of the loader, each batch moved to the device."""
    slices = batches = 0
    sync(device)
    start = time.perf_counter()
    for epoch in range(epochs):
        for batch in make_loader(dataset, batch_size, shuffle=True, epoch=epoch, num_workers=workers, device=device):
            to_device(batch, device)
            slices, batches = slices + len(batch.target), batches + 1
    sync(device)
    seconds = time.perf_counter() - start
    return slices / seconds, seconds / batches


def train_rate(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable[dict], steps: int,
               device: torch.device) -> tuple[float, float]:
    """Slices/s and seconds per step of `steps` U-Net training steps, after WARMUP_STEPS untimed ones."""
    batches, loss = iter(batches), plain_loss("l1", "image")
    train_epoch(model, Take(batches, WARMUP_STEPS), optimizer, loss, device=device, show=False)
    timed = Take(batches, steps)
    sync(device)
    start = time.perf_counter()
    train_epoch(model, timed, optimizer, loss, device=device, show=False)
    sync(device)
    seconds = time.perf_counter() - start
    if hasattr(batches, "close"):
        batches.close()  # let the DataLoader's workers go
    return timed.slices / seconds, seconds / steps


def machine(device: torch.device) -> str:
    """CPU cores and load, torch version and threads, and the device the timings ran on."""
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    return (f"machine: {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f} before the run), "
            f"torch {torch.__version__} with {torch.get_num_threads()} threads, device {device}{gpu}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="phantom image size (pixels)")
    parser.add_argument("--volumes", type=int, default=8, help="training volumes")
    parser.add_argument("--slices", type=int, default=16, help="slices per volume")
    parser.add_argument("--coils", type=int, default=1, help="1: single-coil; more: multi-coil (RSS input)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--chans", type=int, default=16, help="U-Net channels of the first level")
    parser.add_argument("--num_pool_layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per configuration")
    parser.add_argument("--load_epochs", type=int, default=2, help="passes over the train slices per loading run")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers to compare")
    parser.add_argument("--cache_mb", type=float, default=1024, help="in-memory cache limit of the cached runs")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", default=str(RESULTS_DIR / "bench_recon"), help="results prefix: writes .md and .csv")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    workers = sorted(set(args.workers) | {0})
    print(machine(device))

    with tempfile.TemporaryDirectory() as folder:
        generate(folder, "brain", args.volumes, args.slices, args.size, coils=args.coils, val_volumes=1, test_volumes=1)
        data = ReconData({"phantom": Path(folder)}, MaskFunc("random", (0.08,), (4.0,)))
        volumes = data.volumes("train")
        lazy = SliceDataset(volumes, "image", data.mask_func, None, train=True, seed=0, cache_mb=0)
        cached = SliceDataset(volumes, "image", data.mask_func, None, train=True, seed=0, cache_mb=args.cache_mb)
        if cached.memory is None:
            raise UserError(f"the train split does not fit --cache_mb {args.cache_mb:g}; raise it")
        cache_mb = sum(k.nbytes + t.nbytes for k, t in cached.memory.values()) / 2**20
        torch.manual_seed(0)
        model = build_model({"arch": "unet", "model_kwargs": {"in_channels": 1, "chans": args.chans,
                                                              "num_pool_layers": args.num_pool_layers}}).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        print(f"{len(lazy)} train slices of {args.size}x{args.size} from {len(volumes)} {data.challenge} volumes "
              f"({cache_mb:.1f} MB in memory), 4x random mask, batch {args.batch_size}; U-Net chans {args.chans}, "
              f"{args.num_pool_layers} pools, {sum(p.numel() for p in model.parameters()):,} parameters; "
              f"{args.steps} timed steps after {WARMUP_STEPS} warm-up")

        rows = []
        load_rate(lazy, args.batch_size, 0, device, 1)  # warm-up: h5 opens, FFT plans
        for name, dataset, counts in (("lazy h5", lazy, workers), ("in-memory", cached, [0])):
            for n in counts:
                rate, per_batch = load_rate(dataset, args.batch_size, n, device, args.load_epochs)
                rows.append([f"loading only, {name}, {n} workers", rate, 1000 * per_batch, float("nan")])

        preloaded = [to_device(b, device) for b in make_loader(cached, args.batch_size, shuffle=True, device=device)]
        first = train_rate(model, optimizer, itertools.cycle(preloaded), args.steps, device)
        runs = {(name, n): train_rate(model, optimizer, stream(dataset, args.batch_size, n, device), args.steps, device)
                for name, dataset in (("lazy h5", lazy), ("in-memory", cached)) for n in workers}
        again = train_rate(model, optimizer, itertools.cycle(preloaded), args.steps, device)
        ref_rate, ref_step = max(first, again)  # timed before and after the loader runs; the faster counts
        rows.append(["training, pre-loaded batches (compute only)", ref_rate, 1000 * ref_step, 0.0])
        shares = {key: max(0.0, 1 - rate / ref_rate) for key, (rate, _) in runs.items()}
        for (name, n), (rate, per_step) in runs.items():
            rows.append([f"training, {name}, {n} workers", rate, 1000 * per_step, 100 * shares[name, n]])

    print(format_table(["configuration", "slices/s", "ms/batch", "loading share %"], rows, floatfmt=".1f"))
    most = max(workers)
    verdict = "ok" if max(shares["lazy h5", most], shares["in-memory", most]) <= TARGET_SHARE else "OVER TARGET"
    print(f"loading share of a training step with {most} workers: lazy h5 {100 * shares['lazy h5', most]:.1f} %, "
          f"in-memory {100 * shares['in-memory', most]:.1f} % (target ≤ {100 * TARGET_SHARE:.0f} %): {verdict}")
    setting = (f"{len(lazy)} train slices of {args.size}², 4× random mask, batch {args.batch_size}, U-Net chans "
               f"{args.chans}, {args.num_pool_layers} pools, {args.steps} timed steps; device {device}.")
    body = markdown_table(["configuration", "slices/s", "ms per batch", "loading share of a step"],
                          [[name, f"{rate:,.1f}", f"{ms:.1f}", "-" if share != share else f"{share:.1f} %"]
                           for name, rate, ms, share in rows])
    plain = [{"configuration": name, "slices_per_s": rate, "ms_per_batch": ms,
              "loading_share_pct": None if share != share else share} for name, rate, ms, share in rows]
    publish(args.out, f"{setting}\n\n{body}", plain,
            script_command("bench/bench_recon.py", argv))


if __name__ == "__main__":
    run_cli(main)
