"""Data-path benchmark: in-memory batch loader vs a per-sample PIL Dataset + DataLoader on the same data.

Prints images per second of both (same augmentations), their ratio, and the share of one training
epoch spent in data handling with each. Run from the repository root:

    python bench/bench_data.py --dataset Digits --arch resnet18 --repeat 8
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datasets  # noqa: E402
import models  # noqa: E402
from datasets.base import Split  # noqa: E402
from datasets.batching import BatchLoader  # noqa: E402
from utils.device import resolve_device  # noqa: E402
from utils.train_loop import task_loss, train_epoch  # noqa: E402


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
    train_epoch(model, batches, optimizer, task_loss(multilabel), multilabel=multilabel, show=False)
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


def main() -> None:
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
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = datasets.load_dataset(args.dataset, args.data_dir, args.size)
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
    for name, loader in (("in-memory", fast_part), ("PIL", OnDevice(pil_part, device))):
        data_s = drain(loader, device)
        epoch_s = train_seconds(model, loader, device, data.multilabel)
        print(f"{args.arch} epoch of {len(part)} images, {name:9s}: {epoch_s:7.2f} s, "
              f"data handling {100 * data_s / epoch_s:5.2f} % of it")


if __name__ == "__main__":
    main()
