"""Reconstruction end to end on phantoms: training beats the zero-filled input, NL-FT forgets the knee and keeps
the brain, runs repeat exactly, and every user mistake is one line and exit 2 with nothing overwritten."""
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import h5py
import matplotlib.image as plt_image
import pytest
import torch

import examine_dataset
import generate_mask
import main_forget
import main_test
import main_test_unlearn
import main_train
import main_unlearn
from arg_parser import build_parser
from datasets.mri.data import load_recon
from datasets.mri.phantoms import generate
from datasets.mri.samples import VarNetSample
from engine.recon import with_noisy_targets
from engine.recon_loop import evaluate_recon
from engine.recon_report import SliceViewer
from models import load_model
from tests.conftest import expect_user_error, fingerprint

MASK = ["--mask_type", "random", "--accelerations", "4", "--center_fractions", "0.08"]
NET = ["--arch", "unet", "--chans", "16", "--num_pool_layers", "3"]


@pytest.fixture(scope="module")
def recon(tmp_path_factory):
    """Brain and knee phantoms, a U-Net trained on both (the Original) and its --json test report."""
    work = tmp_path_factory.mktemp("recon")
    for family, seed in (("brain", 1), ("knee", 2)):
        generate(work / family, family, volumes=8, slices=8, size=64, seed=seed)
    groups = ["--train_groups", f"brain:{work / 'brain'},knee:{work / 'knee'}", *MASK,
              "--model_dir", str(work / "model_weights"), "--runs_dir", str(work / "runs")]
    main_train.main([*groups, *NET, "--save_model_id", "orig", "--epochs", "15", "--batch_size", "4"])
    report = main_test.main([*groups, "--model_id", "orig_best", "--no_gui", "--json", str(work / "orig.json")])
    return {"work": work, "groups": groups, "report": report}


def test_trained_unet_beats_the_zero_filled_input_by_3_db(recon):
    groups = recon["report"]["groups"]
    for name in ("brain", "knee"):
        assert groups[name]["psnr"] >= groups[name]["zero_filled"]["psnr"] + 3, groups[name]
    written = json.loads((recon["work"] / "orig.json").read_text())
    assert set(written["groups"]) == {"brain", "knee"}
    assert written["family"] == "reconstruction" and written["label"] == "original" and written["model_id"] == "orig"
    assert {"psnr", "ssim", "nmse"} <= set(written["groups"]["knee"])
    assert (recon["work"] / "runs" / "orig_best" / "reconstructions_test.png").is_file()


def test_examine_dataset_counts_volumes_and_slices_per_group(recon, tmp_path):
    counts = examine_dataset.main([*recon["groups"], "--no_gui", "--save_fig", str(tmp_path / "data.png")])
    assert counts["brain/train"] == {"volumes": 8, "slices": 64} and counts["knee/test"] == {"volumes": 2, "slices": 16}
    height, width = plt_image.imread(tmp_path / "data.png").shape[:2]
    assert height / width > 0.45, "the figure shows one row per group, brain and knee"  # one row: about 0.3


def unlearn(recon, method: str, *extra: str) -> str:
    return main_unlearn.main([*recon["groups"], "--model_id", "orig_best", "--forget_group", "knee",
                              "--unlearn", method, "--overwrite", *extra])


def test_nl_ft_forgets_the_knee_and_keeps_the_brain(recon):
    out_id = unlearn(recon, "NL_FT", "--retain_ratio", "0.25")
    after = main_test_unlearn.main([*recon["groups"], "--model_id", out_id])["groups"]
    before = recon["report"]["groups"]
    assert after["knee"]["psnr"] <= before["knee"]["psnr"] - 5, (before["knee"], after["knee"])
    assert abs(after["brain"]["psnr"] - before["brain"]["psnr"]) <= 2, (before["brain"], after["brain"])


def test_the_same_seed_gives_the_same_model_and_numbers(recon):
    first = unlearn(recon, "GA_FT")
    weights = torch.load(recon["work"] / "model_weights" / f"{first}.pt", weights_only=True)["state_dict"]
    numbers = main_test_unlearn.main([*recon["groups"], "--model_id", first])["groups"]
    again = unlearn(recon, "GA_FT")
    repeat = torch.load(recon["work"] / "model_weights" / f"{again}.pt", weights_only=True)["state_dict"]
    assert again == first and all(torch.equal(weights[k], repeat[k]) for k in weights)
    assert main_test_unlearn.main([*recon["groups"], "--model_id", again])["groups"] == numbers


def test_retrain_is_the_oracle_and_the_gap_is_reported(recon):
    oracle = unlearn(recon, "retrain", "--unlearn_epochs", "2")
    report = main_test_unlearn.main([*recon["groups"], "--model_id", "orig_best", "--forget_group", "knee",
                                     "--retrain_model_id", oracle])
    assert report["gap"]["knee"]["psnr"] == pytest.approx(abs(report["groups"]["knee"]["psnr"]
                                                              - report["retrain"]["knee"]["psnr"]))
    meta = torch.load(recon["work"] / "model_weights" / f"{oracle}.pt", weights_only=True)["meta"]
    assert meta["forget"]["group"] == "knee" and meta["unlearn"]["hparams"]["epochs"] == 2


def test_salun_mask_keeps_masked_weights_and_main_forget_writes_its_files(recon):
    generate_mask.main([*recon["groups"], "--model_id", "orig_best", "--forget_group", "knee", "--overwrite",
                        "--mask_dir", str(recon["work"] / "SaliencyMaps")])
    save_dir = recon["work"] / "forget_run"
    report = main_forget.main([*recon["groups"], "--model_id", "orig_best", "--forget_group", "knee",
                               "--unlearn", "GA_with_SalUn", "--save_dir", str(save_dir),
                               "--mask_path", str(recon["work"] / "SaliencyMaps" / "orig_best" / "with_0.5.pt")])
    assert set(report["groups"]) == {"brain", "knee"}
    mask = torch.load(recon["work"] / "SaliencyMaps" / "orig_best" / "with_0.5.pt", weights_only=True)
    before = torch.load(recon["work"] / "model_weights" / "orig_best.pt", weights_only=True)["state_dict"]
    after = torch.load(save_dir / "GA_with_SalUncheckpoint.pt", weights_only=True)["state_dict"]
    frozen = [torch.equal(before[k][mask[k] == 0], after[k][mask[k] == 0]) for k in mask]
    moved = [not torch.equal(before[k], after[k]) for k in mask]
    assert all(frozen) and any(moved)
    assert (save_dir / "eval_result.json").is_file()


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(recon, tmp_path):
    tiny = [*recon["groups"][:-4], "--model_dir", str(tmp_path / "mw"), "--runs_dir", str(tmp_path / "runs"),
            "--arch", "unet", "--chans", "4", "--num_pool_layers", "2", "--scheduler", "none"]
    main_train.main([*tiny, "--save_model_id", "whole", "--epochs", "2"])
    main_train.main([*tiny, "--save_model_id", "split", "--epochs", "1"])
    main_train.main([*tiny, "--save_model_id", "split", "--epochs", "2", "--resume"])
    whole = torch.load(tmp_path / "mw" / "whole_last.pt", weights_only=True)
    split = torch.load(tmp_path / "mw" / "split_last.pt", weights_only=True)
    assert all(torch.equal(whole["state_dict"][k], split["state_dict"][k]) for k in whole["state_dict"])
    assert len(split["meta"]["history"]) == 2 and split["optimizer"]["state"]


def test_varnet_trains_tests_and_unlearns_on_multi_coil_data(tmp_path):
    for family, seed in (("brain", 1), ("knee", 2)):
        generate(tmp_path / family, family, volumes=1, slices=2, size=32, coils=3, seed=seed)
    groups = ["--train_groups", f"brain:{tmp_path / 'brain'},knee:{tmp_path / 'knee'}", "--mask_type", "equispaced",
              "--accelerations", "4", "8", "--center-fractions", "0.08", "0.04", "--batch_size", "2",
              "--model_dir", str(tmp_path / "mw"), "--runs_dir", str(tmp_path / "runs")]
    main_train.main([*groups, "--arch", "varnet", "--num_cascades", "2", "--chans", "4", "--num_pool_layers", "2",
                     "--sens_chans", "2", "--sens_pools", "1", "--loss", "ssim_l1", "--epochs", "1",
                     "--save_model_id", "vn", "--num_workers", "2"])
    report = main_test.main([*groups, "--model_id", "vn_best", "--no_gui"])
    knee = report["groups"]["knee"]  # data consistency keeps even a barely trained VarNet near its zero-filled input
    assert set(report["groups"]) == {"brain", "knee"} and knee["psnr"] >= knee["zero_filled"]["psnr"] - 3, knee
    out_id = main_unlearn.main([*groups, "--model_id", "vn_best", "--forget_group", "knee", "--unlearn", "NL_FT",
                                "--unlearn_epochs", "1"])
    assert "knee-retain25_NL_FT" in out_id


def test_viewer_steps_through_slices(recon):
    args = build_parser("data", "model", "system", "output").parse_args(recon["groups"])
    data = load_recon(args)
    model, meta = load_model("orig_best", args.model_dir, data.describe(), torch.device("cpu"))
    examples = evaluate_recon(model, data, "test", meta["kind"], torch.device("cpu"))["examples"]
    viewer = SliceViewer(examples, "test", interactive=False)
    first = viewer.axes[2].images[0].get_array().copy()
    viewer.on_key(SimpleNamespace(key="right"))
    assert viewer.at == 1 and not (viewer.axes[2].images[0].get_array() == first).all()
    viewer.on_key(SimpleNamespace(key="left"))
    viewer.on_key(SimpleNamespace(key="left"))
    assert viewer.at == len(examples) - 1


# ---- bad input: one line on stderr, exit 2, nothing written or overwritten ----

@pytest.fixture
def guarded(recon):
    before = fingerprint(recon["work"] / "model_weights")
    yield recon
    assert fingerprint(recon["work"] / "model_weights") == before


def group_copy(recon, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(recon["work"] / "brain", folder)
    return folder


def test_h5_without_kspace_or_target_names_the_file_and_key(guarded, cli, tmp_path):
    folder = group_copy(guarded, tmp_path, "broken")
    victim = sorted((folder / "train").glob("*.h5"))[0]
    with h5py.File(victim, "a") as f:
        del f["reconstruction_esc"]
    argv = ["--train_groups", f"brain:{folder}", *MASK, "--save_model_id", "x", "--model_dir", str(tmp_path / "mw"),
            "--epochs", "1"]
    expect_user_error(cli(main_train.main, *argv), victim.name, "reconstruction_esc")
    with h5py.File(victim, "a") as f:
        del f["kspace"]
    expect_user_error(cli(main_train.main, *argv), victim.name, "'kspace'")


def test_kspace_and_target_slice_counts_that_differ(guarded, cli, tmp_path):
    folder = group_copy(guarded, tmp_path, "short")
    victim = sorted((folder / "train").glob("*.h5"))[0]
    with h5py.File(victim, "a") as f:
        target = f["reconstruction_esc"][:-1]
        del f["reconstruction_esc"]
        f["reconstruction_esc"] = target
    expect_user_error(cli(main_train.main, "--train_groups", f"brain:{folder}", *MASK, "--save_model_id", "x",
                          "--model_dir", str(tmp_path / "mw")), victim.name, "slices")


def test_centre_fraction_that_leaves_nothing_to_sample(guarded, cli, tmp_path):
    expect_user_error(cli(main_train.main, *guarded["groups"], "--accelerations", "8", "--center_fractions", "0.2",
                          "--save_model_id", "x"), "--center_fractions 0.2", "nothing to sample")


def test_forget_group_not_among_the_groups(guarded, cli):
    expect_user_error(cli(main_unlearn.main, *guarded["groups"], "--model_id", "orig_best", "--forget_group", "liver",
                          "--unlearn", "NL_FT"), "'liver'", "brain, knee")


def test_image_flags_a_share_above_one_and_the_audit_are_refused_on_mri(guarded, cli):
    import main_audit
    forget = [*guarded["groups"], "--model_id", "orig_best", "--forget_group", "knee", "--unlearn", "NL_FT"]
    expect_user_error(cli(main_unlearn.main, *forget, "--class_to_forget", "3"),
                      "--class_to_forget is for image classification", "drop it")
    expect_user_error(cli(main_unlearn.main, *forget, "--retain_ratio", "2"), "--retain_ratio", "share in (0, 1]")
    expect_user_error(cli(main_audit.main, *guarded["groups"], "--model_id", "orig_best"),
                      "main_audit.py audits image classifiers")


def test_empty_group_folder(guarded, cli, tmp_path):
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    expect_user_error(cli(main_train.main, "--train_groups", f"brain:{guarded['work'] / 'brain'},liver:{empty}", *MASK,
                          "--save_model_id", "x", "--model_dir", str(tmp_path / "mw")), "liver", "no .h5")


def test_checkpoints_of_the_other_task_are_refused(guarded, cli, trained_digits):
    digits_dir, digits_id, _ = trained_digits
    expect_user_error(cli(main_test.main, *guarded["groups"], "--model_id",
                          str(digits_dir / "model_weights" / f"{digits_id}.pt")), "classification model",
                      "reconstruction data")
    expect_user_error(cli(main_test.main, "--dataset", "Digits", "--model_id",
                          str(guarded["work"] / "model_weights" / "orig_best.pt")), "reconstruction model",
                      "classification data")


def test_multi_coil_files_given_to_a_single_coil_model(guarded, cli, tmp_path):
    generate(tmp_path / "mc", "brain", volumes=1, slices=2, size=64, coils=4, seed=3)
    expect_user_error(cli(main_test.main, "--train_groups", f"brain:{tmp_path / 'mc'}", *MASK, "--model_id",
                          str(guarded["work"] / "model_weights" / "orig_best.pt")), "singlecoil", "multicoil")
    expect_user_error(cli(main_train.main, "--train_groups", f"brain:{guarded['work'] / 'brain'}", *MASK,
                          "--arch", "varnet", "--save_model_id", "x", "--model_dir", str(tmp_path / "mw")),
                      "varnet needs multi-coil")


def test_each_checkpoint_is_evaluated_once_and_its_picture_kept(recon, capsys, tmp_path):
    oracle = unlearn(recon, "retrain", "--unlearn_epochs", "1")
    args = [*recon["groups"], "--model_id", "orig_best", "--forget_group", "knee", "--retrain_model_id", oracle]
    first = main_test_unlearn.main([*args, "--save_fig", str(tmp_path / "first.png")])
    capsys.readouterr()
    again = main_test_unlearn.main([*args, "--save_fig", str(tmp_path / "again.png")])
    out = capsys.readouterr().out
    assert out.count("evaluated before") == 2 and again == first
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "first.png").read_bytes()
    main_unlearn.main([*recon["groups"], "--model_id", "orig_best", "--forget_group", "knee", "--unlearn", "retrain",
                       "--unlearn_epochs", "1", "--seed", "2", "--overwrite"])  # same id, other weights
    main_test_unlearn.main(args)
    assert capsys.readouterr().out.count("evaluated before") == 1  # the Original only


def test_ga_l1_ascent_weight_scales_the_ascent_step(recon):
    def step(weight: str) -> dict:
        out_id = unlearn(recon, "GA_l1", "--l1_lambda", "0", "--ascent_weight", weight, "--unlearn_optimizer", "sgd",
                         "--unlearn_batch_size", "64", "--unlearn_epochs", "1")
        return torch.load(recon["work"] / "model_weights" / f"{out_id}.pt", weights_only=True)["state_dict"]

    original = torch.load(recon["work"] / "model_weights" / "orig_best.pt", weights_only=True)["state_dict"]
    once, twice = step("1"), step("2")
    name = next(k for k, v in original.items() if v.is_floating_point() and v.dim() == 4)
    torch.testing.assert_close(twice[name] - original[name], 2 * (once[name] - original[name]), rtol=1e-3, atol=1e-7)


def test_noise_scale_absolute_adds_the_noise_as_it_is():
    batch = VarNetSample(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 1, 4), torch.zeros(2), torch.zeros(2, 4, 4),
                         torch.zeros(2, 4, 4), torch.tensor([[4, 4], [4, 4]]), torch.tensor([10.0, 10.0]),
                         torch.zeros(2), torch.zeros(2))
    rows = torch.tensor([True, False])
    relative = with_noisy_targets(batch, rows, 0.5, torch.Generator().manual_seed(0)).target
    absolute = with_noisy_targets(batch, rows, 0.5, torch.Generator().manual_seed(0), relative=False).target
    torch.testing.assert_close(relative, 10 * absolute)
    assert absolute[0].min() >= 0 and absolute[0].max() > 0 and absolute[1].abs().max() == 0


def test_a_method_registered_for_two_families_runs_its_passes_on_an_mri_task(recon):
    """One function, @register(task=(classification, reconstruction)): on an MRI checkpoint its forget pass is
    unlearn.task.optimise's, here one SGD ascent step on the training loss over every forget slice (one batch)."""
    from engine.train_loop import to_device
    from unlearn import _METHODS, available, register
    from unlearn.recon.task import ReconTask
    from unlearn.task import Pass, optimise
    from unlearn.workflow import load_setup

    def ascent(loss):
        def batch_loss(model, batch):
            step = loss(model, batch)
            return step._replace(loss=-step.loss)
        return batch_loss

    @register("two_family_probe", task=("classification", "reconstruction"), salun=False, epochs=1, lr=0.01,
              batch_size=64, optimizer="sgd")
    def probe(model, task):
        return optimise(model, task, [Pass("forget", ascent(task.train_loss()))], desc="probe")

    try:
        assert "two_family_probe" in available("classification") and "two_family_probe" in available("reconstruction")
        flags = [*recon["groups"], "--model_id", "orig_best", "--forget_group", "knee", "--unlearn", "two_family_probe"]
        out_id = main_unlearn.main([*flags, "--overwrite"])
        unlearned = torch.load(recon["work"] / "model_weights" / f"{out_id}.pt", weights_only=True)["state_dict"]
        args = build_parser("data", "model", "unlearning", "system", "output").parse_args(flags)
        setup = load_setup(args)
        task = ReconTask(setup.data, setup.forget, setup.meta, setup.device,
                         {"epochs": 1, "lr": 0.01, "batch_size": 64, "optimizer": "sgd", "seed": args.seed}, show=False)
        batches = list(task.loader("forget"))
        assert len(batches) == 1 and len(batches[0].target) == len(setup.forget.indices)
        model = setup.model.train()
        task.train_loss()(model, to_device(batches[0], setup.device)).loss.backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(unlearned[name], p.detach() + 0.01 * p.grad, rtol=1e-4, atol=1e-6)
    finally:
        for family in ("classification", "reconstruction"):
            _METHODS.pop((family, "two_family_probe"), None)
