import pytest
import torch

import models
from utils.errors import UserError


@pytest.mark.parametrize("name", [n for n in models.available() if n not in ("unet", "varnet")])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_every_registered_model_builds_and_runs_forward(name, in_channels):
    model = models.create_model(name, num_classes=7, in_channels=in_channels).eval()
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, 28, 28)).shape == (2, 7)


def test_small_image_stem_keeps_resolution_and_imagenet_stem_is_torchvision():
    small = models.create_model("resnet18", 5, 3)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.Identity)
    big = models.create_model("resnet50", 5, 1, imagenet_arch=True)
    assert big.conv1.kernel_size == (7, 7) and big.conv1.in_channels == 1
    assert isinstance(big.maxpool, torch.nn.MaxPool2d)
    assert big(torch.randn(2, 1, 64, 64)).shape == (2, 5)


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "squeezenet1_0"])
def test_any_torchvision_classifier_by_name_also_on_grey_images(name):
    model = models.create_model(name, num_classes=4, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 64, 64)).shape == (2, 4)


def test_unknown_arch_lists_the_valid_names():
    with pytest.raises(UserError, match="resnet18.*smallcnn"):
        models.create_model("resnet19", 10)


def test_pretrained_copies_matching_weights_and_keeps_a_new_head(tmp_path):
    source = models.create_model("smallcnn", 10, 1)
    torch.save({"state_dict": source.state_dict(), "meta": {}}, tmp_path / "src.pt")
    target = models.create_model("smallcnn", 3, 1)
    skipped = models.load_pretrained(target, str(tmp_path / "src.pt"))
    assert skipped == ["fc.bias", "fc.weight"]
    assert torch.equal(target.features[0][0].weight, source.features[0][0].weight)
    with pytest.raises(UserError, match="none of its weights fit"):
        models.load_pretrained(models.create_model("resnet18", 3, 3), str(tmp_path / "src.pt"))
    with pytest.raises(UserError, match=r"none of its weights fit this model \(only fc.bias of the classifier head"):
        models.load_pretrained(models.create_model("resnet18", 10, 3), str(tmp_path / "src.pt"))  # fc.bias: 10 = 10
