"""Training-step benchmark: images/s of one training step of a classifier, in one process, for

- the SalUn loop (OPTML-Group/Unlearn-Saliency `trainer/train.py`): a torch DataLoader over PIL images with
  RandomCrop(padding 4) + RandomHorizontalFlip + ToTensor, normalisation in the model, SGD, and the loop's
  per-batch `output.float()`, `loss.item()` and top-1 accuracy;
- our loop (engine.train_loop.train_epoch over a datasets.batching.BatchLoader, as main_train.py runs it) in eager
  mode, with the model in channels-last memory order (--memory_format channels_last), compiled (--compile), and on
  CUDA in bf16 autocast (--amp).

Every variant starts from the same weights and sees the same number of batches; the variants take turns for
--repeat rounds and each one's median images/s is kept. A correctness column gives the largest relative difference
of our variants' loss curves from our eager loop's on the same batches (same seed, no augmentation). Writes
--out.{md,csv} (results/bench_train_step). Run from the repository root:

    python bench/bench_train_step.py --arch resnet18 --dataset data/mnist5k.npz --threads 1
"""
import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datasets  # noqa: E402
import models  # noqa: E402
from datasets.batching import BatchLoader  # noqa: E402
from engine.train_loop import Step, accelerated, supervised, task_loss, train_epoch  # noqa: E402
from utils.device import resolve_device  # noqa: E402
from utils.errors import run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import format_table, markdown_table  # noqa: E402

# name -> (memory format, compiled, bf16 autocast)
OURS = {"ours, eager": ("contiguous", False, False), "ours, channels-last": ("channels_last", False, False),
        "ours, compiled": ("contiguous", True, False), "ours, channels-last + compiled": ("channels_last", True, False),
        "ours, bf16 AMP": ("contiguous", False, True), "ours, bf16 AMP + channels-last": ("channels_last", False, True)}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PilImages(torch.utils.data.Dataset):
    """The images of a split as a torchvision dataset gives them: a PIL image per item, through `transform`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images.permute(0, 2, 3, 1).numpy(), labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image
        image = self.images[i]
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return self.transform(pil), int(self.labels[i])


class Normalized(nn.Module):
    """SalUn's NormalizeByChannelMeanStd in front of the network."""

    def __init__(self, net: nn.Module, mean: tuple, std: tuple) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def salun_images_per_s(model: nn.Module, data, batch_size: int, steps: int, lr: float, device: torch.device) -> float:
    """The SalUn loop for `steps` batches after one warm-up batch; images per second."""
    from torchvision import transforms
    size = data.train.images.shape[-1]
    transform = transforms.Compose([transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor()])
    loader = torch.utils.data.DataLoader(PilImages(data.train.images, data.train.labels, transform), batch_size,
                                         shuffle=True, num_workers=0)
    net = Normalized(model, data.mean, data.std).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr, momentum=0.9, weight_decay=5e-4)
    net.train()
    seen, started = 0, None
    for i, (image, target) in enumerate(loader):
        if i == 1:
            synchronize(device)
            started, seen = time.perf_counter(), 0
        if i == steps + 1:
            break
        image, target = image.to(device), target.to(device)
        output_clean = net(image)
        loss = criterion(output_clean, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        output = output_clean.float()
        loss = loss.float()
        prec1 = 100.0 * (output.argmax(1) == target).float().mean()
        _ = (loss.item(), prec1.item())
        seen += len(target)
    synchronize(device)
    return seen / (time.perf_counter() - started)


def ours(model: nn.Module, data, batch_size: int, steps: int, lr: float, spec: tuple[str, bool, bool],
         device: torch.device, augment: bool = True) -> tuple[float, list[float]]:
    """Our loop for `steps` batches after one warm-up batch (which also compiles): images/s and the loss per step."""
    memory_format, compile_, bf16 = spec
    net = accelerated(model.to(device), memory_format, compile_)
    optimizer = torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=5e-4)
    batches = BatchLoader(data.train, batch_size, data.mean, data.std, device, shuffle=True, augment=augment,
                          hflip=data.hflip, seed=0)
    loss = supervised(task_loss(False))
    amp = torch.bfloat16 if bf16 else None
    train_epoch(net, batches, optimizer, loss, device=device, amp=amp, max_steps=1, show=False)  # warm-up, compile
    batches.set_epoch(1)
    losses = []

    def recorded(model: nn.Module, batch) -> Step:
        step = loss(model, batch)
        losses.append(step.loss.item())
        return step

    synchronize(device)
    started = time.perf_counter()
    stats = train_epoch(net, batches, optimizer, recorded, device=device, amp=amp, max_steps=steps, show=False)
    synchronize(device)
    return stats["samples"] / (time.perf_counter() - started), losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Digits", help="a registered name or a MedMNIST-layout .npz")
    parser.add_argument("--data_dir", default="./data")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6, help="timed batches per variant and round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each variant's median is kept")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one core, as the issue measured)")
    parser.add_argument("--no_compile", action="store_true", help="skip the compiled variants (compiling takes minutes)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="bf16 AMP variants run on CUDA only (bf16 is hundreds of times slower on most CPUs)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "bench_train_step"), help="results prefix: .md and .csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = datasets.load_dataset(args.dataset, args.data_dir, args.size)
    torch.manual_seed(0)
    start = models.create_model(args.arch, data.num_classes, data.in_channels)
    variants = {name: spec for name, spec in OURS.items()
                if not (args.no_compile and spec[1]) and not (spec[2] and device.type != "cuda")}

    # correctness: the same batches without augmentation from the same weights, loss per step
    _, reference = ours(copy.deepcopy(start), data, args.batch_size, args.steps, args.lr, OURS["ours, eager"], device,
                        False)
    drift = {"ours, eager": 0.0}
    for name, spec in variants.items():
        if name != "ours, eager":
            _, curve = ours(copy.deepcopy(start), data, args.batch_size, args.steps, args.lr, spec, device, False)
            drift[name] = float(np.max(np.abs(np.array(curve) - reference) / np.abs(reference)))
    speeds: dict[str, list[float]] = {"SalUn loop": [], **{name: [] for name in variants}}
    for round_ in range(args.repeat):
        speeds["SalUn loop"].append(salun_images_per_s(copy.deepcopy(start), data, args.batch_size, args.steps, args.lr,
                                                       device))
        for name, spec in variants.items():
            speeds[name].append(ours(copy.deepcopy(start), data, args.batch_size, args.steps, args.lr, spec, device)[0])
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in speeds.items()), file=sys.stderr)
    peer = statistics.median(speeds["SalUn loop"])
    rows = [[name, statistics.median(v), statistics.median(v) / peer, drift.get(name)] for name, v in speeds.items()]
    setting = (f"{data.name} train split ({len(data.train)} images, {args.size} px), {args.arch}, batch "
               f"{args.batch_size}, on {device} with {args.threads} torch thread(s); median of {args.repeat} rounds of "
               f"{args.steps} steps; loss drift = largest relative difference of the loss curve from ours, eager")
    print(setting)
    print(format_table(["loop", "images/s", "x SalUn loop", "loss drift"], rows, floatfmt=".3f"))
    body = markdown_table(["loop", "images/s", "× SalUn loop", "loss drift"],
                          [[n, f"{s:.1f}", f"{r:.2f}", "" if d is None else f"{d:.1e}"] for n, s, r, d in rows])
    publish(args.out, f"{setting}.\n\n{body}",
            [{"loop": n, "images_per_s": s, "ratio": r, "loss_drift": d} for n, s, r, d in rows],
            script_command("bench/bench_train_step.py", argv))


if __name__ == "__main__":
    run_cli(main)
