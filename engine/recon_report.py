"""Testing a reconstruction model: per-group NMSE / PSNR / SSIM table, JSON, example figure and slice viewer."""
import argparse
from pathlib import Path

import h5py
import numpy as np

import models
from datasets.mri.data import SPLITS, load_recon
from utils import checkpoints, plots
from utils.device import amp_dtype, resolve_device
from utils.results import save_record
from utils.tables import format_table

from .family import family_from_meta
from .recon_loop import Example, evaluate_recon


def mean_std(summary: dict, key: str, fmt: str) -> str:
    return f"{format(summary[key], fmt)} ± {format(summary[f'{key}_std'], fmt)}"


def group_rows(report: dict) -> list[list]:
    """One row per group: volumes, PSNR, SSIM, NMSE (mean ± std over volumes) and the zero-filled PSNR."""
    return [[name, g["volumes"], mean_std(g, "psnr", ".2f"), mean_std(g, "ssim", ".4f"), mean_std(g, "nmse", ".4f"),
             f"{g['zero_filled']['psnr']:.2f}"] for name, g in report["groups"].items()]


GROUP_HEADERS = ["group", "volumes", "PSNR dB", "SSIM", "NMSE", "zero-filled PSNR"]


def json_groups(report: dict) -> dict:
    """{"groups": {name: {"psnr", "ssim", "nmse", their _std, "volumes", "zero_filled": {...}}}}"""
    return {"groups": dict(report["groups"])}


def example_figure(examples: list[Example], path: str | Path, title: str = "", per_group: int = 3) -> Path:
    """Rows of slices (a few per group): zero-filled input, output, target and |error| (×5), one grey scale a row."""
    chosen = [e for g in dict.fromkeys(e.group for e in examples) for e in [x for x in examples if x.group == g][:per_group]]
    plt = plots.pyplot()
    fig, axes = plt.subplots(len(chosen), 4, figsize=(10, 2.6 * len(chosen) + 0.4), squeeze=False)
    for row, example in zip(axes, chosen):
        draw_example(row, example)
    fig.suptitle(title, fontsize=10)
    return plots.finish(fig, path)


def draw_example(axes, example: Example) -> None:
    """Zero-filled, output, target, |error| ×5; without an output: zero-filled, target, |zero-filled − target| ×5."""
    top = float(example.target.max()) or 1.0
    if example.output is None:
        panels = ((example.zero_filled, "zero-filled"), (example.target, "target"),
                  (5 * np.abs(example.zero_filled - example.target), "|zero-filled − target| ×5"))
    else:
        panels = ((example.zero_filled, "zero-filled"), (example.output, "output"), (example.target, "target"),
                  (5 * np.abs(example.output - example.target), "|error| ×5"))
    for ax in axes:
        ax.clear()
        ax.axis("off")
    for i, (ax, (image, name)) in enumerate(zip(axes, panels)):
        ax.imshow(image, cmap="gray", vmin=0, vmax=top)
        ax.set_title(name + (f"\n{example.group} {example.fname} slice {example.slice_num}" if i == 0 else ""), fontsize=7)


class SliceViewer:
    """Step through example slices: right / n next, left / p previous."""

    def __init__(self, examples: list[Example], title: str, interactive: bool) -> None:
        self.plt = plots.pyplot(interactive)
        self.examples, self.title, self.at = examples, title, 0
        self.fig, axes = self.plt.subplots(1, 4, figsize=(12, 3.6))
        self.axes = list(axes)
        self.fig.canvas.mpl_connect("key_press_event", self.on_key)
        self.show(0)

    def show(self, at: int) -> None:
        self.at = at % len(self.examples)
        draw_example(self.axes, self.examples[self.at])
        self.fig.suptitle(f"{self.title} — slice {self.at + 1} of {len(self.examples)} (←/→)", fontsize=10)
        self.fig.canvas.draw_idle()

    def on_key(self, event) -> None:
        key = (event.key or "").lower()
        if key in ("right", "n", " "):
            self.show(self.at + 1)
        elif key in ("left", "p"):
            self.show(self.at - 1)

    def run(self) -> None:
        print("keys: right/n next slice, left/p previous; close the window to quit")
        self.plt.show()


def test_recon(args: argparse.Namespace) -> dict:
    """main_test.py for reconstruction: metrics per group on --split, JSON, figure, viewer."""
    device = resolve_device(args.device)
    data = load_recon(args)
    model, meta = models.load_model(args.model_id, args.model_dir, data.describe(), device, args.arch)
    report = evaluate_recon(model, data, args.split, meta["kind"], device, batch_size=args.batch_size,
                            num_workers=args.num_workers, amp=amp_dtype(device, args.amp), show=True)
    path = checkpoints.find_checkpoint(args.model_id, args.model_dir)
    print(f"{path} ({meta['arch']}) on {data.name} {args.split} ({data.mask_func.kind} mask, "
          f"{'/'.join(f'{a:g}x' for a in data.mask_func.accelerations)})")
    print(format_table(GROUP_HEADERS, group_rows(report)))
    run_dir = Path(args.runs_dir) / path.stem
    figure = example_figure(report["examples"], run_dir / f"reconstructions_{args.split}.png",
                            title=f"{path.stem} on {data.name} {args.split}")
    print(f"reconstructions: {figure}")
    if args.json:
        save_record(args.json, json_groups(report), meta, family_from_meta(meta), args.label, dict(args.tag))
    interactive = not args.no_gui and plots.has_display()
    if args.save_fig or interactive:
        viewer = SliceViewer(report["examples"], f"{path.stem} on {data.name} {args.split}", interactive)
        if args.save_fig:
            print(f"viewer: {plots.save_figure(viewer.fig, args.save_fig)}")
        if interactive:
            viewer.run()
    return json_groups(report)


def examine_recon(args: argparse.Namespace) -> dict:
    """examine_dataset.py for MRI groups: volumes and slices per group and split, k-space layout, and a figure of
    zero-filled inputs (with --accelerations / --mask_type) beside their targets."""
    data = load_recon(args)
    rows, counts = [], {}
    for group in data.groups:
        for split in SPLITS:
            volumes = data.volumes(split, [group]) if data.has_split(split, group) else []
            counts[f"{group}/{split}"] = {"volumes": len(volumes), "slices": sum(v.num_slices for v in volumes)}
            shape = ""
            if volumes:
                with h5py.File(volumes[0].path, "r") as f:
                    shape = "×".join(map(str, f["kspace"].shape[1:]))
            peaks = [v.max_value for v in volumes]
            rows.append([group, split, len(volumes), counts[f"{group}/{split}"]["slices"], shape,
                         f"{min(peaks):.3g}..{max(peaks):.3g}" if peaks else ""])
    print(f"{data.name}: {data.challenge} k-space, {data.mask_func.kind} mask "
          f"{'/'.join(f'{a:g}x' for a in data.mask_func.accelerations)}")
    print(format_table(["group", "split", "volumes", "slices", "k-space per slice", "volume max"], rows))
    examples = []
    for group in data.groups:
        if not data.has_split(args.split, group):
            continue
        slices = data.slices(args.split, "image", [group])
        starts = [0]
        for v in slices.volumes[:-1]:
            starts.append(starts[-1] + v.num_slices)
        for volume, start in list(zip(slices.volumes, starts))[:3]:
            sample = slices[start + volume.num_slices // 2]
            zf = (sample.image[0] * sample.std + sample.mean).numpy()
            examples.append(Example(group, Path(volume.path).name, volume.num_slices // 2, zf, None,
                                    sample.target.numpy()))
    if examples and args.save_fig:  # one row per group: zero-filled input, target, their difference
        print(f"samples: {example_figure(examples, args.save_fig, f'{data.name} {args.split}', per_group=1)}")
    if examples and not args.no_gui and plots.has_display():
        SliceViewer(examples, f"{data.name} {args.split}", interactive=True).run()
    return counts

