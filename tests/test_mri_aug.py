"""--mri_aug and --mri_aug_affine: training slices in random orientations, rotated, zoomed and moved, their k-space
measured anew, seeded like the masks."""
import pytest
import torch

from datasets.mri.data import ReconData
from datasets.mri.phantoms import generate
from datasets.mri.subsample import MaskFunc
from datasets.mri.transforms import affine, center_crop, fft2c, flip_transpose, ifft2c
from tests.conftest import expect_user_error


def test_the_kspace_is_the_turned_images_and_the_target_turns_with_it():
    torch.manual_seed(0)
    image = torch.rand(8, 8)
    kspace, target = flip_transpose(fft2c(image.to(torch.complex64)), image, (True, False), True)
    assert torch.equal(target, image.flip(-2).T)
    assert torch.allclose(ifft2c(kspace).real, target, atol=1e-6) and ifft2c(kspace).imag.abs().max() < 1e-6
    same, _ = flip_transpose(fft2c(image.to(torch.complex64)), image, (False, False), False)
    assert torch.allclose(same, fft2c(image.to(torch.complex64)))


def test_affine_turns_and_moves_the_image_and_its_target_in_pixels():
    torch.manual_seed(0)
    image = torch.rand(8, 8)
    kspace, target = affine(fft2c(image.to(torch.complex64)), image, 90, 1.0, (0.0, 0.0))
    assert torch.allclose(target, torch.rot90(image, 1, (-2, -1)), atol=1e-6)
    assert torch.allclose(ifft2c(kspace).real, target, atol=1e-5) and ifft2c(kspace).imag.abs().max() < 1e-5
    _, moved = affine(fft2c(image.to(torch.complex64)), image, 0, 1.0, (1.0, 2.0))
    assert torch.allclose(moved[1:, 2:], image[:-1, :-2], atol=1e-6)  # one row down, two columns right
    _, same = affine(fft2c(image.to(torch.complex64)), image, 0, 1.0, (0.0, 0.0))
    assert torch.allclose(same, image, atol=1e-6)


def test_affine_zooms_about_the_centre_and_the_cropped_target_stays_on_the_image():
    image = torch.zeros(16, 12)
    image[6:10, 5:7] = 1.0                                         # a block about the centre (8, 6)
    target = center_crop(image, (10, 10))
    kspace, zoomed = affine(fft2c(image.to(torch.complex64)), target, 30, 1.5, (1.0, -1.0))
    assert torch.allclose(center_crop(ifft2c(kspace).abs(), (10, 10)), zoomed, atol=1e-5)
    assert float(zoomed.sum()) == pytest.approx(float(target.sum()) * 1.5 ** 2, rel=0.1)  # area grows by s²


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


def test_affine_slices_are_seeded_per_epoch_and_off_at_probability_zero(data):
    plain = targets(data.slices("train", "image", train=True), 0)
    assert all(torch.equal(a, b) for a, b in zip(plain, targets(data.slices("train", "image", train=True,
                                                                            affine_p=0.0), 0)))
    moved = targets(data.slices("train", "image", train=True, affine_p=1.0), 0)
    assert all(not torch.allclose(a, b) for a, b in zip(plain, moved))
    again = data.slices("train", "image", train=True, affine_p=1.0)
    assert all(torch.equal(a, b) for a, b in zip(moved, targets(again, 0)))
    assert all(not torch.equal(a, b) for a, b in zip(moved, targets(again, 1)))


def test_evaluation_slices_are_never_turned(data):
    val = data.slices("val", "image", augment=True, affine_p=1.0)
    assert not val.augment and not val.affine_p


def test_mri_aug_is_refused_where_it_does_not_apply(cli, tmp_path):
    import main_train
    expect_user_error(cli(main_train.main, "--dataset", "Digits", "--mri_aug", "--model_dir", str(tmp_path)),
                      "--mri_aug and --mri_aug_affine augment reconstruction training")
    expect_user_error(cli(main_train.main, "--dataset", "Digits", "--mri_aug_affine", "0.5", "--model_dir",
                          str(tmp_path)), "--mri_aug and --mri_aug_affine augment reconstruction training")
    expect_user_error(cli(main_train.main, "--dataset", "Digits", "--mri_aug_affine", "1.5"), "probability")
    assert not any(tmp_path.iterdir())


def test_unlearning_trains_on_slices_augmented_as_the_originals_were(data):
    from unlearn.recon.task import ReconTask, resolve_group
    two = ReconData({"brain": data.roots["brain"], "knee": data.roots["brain"]}, data.mask_func, seed=5)
    for args, expected in (({"mri_aug": True, "mri_aug_affine": 0.5}, (True, 0.5)), ({}, (False, 0.0))):
        task = ReconTask(two, resolve_group(two, "knee"), {"kind": "image", "args": args}, torch.device("cpu"), {})
        assert (task.train_slices.augment, task.train_slices.affine_p) == expected
