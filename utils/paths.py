"""Checks on the paths a run will write, made before any work starts, and the per-id run lock. No torch here: the
argument parser uses these checks too."""
import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UserError


def check_run_id(value: str | None, flag: str) -> str:
    """A run id names files inside one folder: a plain, non-hidden name, never '.', '..' or a path."""
    if not value:
        raise UserError(f"{flag} is required: a plain name such as my_model")
    bad = next((c for c in ("/", "\\", "\0") if c in value), None)
    if value in (".", "..") or value.startswith((".", "-")) or bad or value.endswith(".pt") or not value.strip():
        raise UserError(f"{flag} {value!r} must be a plain name (letters, digits, _ or -; no folder, no leading dot "
                        f"or dash, no .pt), e.g. my_model")
    return value


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(folder: str | os.PathLike, flag: str) -> None:
    """`folder` can hold new files: it is a folder we may write, or can be created inside one."""
    folder = Path(folder)
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise UserError(f"{flag} {folder}: {base} is a file, not a folder; pass a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {folder}: {base} is not writable; pass a folder you can write to")
    try:  # access() passes for root, and on file systems that refuse new entries (/proc, some mounts): try one
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=base))
    except OSError as err:
        raise UserError(f"{flag} {folder}: cannot create anything in {base} ({err.strerror}); pass a folder you can "
                        f"write to") from None


def check_new_file(path: str | os.PathLike, overwrite: bool, flag: str) -> None:
    """`path` can be written: not a folder, not an existing file unless --overwrite, in a writable folder."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; name a file inside it, e.g. {path / 'out'}")
    if path.exists() and not overwrite:
        raise UserError(f"{flag} {path} already exists; add --overwrite to replace it, or choose another name")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{flag} {path} is read-only; choose another name")
    check_writable_dir(path.parent, flag)


def check_figure_format(path: str | os.PathLike, flag: str) -> None:
    """`path`'s suffix names a format matplotlib writes (no suffix: PNG)."""
    suffix = Path(path).suffix.lstrip(".").lower()
    if not suffix:
        return
    from matplotlib.backend_bases import FigureCanvasBase  # only when a figure path is given: --help stays light
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        raise UserError(f"{flag} {path}: matplotlib cannot write .{suffix} files; end the name in one of "
                        f"{', '.join('.' + f for f in sorted(formats))} (e.g. .png)")


def remove_paths(paths: list[Path]) -> None:
    """Delete the files and folders that exist among `paths`."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _holder(lock: Path) -> tuple[int, str] | None:
    try:
        pid, _, host = lock.read_text().strip().partition(" ")
        return int(pid), host
    except (OSError, ValueError):
        return None


@contextmanager
def run_lock(folder: str | os.PathLike, run_id: str) -> Iterator[Path]:
    """Hold `folder/.{run_id}.lock` (created with O_EXCL) while a run writes the files of `run_id`; a second run of
    the same id is refused. A lock left by a process that is gone (killed) is taken over; the lock is removed when the
    block ends, however it ends."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / f".{run_id}.lock"
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(40):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is None:  # its owner is writing it this instant
                time.sleep(0.05)
                continue
            pid, host = holder
            if host == socket.gethostname() and not _alive(pid):
                lock.unlink(missing_ok=True)  # a killed run's lock
                continue
            where = "" if host == socket.gethostname() else f" on {host}"
            raise UserError(f"{run_id} is being written by another run (process {pid}{where}, lock {lock}); wait "
                            f"for it to end or choose another id (delete the lock only if no such run is going)")
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:
        raise UserError(f"cannot take the lock {lock} for {run_id}; delete it if no run of {run_id} is going")
    try:
        yield lock
    finally:
        if _holder(lock) == (os.getpid(), socket.gethostname()):
            lock.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):  # a run that failed before writing leaves no empty folder
            folder.rmdir()


def sweep_temp_files(folder: str | os.PathLike, name: str) -> None:
    """Remove `.{name}.{pid}.tmp` files (utils.io's temporary names) whose writing process is gone."""
    for tmp in Path(folder).glob(f".{name}.*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
