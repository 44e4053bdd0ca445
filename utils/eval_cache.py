"""Evaluation results kept on disk under a key made of everything that decides them: the checkpoint's bytes, the
data files (path, size, modification time), the evaluation settings and the version of the evaluation code. A
protocol that compares many models with one reference (the Oracle) evaluates each checkpoint once."""
import functools
import hashlib
import json
import shutil
from pathlib import Path

import torch

from .io import atomic_path, save_json, save_torch

EVAL_VERSION = 1  # raise when metrics or the evaluation loop change: old entries are then never read


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read once per process while its size and modification time stay the same)."""
    stat = Path(path).stat()
    return _digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(checkpoint: str | Path, data_files: list[str], settings: dict) -> str:
    """One hex key per (checkpoint bytes, data files as they are now, settings)."""
    files = [(str(Path(p).resolve()), Path(p).stat().st_size, Path(p).stat().st_mtime_ns) for p in data_files]
    text = json.dumps({"version": EVAL_VERSION, "checkpoint": file_digest(checkpoint), "files": files,
                       "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class EvalCache:
    """A folder of KEY.json reports, each with an optional KEY.png picture."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str, suffix: str = ".json") -> Path:
        return self.folder / f"{key}{suffix}"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, key: str, report: dict) -> dict:
        save_json(report, self.path(key))
        return report

    def get_tensors(self, key: str) -> dict[str, torch.Tensor] | None:
        path = self.path(key, ".pt")
        return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None

    def put_tensors(self, key: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        save_torch(tensors, self.path(key, ".pt"))
        return tensors

    def copy_picture(self, key: str, to: str | Path) -> Path | None:
        """Copy the entry's picture to `to` (atomically); None when the entry has none."""
        source = self.path(key, ".png")
        if not source.is_file():
            return None
        with atomic_path(to) as tmp:
            shutil.copyfile(source, tmp)
        return Path(to)
