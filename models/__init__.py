"""Model registry: name -> nn.Module factory, plus any torchvision classification model by name (torchvision is
imported only when a classification model needs it, so reconstruction runs start without it)."""
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from utils.errors import UserError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(*names: str):
    """Register `fn(num_classes, in_channels, imagenet_arch) -> nn.Module` under case-insensitive names."""
    def add(fn):
        for name in names:
            _MODELS[name.lower()] = fn
        return fn
    return add


def torchvision_names() -> list[str]:
    import torchvision
    return torchvision.models.list_models(module=torchvision.models)


def available() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, num_classes: int = 0, in_channels: int = 3, *, imagenet_arch: bool = False,
                 **kwargs) -> nn.Module:
    """Build a registered model (extra keyword arguments go to its factory), or a torchvision classifier by name."""
    key = name.lower()
    if key in _MODELS:
        return _MODELS[key](num_classes=num_classes, in_channels=in_channels, imagenet_arch=imagenet_arch, **kwargs)
    if key in torchvision_names():
        import torchvision
        net = torchvision.models.get_model(key, weights=None, num_classes=num_classes)
        return net if in_channels == 3 else RepeatChannels(net)
    raise UserError(f"unknown arch {name!r}; choose one of: {', '.join(available())}, "
                    f"or a torchvision model ({', '.join(torchvision_names()[:6])}, ...)")


class RepeatChannels(nn.Module):
    """Feed a 1-channel image to a network built for RGB by repeating the channel."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.expand(-1, 3, -1, -1))


def load_pretrained(model: nn.Module, path: str) -> list[str]:
    """Copy every weight of the checkpoint at `path` whose name and shape match; return the names skipped."""
    if not Path(path).is_file():
        raise UserError(f"--pretrained {path}: no such file" + (" (a folder)" if Path(path).is_dir() else "")
                        + "; pass a checkpoint (.pt) of a trained model")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or holding objects weights_only refuses
        detail = str(err).strip().splitlines()[0] if str(err).strip() else "empty or cut short"
        raise UserError(f"cannot read --pretrained {path}: {type(err).__name__}: {detail}; pass a checkpoint (.pt) "
                        f"saved by torch.save") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not any(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise UserError(f"--pretrained {path} holds a {type(state).__name__} without weights, not a state_dict "
                        f"(parameter name -> tensor); pass a checkpoint of a trained model")
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(k, str) and torch.is_tensor(v)}
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise UserError(f"--pretrained {path}: none of its weights fit this model (wrong arch?)")
    broken = next((k for k, v in usable.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if broken:
        raise UserError(f"--pretrained {path}: {broken} holds NaN or inf; pass a checkpoint of a run that did not "
                        f"diverge")
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


from . import resnet, smallcnn, unet, varnet  # noqa: E402,F401  (register the models)
