"""Model registry: name -> nn.Module factory, plus any torchvision classification model by name (torchvision is
imported only when a classification model needs it, so reconstruction runs start without it)."""
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from utils import checkpoints
from utils.errors import UserError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(*names: str):
    """Register `fn(num_classes, in_channels, imagenet_arch) -> nn.Module` under case-insensitive names."""
    def add(fn):
        for name in names:
            _MODELS[name.lower()] = fn
        return fn
    return add


def declare(model: nn.Module, classifier: str | None, blocks: list[str]) -> nn.Module:
    """Attach what methods may rely on, as timm's `pretrained_cfg['classifier']` and `feature_info` do: the module name
    of the classifier head (None for a reconstruction network) and the blocks, input to output, that EU-k / CF-k cut
    between. Returns the model."""
    names = {name for name, _ in model.named_modules()}
    missing = [n for n in (classifier, *blocks) if n is not None and n not in names]
    if missing:
        raise ValueError(f"{type(model).__name__} declares modules it does not have: {', '.join(missing)}")
    model.pretrained_cfg = {"classifier": classifier}
    model.feature_info = [{"module": name} for name in blocks]
    return model


def _declared(model: nn.Module) -> nn.Module:
    """The model itself (a DDP wrapper's `module`), checked to carry a declaration."""
    model = getattr(model, "module", model)
    if not hasattr(model, "feature_info"):
        raise UserError(f"{type(model).__name__} declares no head and blocks; build it with models.create_model, or "
                        f"call models.declare(model, classifier, blocks) on it")
    return model


def classifier_name(model: nn.Module) -> str:
    """The module name of the model's classifier head, as it declares it."""
    model = _declared(model)
    name = model.pretrained_cfg["classifier"]
    if name is None:
        raise UserError(f"{type(model).__name__} has no classifier head (a reconstruction network); this needs a model "
                        f"that ends in a linear classifier (resnet*, smallcnn, torchvision classifiers)")
    return name


def classifier(model: nn.Module) -> nn.Module:
    """The classifier head module."""
    return _declared(model).get_submodule(classifier_name(model))


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of the model's declared blocks, input to output."""
    model = _declared(model)
    return [(info["module"], model.get_submodule(info["module"])) for info in model.feature_info]


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
        return declare_torchvision(net if in_channels == 3 else RepeatChannels(net))
    raise UserError(f"unknown arch {name!r}; choose one of: {', '.join(available())}, "
                    f"or a torchvision model ({', '.join(torchvision_names()[:6])}, ...)")


class RepeatChannels(nn.Module):
    """Feed a 1-channel image to a network built for RGB by repeating the channel."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.expand(-1, 3, -1, -1))


def declare_torchvision(model: nn.Module) -> nn.Module:
    """A torchvision classifier's declaration, read from its structure once when it is built: the head is its last
    nn.Linear; the blocks are its top-level children with weights, Sequential containers opened one level (a ResNet's
    residual blocks, a VGG's layers); inside RepeatChannels, those of the wrapped network."""
    inner, prefix = (model.net, "net.") if isinstance(model, RepeatChannels) else (model, "")
    linears = [name for name, m in inner.named_modules() if isinstance(m, nn.Linear)]
    units = []
    for name, child in inner.named_children():
        parts = list(child.named_children()) if isinstance(child, nn.Sequential) else [("", child)]
        units += [f"{name}.{sub}" if sub else name for sub, m in parts if any(True for _ in m.parameters())]
    return declare(model, prefix + linears[-1] if linears else None, [prefix + u for u in units])


def recorded_kwargs(meta: dict) -> dict:
    """The create_model arguments a checkpoint records: its model_kwargs (reconstruction networks), else its classes,
    channels and stem; an unlearned classifier's outputs where its method changed them (boundary_expanding: K+1)."""
    if "model_kwargs" in meta:
        return meta["model_kwargs"]
    return {"num_classes": meta.get("unlearn", {}).get("outputs", meta["num_classes"]),
            "in_channels": meta["in_channels"], "imagenet_arch": meta.get("imagenet_arch", False)}


def load_model(model_id: str | None, model_dir: str, data_meta: dict, device: torch.device,
               arch: str | None = None, other_dataset: bool = False) -> tuple[nn.Module, dict]:
    """Find, check and load a checkpoint (classification or reconstruction); returns the model on `device` and its meta."""
    path = checkpoints.find_checkpoint(model_id, model_dir)
    ckpt = checkpoints.load_checkpoint(path)
    meta = ckpt["meta"]
    if "arch" not in meta:
        raise UserError(f"{path} has no arch in its meta; it was not written by this project's main_train.py")
    checkpoints.check_compatible(meta, data_meta, str(path), arch, other_dataset)
    model = create_model(meta["arch"], **recorded_kwargs(meta))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise UserError(f"{path}: weights do not fit a {meta['arch']} model: {str(err).splitlines()[0]}")
    return model.to(device), meta


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
    head = getattr(model, "pretrained_cfg", {}).get("classifier")
    if not any(head is None or not k.startswith(f"{head}.") for k in usable):
        fits = f" (only {', '.join(sorted(usable))} of the classifier head)" if usable else ""
        raise UserError(f"--pretrained {path}: none of its weights fit this model{fits}; it holds another "
                        f"architecture: pass --arch of the checkpoint, or a checkpoint of this one")
    broken = next((k for k, v in usable.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if broken:
        raise UserError(f"--pretrained {path}: {broken} holds NaN or inf; pass a checkpoint of a run that did not "
                        f"diverge")
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


from . import resnet, smallcnn  # noqa: E402,F401  (register the models)
from .recon import unet, varnet  # noqa: E402,F401
