"""--mri_aug: training slices in random orientations, their k-space measured anew, seeded like the masks."""
import pytest
import torch

from datasets.mri.data import ReconData
from datasets.mri.phantoms import generate
from datasets.mri.subsample import MaskFunc
from datasets.mri.transforms import fft2c, flip_transpose, ifft2c
from tests.conftest import expect_user_error


def test_the_kspace_is_the_turned_images_and_the_target_turns_with_it():
    torch.manual_seed(0)
    image = torch.rand(8, 8)
    kspace, target = flip_transpose(fft2c(image.to(torch.complex64)), image, (True, False), True)
    assert torch.equal(target, image.flip(-2).T)
    assert torch.allclose(ifft2c(kspace).real, target, atol=1e-6) and ifft2c(kspace).imag.abs().max() < 1e-6
    same, _ = flip_transpose(fft2c(image.to(torch.complex64)), image, (False, False), False)
    assert torch.allclose(same, fft2c(image.to(torch.complex64)))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> ReconData:
    root = tmp_path_factory.mktemp("aug") / "brain"
    generate(root, "brain", volumes=1, slices=4, size=16, seed=3)
    return ReconData({"brain": root}, MaskFunc("random", (0.25,), (2.0,)), seed=5)


def targets(dataset, epoch: int) -> list[torch.Tensor]:
    dataset.set_epoch(epoch)
    return [dataset[i].target for i in range(len(dataset))]


def test_augmented_slices_are_turned_targets_seeded_per_epoch(data):
    plain = targets(data.slices("train", "image", train=True), 0)
    turned = targets(data.slices("train", "image", train=True, augment=True), 0)
    orientations = [lambda t: t, lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.flip(-2, -1)]
    orientations += [lambda t, f=f: f(t).T for f in orientations]
    for before, after in zip(plain, turned):  # each is one of the 8 orientations of the plain target
        assert any(torch.equal(f(before), after) for f in orientations)
    assert any(not torch.equal(a, b) for a, b in zip(plain, turned))
    again = data.slices("train", "image", train=True, augment=True)
    assert all(torch.equal(a, b) for a, b in zip(turned, targets(again, 0)))  # same seed, epoch: same slices
    assert any(not torch.equal(a, b) for a, b in zip(turned, targets(again, 1)))


def test_evaluation_slices_are_never_turned(data):
    val = data.slices("val", "image", augment=True)
    assert not val.augment


def test_mri_aug_is_refused_where_it_does_not_apply(cli, tmp_path):
    import main_train
    expect_user_error(cli(main_train.main, "--dataset", "Digits", "--mri_aug", "--model_dir", str(tmp_path)),
                      "--mri_aug augments reconstruction training")
    assert not any(tmp_path.iterdir())
