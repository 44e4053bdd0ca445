"""Offline MRI phantoms in the exact fastMRI h5 format: brain-like or knee-like volumes, single- or multi-coil.

    python -m datasets.mri.phantoms --out data/mri_synth --family brain --volumes 16 --slices 8 --size 64

writes OUT/{train,val,test}/*.h5 (OUT/{T1|T2}/{train,val,test}/*.h5 with --sequence: FL-MRCM's layout). Each file
holds `kspace` (complex64: (slices, H, W), or (slices, coils, H, W) with --coils > 1), the target
`reconstruction_esc` = |ifft2c(kspace)| (single-coil) or `reconstruction_rss` = root-sum-of-squares over coils of
|ifft2c(kspace_c)| (multi-coil), an `ismrmrd_header` XML string, and attrs max, norm, acquisition, patient_id, as
fastMRI's SliceDataset and FL-MRCM's SliceData read them. The anatomy is random per volume (seeded) and changes
smoothly from slice to slice; images are complex (smooth random phase); the FFT is fastMRI's centred orthonormal one.
"""
import argparse
import hashlib
import math
import os
from pathlib import Path

import h5py
import numpy as np

from utils.cli import Parser, non_negative_float, positive_float, positive_int
from utils.errors import UserError, run_cli
from utils.io import atomic_path

FAMILIES = ("brain", "knee")
SEQUENCES = ("T1", "T2")
SPLITS = ("train", "val", "test")
MIN_SIZE, MAX_SIZE, MAX_SLICES, MAX_COILS, MAX_VOLUMES = 16, 1024, 512, 64, 1000
Z_RANGE = 0.7  # slices sample the volume's z positions -0.7 ... 0.7, whatever their number
ISMRMRD_NS = "http://www.ismrm.org/ISMRMRD"

# Tissue intensities per (family, weighting), before --contrast. Brain T2: CSF bright; T1: CSF dark, white > grey.
TISSUES = {
    ("brain", "T2"): dict(scalp=0.75, skull=0.06, grey=0.55, white=0.38, csf=1.0, lesion=0.9),
    ("brain", "T1"): dict(scalp=0.9, skull=0.06, grey=0.45, white=0.7, csf=0.12, lesion=0.25),
    ("knee", "PD"): dict(fat=0.85, muscle=0.35, fluid=0.55, cartilage=0.9, cortex=0.04, marrow=0.75),
    ("knee", "T1"): dict(fat=0.95, muscle=0.3, fluid=0.15, cartilage=0.45, cortex=0.04, marrow=0.9),
    ("knee", "T2"): dict(fat=0.6, muscle=0.22, fluid=1.0, cartilage=0.4, cortex=0.04, marrow=0.35),
}
DEFAULT_WEIGHTING = {"brain": "T2", "knee": "PD"}
FAMILY_CODE = {"brain": 1, "knee": 2}


# ---------------------------------------------------------------- centred orthonormal FFT (fastMRI's fftc, numpy)

def fft2c(image: np.ndarray) -> np.ndarray:
    """fftshift(fft2(ifftshift(x), norm="ortho")) over the last two axes, as datasets.mri.transforms.fft2c."""
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=axes), norm="ortho"), axes=axes)


def ifft2c(kspace: np.ndarray) -> np.ndarray:
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), norm="ortho"), axes=axes)


# ---------------------------------------------------------------- soft-edged shapes on a grid in [-1, 1]²

def _grid(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """x (columns) and y (rows, downwards) of pixel centres in [-1, 1], and the pixel width."""
    pixel = 2.0 / size
    c = (np.arange(size) - size / 2 + 0.5) * pixel
    y, x = np.meshgrid(c, c, indexing="ij")
    return x, y, pixel


def _rotate(u: np.ndarray, v: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(angle), math.sin(angle)
    return c * u + s * v, -s * u + c * v


def _ellipse(u, v, a, b, pixel: float) -> np.ndarray | float:
    """Anti-aliased indicator of the ellipse (u/a)² + (v/b)² ≤ 1 (axes may be arrays: wavy boundaries)."""
    if np.any(np.asarray(a) <= 0) or np.any(np.asarray(b) <= 0):
        return 0.0
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    return np.clip((1 - rho) * np.minimum(a, b) / pixel + 0.5, 0.0, 1.0)


def _capsule(u, v, y0: float, y1: float, radius: float, pixel: float, x0: float = 0.0) -> np.ndarray | float:
    """Anti-aliased rounded vertical bar: points within `radius` of the segment (x0, y0)-(x0, y1)."""
    if radius <= 0:
        return 0.0
    dist = np.hypot(u - x0, v - np.clip(v, y0, y1))
    return np.clip((radius - dist) / pixel + 0.5, 0.0, 1.0)


def _paint(image: np.ndarray, mask, value) -> None:
    """Lay a tissue over what is there, in place: image ← image·(1 − mask) + value·mask."""
    image += mask * (value - image)


def _draw_field(rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    freqs = rng.uniform(0.5, 2.5, (n, 3)) * rng.choice([-1.0, 1.0], (n, 3))
    return freqs, rng.uniform(0, 2 * np.pi, n), rng.uniform(0.5, 1.0, n)


def _field(params, u: np.ndarray, v: np.ndarray, z: float) -> np.ndarray:
    """A smooth random field in [-1, 1], continuous in (u, v, z)."""
    freqs, phases, amps = params
    out = np.zeros_like(u)
    for (fu, fv, fz), phase, amp in zip(freqs, phases, amps):
        out += amp * np.cos(2 * np.pi * (fu * u + fv * v + fz * z) + phase)
    return out / amps.sum()


def _visible(z: float, centre: float, half_width: float) -> float:
    """How much of a roundish structure centred at slice position `centre` shows at z: 1 at the centre, 0 outside."""
    return math.sqrt(max(0.0, 1 - ((z - centre) / half_width) ** 2))


# ---------------------------------------------------------------- brain: nested ellipses

def _draw_brain(rng: np.random.Generator) -> dict:
    u = rng.uniform
    return dict(
        cx=u(-0.05, 0.05), cy=u(-0.05, 0.05), angle=u(-0.15, 0.15), ax=u(0.62, 0.74), ay=u(0.78, 0.9),
        scalp=u(0.04, 0.06), skull=u(0.03, 0.05), white=u(0.62, 0.75),
        vent_x=u(0.05, 0.09), vent_y=u(-0.08, 0.02), vent_a=u(0.04, 0.07), vent_b=u(0.15, 0.22),
        vent_angle=u(0.15, 0.4), vent_z=u(-0.15, 0.15),
        lesions=[(u(0, 2 * np.pi), math.sqrt(u(0, 1)) * 0.6, u(0.03, 0.08), u(-0.6, 0.6))
                 for _ in range(rng.integers(0, 4))],
        texture=_draw_field(rng), boundary=_draw_field(rng),
    )


def _brain_slice(p: dict, z: float, x: np.ndarray, y: np.ndarray, pixel: float, t: dict) -> np.ndarray:
    """Scalp ring (bright), skull (dark), grey matter, wavy white matter, two ventricles and a few lesions."""
    u, v = _rotate(x - p["cx"], y - p["cy"], p["angle"])
    shrink = math.sqrt(1 - (z / 1.1) ** 2)
    image = np.zeros_like(x)
    ax, ay = p["ax"] * shrink, p["ay"] * shrink
    _paint(image, _ellipse(u, v, ax, ay, pixel), t["scalp"])
    sx, sy = ax - p["scalp"], ay - p["scalp"]
    _paint(image, _ellipse(u, v, sx, sy, pixel), t["skull"])
    bx, by = sx - p["skull"], sy - p["skull"]
    texture = 1 + 0.08 * _field(p["texture"], u, v, z)
    _paint(image, _ellipse(u, v, bx, by, pixel), t["grey"] * texture)
    wavy = p["white"] * (1 + 0.12 * _field(p["boundary"], u, v, z))
    _paint(image, _ellipse(u, v, bx * wavy, by * wavy, pixel), t["white"] * texture)
    show = _visible(z, p["vent_z"], 0.45)
    for side in (-1, 1):
        uu, vv = _rotate(u - side * p["vent_x"], v - p["vent_y"], side * p["vent_angle"])
        _paint(image, _ellipse(uu, vv, p["vent_a"] * show, p["vent_b"] * show, pixel), t["csf"])
    for phi, r, radius, zl in p["lesions"]:
        rz = radius * _visible(z, zl, 3 * radius)
        _paint(image, _ellipse(u - r * bx * math.cos(phi), v - r * by * math.sin(phi), rz, rz, pixel), t["lesion"])
    return image


# ---------------------------------------------------------------- knee: rounded bars

def _draw_knee(rng: np.random.Generator) -> dict:
    u = rng.uniform
    return dict(
        x0=u(-0.08, 0.08), yj=u(-0.1, 0.1), angle=u(-0.1, 0.1), leg=u(0.78, 0.9), fat=u(0.05, 0.09),
        gap=u(0.03, 0.05), femur_r=u(0.2, 0.26), cond_a=u(0.4, 0.48), cond_b=u(0.14, 0.18),
        tibia_r=u(0.19, 0.24), plat_a=u(0.4, 0.48), plat_b=u(0.1, 0.14), cortex=u(0.02, 0.03),
        cartilage=u(0.025, 0.04), patella_side=rng.choice([-1.0, 1.0]), patella_z=u(0.3, 0.5),
        patella_a=u(0.1, 0.14), patella_b=u(0.15, 0.2), fibula_side=rng.choice([-1.0, 1.0]),
        blobs=[(rng.choice([-1.0, 1.0]) * u(0.55, 0.9), u(-0.9, 0.9), u(0.05, 0.14), u(0.04, 0.1), u(0, np.pi),
                u(-0.6, 0.6)) for _ in range(rng.integers(3, 6))],
        texture=_draw_field(rng),
    )


def _bone(image, u, v, pixel, t, cortex: float, shapes) -> None:
    """A bone: a dark cortex around fatty marrow; `shapes` are (kind, args) drawn as their union."""
    for thickness, value in ((0.0, t["cortex"]), (cortex, t["marrow"])):
        for kind, args in shapes:
            if kind == "capsule":
                y0, y1, r, x0 = args
                _paint(image, _capsule(u, v, y0, y1, r - thickness, pixel, x0), value)
            else:
                cy, a, b = args
                _paint(image, _ellipse(u, v - cy, a - thickness, b - thickness, pixel), value)


def _knee_slice(p: dict, z: float, x: np.ndarray, y: np.ndarray, pixel: float, t: dict) -> np.ndarray:
    """Coronal knee: fat-lined leg, fat blobs in muscle, femur over tibia with cartilage caps across a joint gap."""
    u, v = _rotate(x - p["x0"], y - p["yj"], p["angle"])
    leg = p["leg"] * math.sqrt(1 - (z / 1.2) ** 2)
    bone = math.sqrt(max(0.2, 1 - (z / 0.9) ** 2))
    image = np.zeros_like(x)
    _paint(image, _capsule(u, v, -3, 3, leg, pixel), t["fat"])
    muscle = t["muscle"] * (1 + 0.06 * _field(p["texture"], u, v, z))
    _paint(image, _capsule(u, v, -3, 3, leg - p["fat"], pixel), muscle)
    for bx, by, a, b, angle, zb in p["blobs"]:
        show = _visible(z, zb, 0.5)
        uu, vv = _rotate(u - bx * leg, v - by, angle)
        _paint(image, _ellipse(uu, vv, a * show, b * show, pixel), t["fat"])
    half_gap, cart = p["gap"] / 2, p["cartilage"]
    cond_a, plat_a = p["cond_a"] * bone, p["plat_a"] * bone
    _paint(image, _ellipse(u, v, min(cond_a, plat_a) * 0.9, half_gap + 0.04, pixel), t["fluid"])
    femur_y = -(half_gap + cart + p["cond_b"])     # condyles' centre, above the joint (v grows downwards)
    tibia_y = half_gap + cart + p["plat_b"]        # plateau's centre, below it
    _paint(image, _ellipse(u, v - femur_y - 0.6 * cart, cond_a + 0.4 * cart, p["cond_b"] + 0.4 * cart, pixel),
           t["cartilage"])
    _paint(image, _ellipse(u, v - tibia_y + 0.6 * cart, plat_a + 0.4 * cart, p["plat_b"] + 0.4 * cart, pixel),
           t["cartilage"])
    _bone(image, u, v, pixel, t, p["cortex"], [("capsule", (-3, femur_y - p["femur_r"], p["femur_r"] * bone, 0.0)),
                                                ("ellipse", (femur_y, cond_a, p["cond_b"]))])
    _bone(image, u, v, pixel, t, p["cortex"], [("capsule", (tibia_y + p["tibia_r"], 3, p["tibia_r"] * bone, 0.0)),
                                                ("ellipse", (tibia_y, plat_a, p["plat_b"]))])
    fibula = 0.06 * _visible(z, -0.35, 0.35)
    if fibula > p["cortex"]:
        _bone(image, u, v, pixel, t, p["cortex"] / 2,
              [("capsule", (tibia_y + 0.2, 3, fibula, p["fibula_side"] * plat_a * 0.8))])
    show = _visible(z, p["patella_z"], 0.3)
    if show * p["patella_a"] > p["cortex"]:
        centre = femur_y - p["cond_b"] - 0.6 * p["patella_b"]
        _bone(image, u - p["patella_side"] * 0.06, v, pixel, t, p["cortex"],
              [("ellipse", (centre, p["patella_a"] * show, p["patella_b"] * show))])
    return image


_ANATOMY = {"brain": (_draw_brain, _brain_slice), "knee": (_draw_knee, _knee_slice)}


# ---------------------------------------------------------------- phase, coils, header

def _phase(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, zs: np.ndarray) -> np.ndarray:
    """Smooth random phase per slice: a quadratic in (x, y) whose coefficients move linearly with z."""
    basis = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y])
    size = np.array([np.pi, 1.5, 1.5, 0.8, 0.8, 0.8])
    c0, c1 = rng.uniform(-1, 1, 6) * size, rng.uniform(-0.5, 0.5, 6) * size
    return np.einsum("sk,khw->shw", c0 + zs[:, None] * c1, basis)


def coil_maps(rng: np.random.Generator, coils: int, size: int) -> np.ndarray:
    """(coils, H, W) complex sensitivities: Gaussian bumps centred around the field of view, each with a phase ramp,
    scaled so that their root-sum-of-squares peaks at 1."""
    x, y, _ = _grid(size)
    angles = 2 * np.pi * (np.arange(coils) + rng.uniform(-0.2, 0.2, coils)) / coils + rng.uniform(0, 2 * np.pi)
    radius, width = rng.uniform(1.0, 1.3, coils), rng.uniform(0.7, 1.0, coils)
    ramp, offset = rng.uniform(-np.pi / 2, np.pi / 2, (coils, 2)), rng.uniform(0, 2 * np.pi, coils)
    cx, cy = (radius * np.cos(angles))[:, None, None], (radius * np.sin(angles))[:, None, None]
    magnitude = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width[:, None, None] ** 2))
    phase = offset[:, None, None] + ramp[:, 0, None, None] * x + ramp[:, 1, None, None] * y
    maps = magnitude * np.exp(1j * phase)
    return maps / np.sqrt((np.abs(maps) ** 2).sum(0)).max()


def ismrmrd_header(height: int, width: int, slices: int) -> str:
    """The ISMRMRD XML fastMRI's SliceDataset reads: matrix sizes, and phase-encode limits with centre W // 2 and
    maximum W − 1, so its padding (enc_y // 2 − centre, … + maximum + 1) is (0, W)."""
    def matrix(x: int, y: int, fov: float) -> str:
        return (f"<matrixSize><x>{x}</x><y>{y}</y><z>1</z></matrixSize>"
                f"<fieldOfView_mm><x>{fov:.1f}</x><y>{fov * y / x:.1f}</y><z>3.0</z></fieldOfView_mm>")

    def limit(name: str, maximum: int, centre: int) -> str:
        return f"<{name}><minimum>0</minimum><maximum>{maximum}</maximum><center>{centre}</center></{name}>"

    return (f'<?xml version="1.0" encoding="utf-8"?>\n<ismrmrdHeader xmlns="{ISMRMRD_NS}"><encoding>'
            f"<encodedSpace>{matrix(height, width, 220.0)}</encodedSpace>"
            f"<reconSpace>{matrix(height, width, 220.0)}</reconSpace>"
            f"<encodingLimits>{limit('kspace_encoding_step_1', width - 1, width // 2)}"
            f"{limit('kspace_encoding_step_2', 0, 0)}{limit('slice', slices - 1, slices // 2)}</encodingLimits>"
            f"<trajectory>cartesian</trajectory></encoding></ismrmrdHeader>")


def acquisition(family: str, sequence: str | None = None) -> str:
    weighting = sequence or DEFAULT_WEIGHTING[family]
    return f"AX{weighting}" if family == "brain" else f"COR{weighting}_FBK"


# ---------------------------------------------------------------- one volume, one dataset

def write_volume(path: str | os.PathLike, family: str, slices: int, size: int, coils: int, rng: np.random.Generator,
                 noise: float = 0.01, contrast: float = 1.0, scale: float = 5e-4, sequence: str | None = None,
                 patient_id: str | None = None) -> Path:
    """Write one random phantom volume to `path` (atomically) in fastMRI's h5 format.

    The magnitude is normalised to a volume max of 1, raised to `contrast`, and multiplied by `scale`; complex
    Gaussian noise of std `noise` × RMS(k-space) is added to k-space; the target is computed from the stored k-space.
    """
    path = Path(path)
    draw, render = _ANATOMY[family]
    tissue = TISSUES[family, sequence or DEFAULT_WEIGHTING[family]]
    x, y, pixel = _grid(size)
    zs = np.linspace(-Z_RANGE, Z_RANGE, slices) if slices > 1 else np.zeros(1)
    anatomy = draw(rng)
    magnitude = np.stack([render(anatomy, z, x, y, pixel, tissue) for z in zs])
    magnitude = (magnitude / magnitude.max()) ** contrast
    image = scale * magnitude * np.exp(1j * _phase(rng, x, y, zs))
    if coils > 1:
        image = image[:, None] * coil_maps(rng, coils, size)[None]
    kspace = fft2c(image)
    sigma = noise * np.sqrt(np.mean(np.abs(kspace) ** 2))
    kspace = kspace + sigma / math.sqrt(2) * (rng.standard_normal(kspace.shape)
                                              + 1j * rng.standard_normal(kspace.shape))
    kspace = kspace.astype(np.complex64)
    recon = np.abs(ifft2c(kspace.astype(np.complex128)))
    target = (np.sqrt((recon ** 2).sum(1)) if coils > 1 else recon).astype(np.float32)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset("ismrmrd_header", data=np.bytes_(ismrmrd_header(size, size, slices).encode()))
            hf.create_dataset("kspace", data=kspace)
            hf.create_dataset("reconstruction_rss" if coils > 1 else "reconstruction_esc", data=target)
            hf.attrs["acquisition"] = acquisition(family, sequence)
            hf.attrs["max"] = float(target.max())
            hf.attrs["norm"] = float(np.linalg.norm(target))
            hf.attrs["patient_id"] = patient_id or hashlib.sha256(path.stem.encode()).hexdigest()
    return path


def volume_name(family: str, split: str, index: int, seed: int, sequence: str | None = None) -> str:
    """fastMRI-like names; the 6 digits are split, seed mod 100 and index, so a run's names are unique across splits."""
    number = f"{SPLITS.index(split)}{seed % 100:02d}{index:03d}"
    return f"file_brain_{acquisition(family, sequence)}_{number}.h5" if family == "brain" else f"file1{number}.h5"


def _name_pattern(family: str, sequence: str | None) -> str:
    return f"file_brain_{acquisition(family, sequence)}_*.h5" if family == "brain" else "file1*.h5"


def split_dirs(out: str | os.PathLike, sequence: str | None = None) -> dict[str, Path]:
    root = Path(out) / sequence if sequence else Path(out)
    return {split: root / split for split in SPLITS}


def check_args(family: str, volumes: int, slices: int, size: int, coils: int, seed: int, val_volumes: int,
               test_volumes: int, sequence: str | None, noise: float, contrast: float, scale: float) -> None:
    """Refuse what cannot make a sensible dataset, before anything is written."""
    if family not in FAMILIES:
        raise UserError(f"unknown family {family!r}; choose one of: {', '.join(FAMILIES)}")
    if sequence is not None and sequence not in SEQUENCES:
        raise UserError(f"--sequence {sequence!r}: choose one of {', '.join(SEQUENCES)}")
    for flag, value, top in (("--volumes", volumes, MAX_VOLUMES), ("--val_volumes", val_volumes, MAX_VOLUMES),
                             ("--test_volumes", test_volumes, MAX_VOLUMES), ("--slices", slices, MAX_SLICES),
                             ("--coils", coils, MAX_COILS)):
        if not isinstance(value, (int, np.integer)) or not 1 <= value <= top:
            raise UserError(f"{flag} {value}: must be a whole number from 1 to {top}")
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"--size {size}: must be a whole number from {MIN_SIZE} to {MAX_SIZE} (pixels per side)")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"--seed {seed}: must be a whole number, 0 or more")
    for flag, value, ok in (("--noise", noise, noise >= 0), ("--contrast", contrast, contrast > 0),
                            ("--scale", scale, scale > 0)):
        if not (math.isfinite(value) and ok):
            bound = "0 or more" if flag == "--noise" else "above 0"
            raise UserError(f"{flag} {value}: must be a finite number, {bound}")


def generate(out: str | os.PathLike, family: str, volumes: int, slices: int, size: int, coils: int = 1, seed: int = 0,
             val_volumes: int | None = None, test_volumes: int | None = None, sequence: str | None = None,
             noise: float = 0.01, contrast: float = 1.0, scale: float = 5e-4, overwrite: bool = False) -> list[Path]:
    """Write `volumes` training volumes and val / test volumes (default max(1, volumes // 4) each) under `out`.

    A split folder that already holds .h5 files is refused unless `overwrite`; then this family's files there (same
    name pattern) are replaced, so the split holds exactly this run's volumes of the family, and other files are kept.
    """
    val_volumes = max(1, volumes // 4) if val_volumes is None else val_volumes
    test_volumes = max(1, volumes // 4) if test_volumes is None else test_volumes
    check_args(family, volumes, slices, size, coils, seed, val_volumes, test_volumes, sequence, noise, contrast, scale)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the {'/'.join(SPLITS)} splits")
    dirs = split_dirs(out, sequence)
    for folder in dirs.values():
        if folder.is_dir() and any(folder.glob("*.h5")) and not overwrite:
            raise UserError(f"{folder} already holds .h5 files; pass --overwrite to replace this family's volumes, "
                            f"or choose another --out")
    counts = {"train": volumes, "val": val_volumes, "test": test_volumes}
    written = []
    for split, folder in dirs.items():
        folder.mkdir(parents=True, exist_ok=True)
        names = [volume_name(family, split, i, seed, sequence) for i in range(counts[split])]
        for stale in folder.glob(_name_pattern(family, sequence)):
            if stale.name not in names:
                stale.unlink()
        for index, name in enumerate(names):
            rng = np.random.default_rng([seed, FAMILY_CODE[family], SPLITS.index(split), index])
            patient = hashlib.sha256(f"{family}/{seed}/{split}/{index}".encode()).hexdigest()
            written.append(write_volume(folder / name, family, slices, size, coils, rng, noise=noise,
                                        contrast=contrast, scale=scale, sequence=sequence, patient_id=patient))
    return written


def build_parser() -> Parser:
    p = Parser(prog="python -m datasets.mri.phantoms", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True,
                   help="dataset folder: OUT/{train,val,test}/ (OUT/{T1|T2}/... with --sequence)")
    p.add_argument("--family", required=True, choices=FAMILIES, help="brain: nested ellipses; knee: rounded bars")
    p.add_argument("--volumes", type=positive_int, default=16, help="training volumes (default 16)")
    p.add_argument("--val_volumes", type=positive_int, default=None, help="default max(1, volumes // 4)")
    p.add_argument("--test_volumes", type=positive_int, default=None, help="default max(1, volumes // 4)")
    p.add_argument("--slices", type=positive_int, default=8, help="slices per volume (default 8)")
    p.add_argument("--size", type=int, default=64, help=f"image side in pixels, {MIN_SIZE}..{MAX_SIZE} (default 64)")
    p.add_argument("--coils", type=positive_int, default=1,
                   help="1 = single-coil (kspace (S,H,W), reconstruction_esc); more = multi-coil (kspace (S,C,H,W), "
                        "reconstruction_rss) (default 1)")
    p.add_argument("--sequence", choices=SEQUENCES, default=None,
                   help="write OUT/{T1|T2}/{train,val,test} (FL-MRCM) with that contrast; default: brain T2, knee PD")
    p.add_argument("--noise", type=non_negative_float, default=0.01,
                   help="complex Gaussian k-space noise std, relative to the k-space RMS (default 0.01)")
    p.add_argument("--contrast", type=positive_float, default=1.0,
                   help="gamma on the normalised magnitude, so sites can differ in contrast (default 1)")
    p.add_argument("--scale", type=positive_float, default=5e-4,
                   help="volume magnitude max, like fastMRI's (default 5e-4)")
    p.add_argument("--seed", type=int, default=0, help="0 or more (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace this family's volumes in non-empty split folders")
    return p


def main(argv=None) -> list[Path]:
    args = build_parser().parse_args(argv)
    paths = generate(args.out, args.family, args.volumes, args.slices, args.size, coils=args.coils, seed=args.seed,
                     val_volumes=args.val_volumes, test_volumes=args.test_volumes, sequence=args.sequence,
                     noise=args.noise, contrast=args.contrast, scale=args.scale, overwrite=args.overwrite)
    per_split = {split: sum(p.parent.name == split for p in paths) for split in SPLITS}
    with h5py.File(paths[0], "r") as hf:
        shape, target = hf["kspace"].shape, "reconstruction_rss" if args.coils > 1 else "reconstruction_esc"
    maxima = []
    for path in paths:
        with h5py.File(path, "r") as hf:
            maxima.append(float(hf.attrs["max"]))
    root = split_dirs(args.out, args.sequence)["train"].parent
    print(f"wrote {len(paths)} {args.family} volumes ({', '.join(f'{s} {n}' for s, n in per_split.items())}) to "
          f"{root}/{{{','.join(SPLITS)}}}/: kspace {shape} complex64, {target}, "
          f"max {min(maxima):.3g}..{max(maxima):.3g}")
    return paths


if __name__ == "__main__":
    run_cli(main)
