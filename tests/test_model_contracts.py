"""Models declare their classifier head and their blocks (timm's pretrained_cfg['classifier'] / feature_info), and
methods read the declaration instead of guessing."""
import pytest
import torch
from torch import nn

import models
from utils.errors import UserError


@pytest.mark.parametrize("arch, head", [("smallcnn", "fc"), ("resnet18", "fc"), ("mobilenet_v3_small", "net.classifier.3")])
def test_classifiers_declare_their_head_and_blocks_that_end_in_it(arch, head):
    model = models.create_model(arch, 4, 1)
    assert models.classifier_name(model) == head and isinstance(models.classifier(model), nn.Linear)
    names = [name for name, _ in models.blocks(model)]
    assert names[-1].startswith(head.rsplit(".", 1)[0]) and len(names) >= 4


def test_reconstruction_networks_declare_blocks_and_no_head():
    unet = models.create_model("unet", in_channels=1, chans=4, num_pool_layers=2)
    assert [n for n, _ in models.blocks(unet)][:3] == ["down_sample_layers.0", "down_sample_layers.1", "conv"]
    with pytest.raises(UserError, match="no classifier head"):
        models.classifier_name(unet)


def test_an_undeclared_model_is_refused_not_guessed():
    with pytest.raises(UserError, match="declares no head and blocks"):
        models.classifier_name(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="does not have: head"):
        models.declare(nn.Sequential(nn.Linear(4, 2)), "head", ["0"])


def test_the_declared_head_is_the_one_a_method_widens():
    from unlearn.boundary_expanding import widen_head
    model = models.create_model("smallcnn", 3, 1)
    widen_head(model, models.classifier_name(model), 3)
    assert models.classifier(model).out_features == 4 and model(torch.zeros(1, 1, 8, 8)).shape == (1, 4)


# ---- method knobs: declared once in unlearn/knobs.py, flags generated from there ----

def test_every_declared_knob_is_a_flag_and_every_registered_knob_is_declared():
    import unlearn
    from arg_parser import build_parser
    from unlearn.knobs import KNOBS
    options = build_parser("unlearning")._option_string_actions
    assert all(f"--{knob.flag}" in options for knob in KNOBS.values())
    for (_, _), method in unlearn._METHODS.items():
        assert set(method.defaults) - {"from_parent"} <= set(KNOBS), method.name


def test_a_method_registering_an_undeclared_knob_is_refused():
    import unlearn
    with pytest.raises(ValueError, match="declares warmth, not knobs"):
        unlearn.register("Toy", warmth=1)


def test_a_newly_declared_knob_overrides_its_methods_default():
    import argparse

    import unlearn
    method = unlearn.get_method("wfisher")
    hp = unlearn.resolve_hparams(method, argparse.Namespace(seed=0, wfisher_samples=8), {"args": {}})
    assert hp["samples"] == 8 and hp["damping"] == 1.0 and "--wfisher_samples" in unlearn.knob_flags(method)
