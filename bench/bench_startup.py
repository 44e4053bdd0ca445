"""Start-up benchmark: seconds of `python SCRIPT --help` for every script, the import cost of an MRI run vs a
classification run (the modules each run imports, and building its model), the time an MRI run takes to its
first training batch (phantom volumes written beforehand), and what the interpreter's teardown costs once torch is
imported (scripts skip it: utils.errors.leave), each in a fresh interpreter.

Prints the median of --repeat runs, whether torch (for --help) or torchvision (for a run) was imported, and writes
the table to --out.{md,csv} (results/startup). Run from the repository root:

    OMP_NUM_THREADS=1 python bench/bench_startup.py --repeat 5
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets.mri.phantoms import generate  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import format_table, markdown_table  # noqa: E402

SCRIPTS = ["main_train.py", "main_test.py", "main_unlearn.py", "main_forget.py", "main_test_unlearn.py",
           "generate_mask.py", "examine_dataset.py", "main_tune.py", "main_audit.py"]
HELP_BOUND_S = 1.0  # issue 15's bound on --help
FIRST_BATCH_BOUND_S = 0.5  # issue 15: an MRI run's first batch at most this long after `import torch` alone

# what a run imports before it reads any data, and its model built; prints whether torchvision was loaded
RUNS = {
    "MRI run (U-Net)": "import engine.recon_training, models; models.create_model('unet', in_channels=1, chans=8)",
    "MRI run (VarNet)": "import engine.recon_training, models; models.create_model('varnet', num_cascades=1, chans=4)",
    "classification run (resnet18)": "import engine.training, models; models.create_model('resnet18', 10, 3)",
    "torch alone": "import torch",
}
FIRST_BATCH = "MRI run to its first batch (U-Net)"
FIRST_BATCH_CODE = (  # main_train.py's path to its first batch: flags, data, model, one loader batch
    "from arg_parser import build_parser; import models; from engine.recon import model_kwargs; "
    "from datasets.mri.data import load_recon, make_loader\n"
    "args = build_parser('data', 'model', 'training', 'system', 'output').parse_args("
    "['--train_groups', 'brain:{folder}', '--arch', 'unet', '--save_model_id', 'x'])\n"
    "data = load_recon(args); model = models.create_model('unet', **model_kwargs('unet', args))\n"
    "batch = next(iter(make_loader(data.slices('train', 'image', train=True), args.batch_size, shuffle=True)))")
PROBE = "; import sys; print('torchvision' in sys.modules)"
TORCH_LEFT = "torch alone, the process ended by utils.errors.leave (as every script ends)"
TORCH_LEFT_CODE = "import torch" + PROBE + "; from utils.errors import leave; leave(0)"
HELP_PROBE = ("import runpy, sys; sys.argv = [{script!r}, '--help']\n"
              "try:\n    runpy.run_path({script!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
              "print('torch' in sys.modules, file=sys.stderr)")


def seconds(command: list[str]) -> tuple[float, str]:
    """Wall seconds of one run of `command` from the repository root, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout + done.stderr


def median_seconds(command: list[str], repeat: int) -> tuple[float, str]:
    """Median wall seconds of `repeat` runs after one untimed warm-up (file cache), and the last output."""
    _, out = seconds(command)
    times = []
    for _ in range(repeat):
        t, out = seconds(command)
        times.append(t)
    return statistics.median(times), out


def paired_difference(command: list[str], baseline: list[str], repeat: int) -> float:
    """Median over `repeat` pairs of the seconds of `command` less those of `baseline` run right after it, so that a
    slow spell of the machine cancels out."""
    return statistics.median(seconds(command)[0] - seconds(baseline)[0] for _ in range(repeat))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command (median reported)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "startup"), help="results prefix: writes .md and .csv")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        raise UserError("--repeat must be 1 or more")

    rows = []
    base, _ = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    for script in SCRIPTS:
        t, _ = median_seconds([sys.executable, script, "--help"], args.repeat)
        _, probe = seconds([sys.executable, "-c", HELP_PROBE.format(script=script)])
        rows.append({"command": f"{script} --help", "seconds": t, "imports": "torch" if "True" in probe.split()[-1:]
                     else "no torch"})
    with tempfile.TemporaryDirectory() as folder:
        generate(Path(folder), "brain", volumes=4, slices=8, size=128, seed=1)
        runs = {name: code + PROBE for name, code in RUNS.items()}
        first_batch_code = FIRST_BATCH_CODE.format(folder=folder) + PROBE
        runs |= {TORCH_LEFT: TORCH_LEFT_CODE, FIRST_BATCH: first_batch_code}
        for name, code in runs.items():
            t, out = median_seconds([sys.executable, "-c", code], args.repeat)
            rows.append({"command": name, "seconds": t,
                         "imports": "torchvision" if out.split()[-1] == "True" else "no torchvision"})
        torch_alone = [sys.executable, "-c", runs["torch alone"]]
        after_torch = paired_difference([sys.executable, "-c", first_batch_code], torch_alone, args.repeat)
        teardown = paired_difference(torch_alone, [sys.executable, "-c", TORCH_LEFT_CODE], args.repeat)
    print(format_table(["command", "s", "imports"], [[r["command"], r["seconds"], r["imports"]] for r in rows],
                       floatfmt=".2f"))
    slowest = max((r for r in rows if r["command"].endswith("--help")), key=lambda r: r["seconds"])
    verdict = (f"Slowest --help: {slowest['command']}, {slowest['seconds']:.2f} s "
               f"({'within' if slowest['seconds'] <= HELP_BOUND_S else 'over'} the {HELP_BOUND_S} s bound); "
               f"an empty interpreter (`python -c pass`) takes {base:.2f} s. An MRI run has its first batch "
               f"{after_torch:.2f} s after the time of `import torch` alone "
               f"({'within' if after_torch <= FIRST_BATCH_BOUND_S else 'over'} the {FIRST_BATCH_BOUND_S} s bound). "
               f"Ending a process that imported torch without the interpreter's teardown saves "
               f"{teardown:.2f} s. (Differences are medians of runs paired back to back.)")
    print(verdict)
    setting = (f"Median of {args.repeat} runs after one warm-up, each a fresh interpreter from the repository root. "
               f"A run's import cost is `python -c` of the modules it imports before reading data, with its model "
               f"built.")
    body = markdown_table(["command", "seconds", "imports"],
                          [[r["command"], f"{r['seconds']:.2f}", r["imports"]] for r in rows])
    publish(args.out, f"{setting}\n\n{body}\n\n{verdict}", rows + [{"command": "python -c pass", "seconds": base}],
            script_command("bench/bench_startup.py", argv))


if __name__ == "__main__":
    run_cli(main)
