"""torchrun support: one process per device, gradients averaged by DistributedDataParallel."""
import argparse
import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist

from .device import resolve_device


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def setup(device_flag: str) -> Dist:
    """Join the process group torchrun describes in the environment (gloo on CPU, NCCL on GPU), if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Dist(device=resolve_device(device_flag))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_flag, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank=dist.get_rank(), world_size=world_size, device=device)


def run_in_group(train: Callable[[argparse.Namespace, Dist], dict], args: argparse.Namespace) -> dict:
    """`train(args, dist)` inside torchrun's process group (if any), leaving the group afterwards."""
    dist = setup(args.device)
    try:
        return train(args, dist)
    finally:
        dist.close()

