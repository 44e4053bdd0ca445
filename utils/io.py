"""Atomic file writes: every file goes to a temporary name in the same folder, then is renamed."""
import csv
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from .errors import UserError
from .paths import sweep_temp_files


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds. A failed write (full
    disk, no permission) is a UserError and leaves the old `path` as it was; temporary files of killed writers of the
    same name are swept first."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_temp_files(path.parent, path.name)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}; "
                        f"{'the previous file is unchanged' if path.exists() else 'nothing was written'}") from None
    except RuntimeError as err:  # torch.save's writer reports a full disk as a RuntimeError
        if "write" not in str(err).lower():
            raise
        raise UserError(f"cannot write {path} (is the disk full?): {str(err).splitlines()[0]}; "
                        f"{'the previous file is unchanged' if path.exists() else 'nothing was written'}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def save_text(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def save_json(obj: Any, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
    return Path(path)


def save_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path
