"""The command line: every script's --help answers without importing torch and gives each family's defaults and
architectures, reconstruction models build without torchvision, flags are never abbreviated, and FL-MRCM's flags
are taken with their meaning or refused naming ours."""
import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

import examine_dataset
import generate_mask
import main_audit
import main_forget
import main_test
import main_test_unlearn
import main_train
import main_tune
import main_unlearn
from arg_parser import ARCHS, PARENT, PARENT_KNOBS, method_defaults
from engine.family import FAMILY_DEFAULTS
from tests.conftest import expect_user_error

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"main_train.py": main_train, "main_test.py": main_test, "main_unlearn.py": main_unlearn,
           "main_forget.py": main_forget, "main_test_unlearn.py": main_test_unlearn, "generate_mask.py": generate_mask,
           "examine_dataset.py": examine_dataset, "main_tune.py": main_tune, "main_audit.py": main_audit}
# runs a script's --help in a fresh interpreter, then says on stderr whether torch was imported
HELP_PROBE = ("import runpy, sys; sys.argv = [{script!r}, '--help']\n"
              "try:\n    runpy.run_path({script!r}, run_name='__main__')\n"
              "except SystemExit as stop:\n    code = stop.code\n"
              "print('torch imported:', 'torch' in sys.modules, 'exit:', code, file=sys.stderr)")


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def help_text(script: str) -> str:
    run = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return " ".join(run.stdout.split())  # help wraps lines: compare on single spaces


# ---- start-up and help ----

@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_without_importing_torch_and_lists_every_architecture(script):
    run = python(HELP_PROBE.format(script=script))
    assert run.returncode == 0 and "torch imported: False exit: 0" in run.stderr, run.stderr
    assert "usage:" in run.stdout
    if "--arch" in run.stdout:
        for arch in (*ARCHS["classification"], *ARCHS["reconstruction"], "torchvision"):
            assert arch in run.stdout, arch


@pytest.mark.parametrize("script", ["main_train.py", "main_unlearn.py"])
def test_help_speaks_of_methods_and_papers_not_seed_numbers(script):
    assert not re.search(r"seed[ -]?0\d\d", help_text(script), re.IGNORECASE)


def test_training_help_gives_each_familys_defaults():
    text = help_text("main_train.py")
    assert "(default resnet18)" in text and "(default unet)" in text
    for family, defaults in FAMILY_DEFAULTS.items():
        for value in defaults.values():
            assert f"{family} {value:g}" in text if isinstance(value, float) else f"{family} {value}" in text
    assert "classification 50, reconstruction 8" in text and "reconstruction adam, federated rmsprop" in text


def test_unlearning_help_gives_each_familys_method_defaults():
    text = help_text("main_unlearn.py")
    batch = re.search(r"--unlearn_batch_size UNLEARN_BATCH_SIZE (.*?) --", text).group(1)
    assert "classification 100" in batch and "reconstruction 8" in batch and "federated the original's" in batch
    optimizer = re.search(r"--unlearn_optimizer \{sgd,adam\} (.*?) --", text).group(1)
    assert "classification sgd" in optimizer and "reconstruction adam" in optimizer
    ssd = re.search(r"--SSDselectwt SSDSELECTWT (.*?) --", text).group(1)
    assert "classification SSD 10" in ssd and "reconstruction SSD 1.5" in ssd


def test_method_defaults_read_from_the_source_are_the_registrys():
    import unlearn
    table, _ = method_defaults()
    parent = {"args": dict.fromkeys(PARENT_KNOBS, PARENT)}
    unset = argparse.Namespace(seed=1)  # no flag given
    for family, methods in table.items():
        assert set(methods) == {m for m in unlearn.available(family) if not m.endswith("_with_SalUn")}, family
        for name, defaults in methods.items():
            live = unlearn.resolve_hparams(unlearn.get_method(name, family), unset, parent)
            if family == "federated":  # their batch and optimiser are the original federation's recipe
                live.update({k: PARENT for k in ("batch_size", "optimizer") if live.get(k) != PARENT})
            assert {k: live[k] for k in defaults} == defaults, (family, name)


def test_the_architectures_in_the_help_are_the_registered_ones():
    import models
    assert sorted(models.available()) == sorted((*ARCHS["classification"], *ARCHS["reconstruction"]))


def test_reconstruction_models_and_modules_load_without_torchvision():
    recon = python("import sys, models, engine.recon_training, engine.federated_training, unlearn.workflow\n"
                   "models.create_model('unet', in_channels=1, chans=4, num_pool_layers=2)\n"
                   "models.create_model('varnet', num_cascades=1, chans=4, pools=2, sens_chans=4, sens_pools=2)\n"
                   "print('torchvision' in sys.modules)")
    assert recon.returncode == 0 and recon.stdout.split() == ["False"], recon.stderr
    classification = python("import sys, models; models.create_model('resnet18', 10, 3); "
                            "print('torchvision' in sys.modules)")
    assert classification.stdout.split() == ["True"], classification.stderr


# ---- flags are spelled out; FL-MRCM's flags ----

@pytest.mark.parametrize("script", SCRIPTS)
def test_model_is_an_unknown_flag_not_a_prefix(script, cli):
    expect_user_error(cli(SCRIPTS[script].main, "--model", "unet"), "unrecognized arguments: --model unet")


@pytest.mark.parametrize("main, phase, names", [(main_train.main, "test", "main_test.py"),
                                                (main_test.main, "train", "main_train.py --federated")])
def test_phase_of_the_other_script_is_refused_naming_it(main, phase, names, cli):
    expect_user_error(cli(main, "--phase", phase), "--phase", names)


@pytest.mark.parametrize("main", [main_train.main, main_test.main])
def test_val_sample_rate_is_refused_naming_sample_rate(main, cli):
    expect_user_error(cli(main, "--val_sample_rate", "0.5"), "--val_sample_rate", "--sample_rate")


def test_the_sites_that_train_are_main_train_flags_and_fl_mrcms_test_site_is_refused(cli):
    expect_user_error(cli(main_test.main, "--test_dataset", "F"), "--test_dataset", "every site of --sites")
    import main_unlearn  # it read neither: the sites that train are the federation's, recorded in the checkpoint
    for flag in ("--test_dataset", "--train_dataset"):
        expect_user_error(cli(main_unlearn.main, flag, "BF"), f"unrecognized arguments: {flag} BF")


def test_checkpoint_to_continue_from_is_refused_naming_continues(cli):
    expect_user_error(cli(main_train.main, "--checkpoint", "3_net.pth", "--continues"), "--checkpoint", "--continues")


def test_fl_mrcm_save_dir_checkpoint_phase_and_verbose_keep_their_meaning(tmp_path, capsys):
    main_train.main(["--phase", "train", "--verbose", "--save_dir", str(tmp_path / "train"), "--save_model_id", "x",
                     "--arch", "smallcnn", "--epochs", "1", "--batch_size", "64"])
    assert {p.name for p in (tmp_path / "train").iterdir()} == {"x_best.pt", "x_last.pt", "x"}
    checkpoint = tmp_path / "train" / "x_best.pt"
    report = main_test.main(["--phase", "test", "--verbose", "--checkpoint", str(checkpoint),
                             "--save_dir", str(tmp_path / "test"), "--no_gui"])
    assert "accuracy" in report and str(checkpoint) in capsys.readouterr().out
    assert (tmp_path / "test" / "x_best" / "confusion_test.png").is_file()


LEAVING_SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from utils.errors import UserError, run_cli

def main(argv):
    folder = Path(sys.argv[1])
    atexit.register(lambda: (folder / "atexit").write_text("ran"))
    def late_writer():
        time.sleep(0.3)
        (folder / "thread").write_text("done")
    threading.Thread(target=late_writer).start()
    print("printed", end="")  # no newline: it must still be flushed
    if sys.argv[2] == "mistake":
        raise UserError("a mistake")

run_cli(main)
print("never reached")
"""


@pytest.mark.parametrize("outcome, code", [("ok", 0), ("mistake", 2)])
def test_a_script_run_from_the_shell_ends_at_once_but_loses_nothing(tmp_path, outcome, code):
    done = subprocess.run([sys.executable, "-c", LEAVING_SCRIPT, str(tmp_path), outcome], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == code and done.stdout == "printed"
    assert done.stderr == ("error: a mistake\n" if code else "")
    assert (tmp_path / "atexit").read_text() == "ran" and (tmp_path / "thread").read_text() == "done"
