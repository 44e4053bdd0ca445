"""Figures: training curves, confusion matrices and labelled sample grids (saved, or in an interactive window)."""
import os
import sys
from pathlib import Path

import numpy as np
import torch

from .io import save_figure


def pyplot(interactive: bool = False):
    """matplotlib.pyplot with a window backend only when asked for and a display exists."""
    import matplotlib
    if not (interactive and has_display()):
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def finish(fig, path: str | Path) -> Path:
    """Lay out, save atomically and close a figure."""
    fig.tight_layout()
    saved = save_figure(fig, path)
    import matplotlib.pyplot as plt  # the backend was chosen when the figure was made
    plt.close(fig)
    return saved


def training_curves(history: list[dict], path: str | Path,
                    panels: tuple[tuple[str, str], ...] = (("loss", "loss"), ("acc", "accuracy (%)"))) -> Path:
    """One panel per (key, label): train_{key} and val_{key} per epoch, where the log has them."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    epochs = [row["epoch"] for row in history]
    for (key, label), ax in zip(panels, axes):
        for part, style in (("train", {}), ("val", {"marker": "o"})):
            points = [(row["epoch"], row[f"{part}_{key}"]) for row in history if row.get(f"{part}_{key}") not in (None, "")]
            if points:
                ax.plot(*zip(*points), label=part, **style)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xlim(min(epochs, default=0) - 0.5, max(epochs, default=1) + 0.5)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        else:  # a run without a val split logs no PSNR
            ax.text(0.5, 0.5, f"no {label} logged", ha="center", va="center", transform=ax.transAxes)
    return finish(fig, path)


def confusion_figure(cm: torch.Tensor, class_names: list[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true rows, predicted columns) with the counts written in."""
    plt = pyplot()
    k = len(class_names)
    rates = cm.double() / cm.sum(1, keepdim=True).clamp_min(1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.55 * k))
    ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    labels = [name[:18] for name in class_names]
    ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return finish(fig, path)


def label_text(label: torch.Tensor, class_names: list[str]) -> str:
    if label.ndim == 0:
        return class_names[int(label)]
    names = [class_names[i] for i in label.nonzero().flatten().tolist()]
    return ", ".join(names) if names else "none"


class SampleGrid:
    """A grid of images with their labels (and predictions). Keys choose a class: 0-9, F1-F12 for 10-21, space = any."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                 predicted: torch.Tensor | None = None, rows: int = 4, cols: int = 5, seed: int = 0,
                 interactive: bool = False, title: str = "") -> None:
        self.plt = pyplot(interactive)
        self.images, self.labels, self.names, self.predicted = images, labels, class_names, predicted
        self.rows, self.cols, self.title = rows, cols, title
        self.rng = np.random.default_rng(seed)
        self.fig, axes = self.plt.subplots(rows, cols, figsize=(2.0 * cols, 2.2 * rows + 0.4))
        self.axes = np.atleast_1d(axes).ravel()
        self.fig.canvas.mpl_connect("key_press_event", self.on_key)
        self.show_class(None)

    def members(self, cls: int | None) -> np.ndarray:
        if cls is None:
            return np.arange(len(self.labels))
        hits = self.labels[:, cls] > 0 if self.labels.ndim == 2 else self.labels == cls
        return hits.nonzero().flatten().numpy()

    def show_class(self, cls: int | None) -> None:
        pool = self.members(cls)
        chosen = self.rng.choice(pool, size=min(len(pool), len(self.axes)), replace=False) if len(pool) else []
        for ax in self.axes:
            ax.clear()
            ax.axis("off")
        for ax, i in zip(self.axes, chosen):
            image = self.images[i].permute(1, 2, 0).cpu().numpy()
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
            text = f"true: {label_text(self.labels[i], self.names)}"
            color = "black"
            if self.predicted is not None:
                text += f"\npred: {label_text(self.predicted[i], self.names)}"
                color = "green" if torch.equal(self.predicted[i], self.labels[i]) else "red"
            ax.set_title(text, fontsize=7, color=color)
        which = "random samples" if cls is None else f"class {cls}: {self.names[cls]}"
        self.fig.suptitle(f"{self.title} — {which}" + ("" if len(pool) else " (none in this split)"), fontsize=10)
        self.fig.canvas.draw_idle()

    def on_key(self, event) -> None:
        key = (event.key or "").lower()
        if key == " ":
            self.show_class(None)
        elif key.isdigit() and int(key) < len(self.names):
            self.show_class(int(key))
        elif key.startswith("f") and key[1:].isdigit() and 9 + int(key[1:]) < len(self.names):
            self.show_class(9 + int(key[1:]))

    def save(self, path: str | Path) -> Path:
        return save_figure(self.fig, path)

    def show(self) -> None:
        """Open the window and block until it is closed."""
        print("keys: 0-9 (F1-F12 for 10-21) show a class, space shows random samples; close the window to quit")
        self.plt.show()


def sample_viewer(images: torch.Tensor, labels: torch.Tensor, class_names: list[str], *, title: str,
                  predicted: torch.Tensor | None = None, seed: int = 0, save_fig: str | None = None,
                  no_gui: bool = False) -> None:
    """Save the sample grid to `save_fig` and/or open it in a window (when asked for and a display exists)."""
    interactive = not no_gui and has_display()
    if not (save_fig or interactive):
        return
    grid = SampleGrid(images, labels, class_names, predicted, seed=seed, interactive=interactive, title=title)
    if save_fig:
        print(f"samples: {grid.save(save_fig)}")
    if interactive:
        grid.show()
