"""Device choice, seeding and mixed precision."""
import random

import numpy as np
import torch

from .errors import UserError


def resolve_device(flag: str = "auto", local_rank: int | None = None) -> torch.device:
    """`auto` picks CUDA when there is one; `cuda` without CUDA is the user's mistake."""
    if flag == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was given but this machine has no CUDA device; use --device cpu or auto")
    if flag == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank or 0)


def amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The autocast dtype for --amp: bf16 where the GPU has it, else fp16; None on CPU (fp32 is faster there)."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask cuDNN for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
