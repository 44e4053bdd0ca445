"""Pooled penultimate features of any registered model: the input of its last nn.Linear, caught by a forward hook."""
from typing import Iterable

import torch
from torch import nn

from utils.errors import UserError


def last_linear_name(model: nn.Module) -> str:
    """Name of the classifier head: the last nn.Linear registered in the model."""
    names = [name for name, m in getattr(model, "module", model).named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise UserError(f"{type(model).__name__} has no nn.Linear head, so it has no pooled penultimate features; "
                        f"use a model that ends in a linear classifier (resnet*, smallcnn, torchvision classifiers)")
    return names[-1]


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier head: the last nn.Linear registered in the model."""
    return getattr(model, "module", model).get_submodule(last_linear_name(model))


def forward_with_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, B×D features): one forward pass, the features being what the head receives."""
    caught: list[torch.Tensor] = []
    hook = last_linear(model).register_forward_pre_hook(lambda module, inputs: caught.append(inputs[0]))
    try:
        logits = model(x)
    finally:
        hook.remove()
    return logits, caught[-1].flatten(1)


@torch.no_grad()
def pooled_features(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (float32, on the CPU) and labels of every batch, in order, with the model in eval mode."""
    model.eval()
    features, labels = [], []
    for x, y in batches:
        features.append(forward_with_features(model, x)[1].float().cpu())
        labels.append(y.cpu())
    return torch.cat(features), torch.cat(labels)
