"""SalUn weight saliency: masks from the forget-set gradient, and keeping masked-out weights fixed."""
import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from engine.gradients import gradient_statistics
from utils.errors import UserError
from utils.io import save_json, save_torch

THRESHOLDS = [round(0.1 * i, 1) for i in range(1, 11)]


def mask_folder(model_id: str, root: str = "SaliencyMaps") -> Path:
    return Path(root) / Path(model_id).name.removesuffix(".pt")


def mask_name(threshold: float) -> str:
    return f"with_{threshold:.1f}.pt"


def mask_file(model_id: str, threshold: float, root: str = "SaliencyMaps") -> Path:
    return mask_folder(model_id, root) / mask_name(threshold)


def mask_outputs(folder: Path) -> list[Path]:
    """The files save_masks writes into `folder`: with_0.1.pt ... with_1.0.pt and forget.json."""
    return [folder / mask_name(t) for t in THRESHOLDS] + [folder / "forget.json"]


def indices_digest(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.numpy().astype("int64").tobytes()).hexdigest()[:16]


def forget_gradient_magnitude(model: nn.Module, batches, loss_fn) -> dict[str, torch.Tensor]:
    """|Σ over the forget set of ∇θ loss|, per parameter (SalUn: the gradient of the forgetting loss at θo)."""
    return gradient_statistics(model, batches, lambda net, batch: -loss_fn(net(batch[0]).float(), batch[1]), "abs_sum")


def top_share_masks(saliency: dict[str, torch.Tensor], thresholds=THRESHOLDS) -> dict[float, dict[str, torch.Tensor]]:
    """For each t: 1 for the top t share of weights by saliency over the whole network, else 0 (uint8)."""
    flat = torch.cat([s.flatten() for s in saliency.values()])
    order = flat.argsort(descending=True, stable=True)
    masks = {}
    for t in thresholds:
        keep = torch.zeros(len(flat), dtype=torch.uint8, device=flat.device)
        keep[order[:int(len(flat) * t)]] = 1
        parts, start = {}, 0
        for name, s in saliency.items():
            parts[name] = keep[start:start + s.numel()].view_as(s).cpu()
            start += s.numel()
        masks[t] = parts
    return masks


def kept_share(mask: dict[str, torch.Tensor]) -> float:
    """Share of weights a mask lets move."""
    return sum(int(m.sum()) for m in mask.values()) / max(1, sum(m.numel() for m in mask.values()))


def save_masks(masks: dict[float, dict], folder: Path, forget_meta: dict) -> Path:
    """with_{t}.pt for each threshold, and forget.json naming the forget set they were made for, in `folder`."""
    for t, mask in masks.items():
        save_torch(mask, folder / mask_name(t))
    info = {k: v for k, v in forget_meta.items() if k != "indices"}
    save_json({**info, "indices_sha256": indices_digest(torch.tensor(forget_meta["indices"]))}, folder / "forget.json")
    return folder


def load_mask(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """A mask file, checked to be a {parameter name: 0/1 tensor} dict covering exactly this model's parameters."""
    if not path.is_file():
        raise UserError(f"no mask {path}" + (" (a folder; name a with_{t}.pt file in it)" if path.is_dir() else ""))
    remake = "pass a with_{t}.pt that generate_mask.py wrote for this model"
    try:
        mask = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or holding objects weights_only refuses
        detail = str(err).strip().splitlines()[0] if str(err).strip() else "empty or cut short"
        raise UserError(f"cannot read mask {path}: {type(err).__name__}: {detail}; {remake}") from None
    if not isinstance(mask, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in mask.items()):
        raise UserError(f"{path} holds a {type(mask).__name__}, not a mask (a dict of parameter name -> 0/1 tensor); "
                        f"{remake}")
    shapes = {name: p.shape for name, p in model.named_parameters()}
    if set(mask) != set(shapes) or any(mask[n].shape != s for n, s in shapes.items()):
        raise UserError(f"{path} was made for another architecture: its parameter names or shapes differ from this "
                        f"model's; {remake}")
    bad = next((n for n, m in mask.items() if not bool(((m == 0) | (m == 1)).all())), None)
    if bad is not None:
        raise UserError(f"{path} is not a 0/1 mask: {bad} holds values other than 0 and 1 (or NaN); {remake}")
    return mask


def load_saliency_mask(model_id: str, threshold: float, model: nn.Module, forget_indices: torch.Tensor,
                       root: str = "SaliencyMaps") -> dict[str, torch.Tensor]:
    """The mask generate_mask.py wrote for this model, threshold and forget set."""
    if threshold not in THRESHOLDS:
        raise UserError(f"--mask_thresh {threshold} is not one of {', '.join(map(str, THRESHOLDS))}")
    path = mask_file(model_id, threshold, root)
    if not path.is_file():
        raise UserError(f"no mask {path}; run generate_mask.py --model_id {model_id} with the same forget flags first")
    info_file = path.parent / "forget.json"
    if info_file.is_file():
        try:
            info = json.loads(info_file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"cannot read {info_file} ({err}); rerun generate_mask.py --overwrite with these "
                            f"flags") from None
        if not isinstance(info, dict) or info.get("indices_sha256") != indices_digest(forget_indices):
            info = info if isinstance(info, dict) else {}
            raise UserError(f"the masks in {path.parent} were made for another forget set "
                            f"(class {info.get('classes')}, {info.get('size')} samples); rerun generate_mask.py with these flags")
    return load_mask(path, model)


class WeightMask:
    """Keeps every weight whose mask entry is 0 exactly where it started: not moved by gradient, momentum or decay."""

    def __init__(self, model: nn.Module, mask: dict[str, torch.Tensor]) -> None:
        self.entries = []
        for name, p in model.named_parameters():
            if name in mask:
                keep = mask[name].to(p.device).bool()
                self.entries.append((p, keep, p.detach().clone()))

    def mask_gradients(self) -> None:
        for p, keep, _ in self.entries:
            if p.grad is not None:
                p.grad.mul_(keep)

    @torch.no_grad()
    def restore(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Put masked-out weights back to their start values and clear their optimiser state."""
        for p, keep, start in self.entries:
            p.copy_(torch.where(keep, p, start))
            if optimizer is not None:
                for value in optimizer.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        value.mul_(keep)
