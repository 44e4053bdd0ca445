"""Pooled penultimate features of any model with a declared classifier head: the head's input, caught by a forward
hook."""
from typing import Iterable

import torch
from torch import nn

from . import classifier


def forward_with_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, B×D features): one forward pass, the features being what the head receives."""
    caught: list[torch.Tensor] = []
    hook = classifier(model).register_forward_pre_hook(lambda module, inputs: caught.append(inputs[0]))
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
