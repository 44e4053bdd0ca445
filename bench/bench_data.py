"""Data-path benchmark: in-memory batch loader vs a per-sample PIL Dataset + DataLoader on the same data.

Prints images per second of both (same augmentations), their ratio, and the share of one training
epoch spent in data handling with each, and writes them to --out.{md,csv} (results/bench_data_{dataset}). Run from
the repository root:

    python bench/bench_data.py --arch smallcnn --repeat 8
    python bench/bench_data.py --dataset BloodMNIST --random_pixels --arch resnet18 --repeat 1 --epoch_images 1024
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datasets  # noqa: E402
import models  # noqa: E402
from datasets.base import Split  # noqa: E402
from datasets.batching import BatchLoader  # noqa: E402
from datasets.medmnist_npz import medmnist_info, npz_filename  # noqa: E402
from engine.train_loop import supervised, task_loss, train_epoch  # noqa: E402
from utils.device import resolve_device  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import markdown_table  # noqa: E402


class PILDataset(Dataset):
    """The usual per-sample path: uint8 array -> PIL image -> torchvision transforms, one image at a time."""

    def __init__(self, split: Split, transform) -> None:
        self.images = split.images.permute(0, 2, 3, 1).numpy()
        self.labels = split.labels.numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = self.images[i]
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return self.transform(pil), self.labels[i]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def drain(batches, device: torch.device) -> float:
    """Seconds to produce every batch of one epoch on `device`."""
    sync(device)
    start = time.perf_counter()
    for x, y in batches:
        x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    sync(device)
    return time.perf_counter() - start


def train_seconds(model, batches, device: torch.device, multilabel: bool) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sync(device)
    start = time.perf_counter()
    train_epoch(model, batches, optimizer, supervised(task_loss(multilabel)), multilabel=multilabel, show=False)
    sync(device)
    return time.perf_counter() - start


class OnDevice:
    """A DataLoader whose batches are moved to the device, as a training loop would."""

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def random_npz(flag: str, size: int, folder: Path) -> Path:
    """A MedMNIST flag's npz with the real split sizes, channels and classes but uniform random pixels and labels."""
    try:
        info = medmnist_info(flag)
    except KeyError:
        raise UserError(f"--random_pixels needs a MedMNIST flag as --dataset, not {flag}")
    rng = np.random.default_rng(0)
    shape = (size, size, 3) if info["n_channels"] == 3 else (size, size)
    arrays = {}
    for split, count in info["n_samples"].items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, len(info["label"]), (count, 1), dtype=np.uint8)
    path = folder / npz_filename(flag, size)
    np.savez(path, **arrays)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Digits")
    parser.add_argument("--data_dir", default="./data")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--num_workers", type=int, default=0, help="workers of the per-sample DataLoader")
    parser.add_argument("--repeat", type=int, default=8, help="tile the train split this many times")
    parser.add_argument("--epoch_images", type=int, default=2048,
                        help="images in the training epoch that measures the data share (the share does not depend on it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--random_pixels", action="store_true",
                        help="a MedMNIST --dataset in its real layout and sizes, filled with random pixels (no download)")
    parser.add_argument("--out", help="results prefix (default results/bench_data_{dataset}): writes .md and .csv")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_pixels:
            random_npz(args.dataset, args.size, Path(tmp))
        data = datasets.load_dataset(args.dataset, tmp if args.random_pixels else args.data_dir, args.size)
    split = Split(data.train.images.repeat(args.repeat, 1, 1, 1),
                  data.train.labels.repeat(args.repeat, *([1] * (data.train.labels.ndim - 1))))
    pad = max(1, data.size // 8)
    steps = [transforms.RandomCrop(data.size, padding=pad)]
    if data.hflip:
        steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize(data.mean, data.std)]
    pil_loader = DataLoader(PILDataset(split, transforms.Compose(steps)), batch_size=args.batch_size, shuffle=True,
                            num_workers=args.num_workers, pin_memory=device.type == "cuda")
    fast_loader = BatchLoader(split, args.batch_size, data.mean, data.std, device, shuffle=True, augment=True,
                              hflip=data.hflip, seed=0)
    n = len(split)
    print(f"{data.name} train x{args.repeat} = {n} images of {data.in_channels}x{data.size}x{data.size}, "
          f"batch {args.batch_size}, device {device}, torch threads {torch.get_num_threads()}")

    drain(fast_loader, device)  # warm-up
    t_fast = min(drain(fast_loader, device) for _ in range(3))
    t_pil = drain(pil_loader, device)
    print(f"in-memory batches  : {n / t_fast:12,.0f} images/s")
    print(f"per-sample PIL     : {n / t_pil:12,.0f} images/s  (DataLoader, {args.num_workers} workers)")
    print(f"speed-up           : {t_pil / t_fast:12.1f}x")

    part = split.subset(torch.arange(min(n, args.epoch_images)))
    fast_part = BatchLoader(part, args.batch_size, data.mean, data.std, device, shuffle=True, augment=True,
                            hflip=data.hflip, seed=0)
    pil_part = DataLoader(PILDataset(part, transforms.Compose(steps)), batch_size=args.batch_size, shuffle=True,
                          num_workers=args.num_workers, pin_memory=device.type == "cuda")
    torch.manual_seed(0)
    model = models.create_model(args.arch, data.num_classes, data.in_channels).to(device)
    train_seconds(model, fast_part, device, data.multilabel)  # warm-up
    shares = []
    for name, loader in (("in-memory", fast_part), ("PIL", OnDevice(pil_part, device))):
        data_s = drain(loader, device)
        epoch_s = train_seconds(model, loader, device, data.multilabel)
        shares.append(100 * data_s / epoch_s)
        print(f"{args.arch} epoch of {len(part)} images, {name:9s}: {epoch_s:7.2f} s, "
              f"data handling {shares[-1]:5.2f} % of it")

    what = (f"{data.name}{' (random pixels)' if args.random_pixels else ''} ×{args.repeat}, {n:,} × "
            f"{data.in_channels}×{data.size}×{data.size}, {args.arch}")
    row = {"data": what, "in_memory_img_s": n / t_fast, "pil_img_s": n / t_pil, "speed_up": t_pil / t_fast,
           "data_share_in_memory_pct": shares[0], "data_share_pil_pct": shares[1]}
    body = markdown_table(
        ["data (train split)", "in-memory batches", f"per-sample PIL ({args.num_workers} workers)", "speed-up",
         "data share of an epoch, in-memory / PIL"],
        [[what, f"{row['in_memory_img_s']:,.0f} img/s", f"{row['pil_img_s']:,.0f} img/s", f"{row['speed_up']:.1f}×",
          f"{shares[0]:.2f} % / {shares[1]:.2f} %"]])
    publish(args.out or RESULTS_DIR / f"bench_data_{args.dataset.lower()}", body, [row],
            script_command("bench/bench_data.py", argv))


if __name__ == "__main__":
    run_cli(main)
