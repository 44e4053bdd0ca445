"""fastMRI leaderboard submissions: one <submission_dir>/<file name>.h5 per volume holding a float32 `reconstruction`
(slices × H × W), as fastmri.utils.save_reconstructions writes them; every file is written atomically."""
import argparse
from pathlib import Path

import h5py
import numpy as np

import models
from datasets.mri.data import Volume, load_recon
from utils import checkpoints
from utils.device import amp_dtype, resolve_device
from utils.errors import UserError
from utils.io import atomic_path

from .recon_loop import reconstruct_volumes


def check_submission_dir(out_dir: Path, volumes: list[Volume], overwrite: bool) -> None:
    """Refuse, before any work, a folder that is a file, two volumes of one name, or (without `overwrite`) a
    submission file that is there already."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--submission_dir {out_dir} is a file; give a folder")
    owners: dict[Path, str] = {}
    for volume in volumes:
        path = out_dir / Path(volume.path).name
        if path in owners:
            raise UserError(f"{volume.path} and {owners[path]} share the name {path.name}, but a submission holds one "
                            f"file per name; reconstruct the groups one at a time")
        owners[path] = volume.path
    existing = [p for p in owners if p.exists()]
    if existing and not overwrite:
        raise UserError(f"{existing[0]} exists ({len(existing)} of the {len(owners)} submission files do); pass "
                        f"--overwrite to replace them or another --submission_dir")


def save_reconstruction(path: Path, reconstruction: np.ndarray) -> Path:
    """fastMRI's submission file: one float32 dataset `reconstruction`, slices × H × W."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset("reconstruction", data=reconstruction.astype(np.float32))
    return path


def write_submission(args: argparse.Namespace) -> dict:
    """main_test.py --submission_dir: reconstruct every volume of --split and write fastMRI's submission files."""
    out_dir = Path(args.submission_dir)
    device = resolve_device(args.device)
    data = load_recon(args, split=args.split)
    check_submission_dir(out_dir, data.volumes(args.split), args.overwrite)
    model, meta = models.load_model(args.model_id, args.model_dir, data.describe(), device, args.arch)
    written = []
    for group in data.groups:
        dataset = data.slices(args.split, meta["kind"], [group], inference=True)
        for v, reconstruction in reconstruct_volumes(model, dataset, device, batch_size=args.batch_size,
                                                     num_workers=args.num_workers, amp=amp_dtype(device, args.amp),
                                                     show=True):
            written.append(save_reconstruction(out_dir / Path(dataset.volumes[v].path).name, reconstruction.numpy()))
    print(f"{checkpoints.find_checkpoint(args.model_id, args.model_dir)} ({meta['arch']}): wrote {len(written)} "
          f"reconstructions of {data.name} {args.split} to {out_dir}")
    return {"submission_dir": str(out_dir), "files": [str(p) for p in written]}
