"""SSD for reconstruction: dampen the weights far more important (squared loss gradient) to the forget group
than to all training slices; no training."""
import torch
from torch import nn

from datasets.mri.data import make_loader
from engine.gradients import gradient_statistics
from engine.recon import sample_loss
from engine.train_loop import to_device

from .. import register
from ..knobs import Range
from ..ssd import dampen
from .task import ReconTask


def loss_importance(model: nn.Module, task: ReconTask, rows: torch.Tensor | None, desc: str) -> dict[str, torch.Tensor]:
    """Mean over batches of the squared gradient of the batch's reconstruction loss, per parameter."""
    loss = sample_loss(task.meta["loss"])
    loader = make_loader(task.train_slices, task.hp["batch_size"], num_workers=task.num_workers, device=task.device,
                         rows=rows)
    return gradient_statistics(model, (to_device(batch, task.device) for batch in loader),
                               lambda net, batch: loss(batch.predict(net), batch).mean(), "mean_square",
                               show=task.show, desc=desc)


@register("SSD", salun=False, task="reconstruction", ssd_alpha=1.5, ssd_lambda=1.0, batch_size=8, epochs=0, lr=0.0,
          search={"ssd_alpha": Range(1.0, 100.0, log=True), "ssd_lambda": Range(0.1, 10.0, log=True)})
def selective_synaptic_dampening(model: nn.Module, task: ReconTask) -> nn.Module:
    whole = loss_importance(model, task, None, "importance on D")
    forget = loss_importance(model, task, task.forget.indices, "importance on D_f")
    return dampen(model, whole, forget, task.hp["ssd_alpha"], task.hp["ssd_lambda"])
