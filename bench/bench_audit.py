"""Privacy-audit benchmark: seconds per shadow model of main_audit.py, in one process and spread over 2 torchrun
processes, and the speed-up.

Trains a small CNN on Digits (no augmentation, --epochs) in a temporary folder, then audits it with
`--unlearn original` (each shadow: an original and a retrained model, both with the original's recipe, and their
evaluation) three times, each in a fresh --runs_dir (no shadow or record cached): (1) one process on one thread, the reference, (2) one
process on two threads, (3) `torch.distributed.run --nproc_per_node 2`, one thread each. Seconds per shadow are each
run's wall time (start-up included) over --shadows. Writes the table to --out.{md,csv} (results/bench_audit). Run from
the repository root:

    python bench/bench_audit.py --shadows 8 --epochs 12
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utils.errors import UserError, run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import format_table, markdown_table  # noqa: E402


def run(command: list[str], threads: int, cwd: Path) -> float:
    """Wall seconds of `command` with OMP_NUM_THREADS=`threads`; a failure is an error with its stderr."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise UserError(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shadows", type=int, default=8, help="shadow models per audit (even: a half each)")
    parser.add_argument("--epochs", type=int, default=12, help="the original's (and so every shadow's) epochs")
    parser.add_argument("--forget", type=int, default=50, help="random forget rows")
    parser.add_argument("--out", default=str(RESULTS_DIR / "bench_audit"), help="results prefix: writes .md and .csv")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPU cores, load average {load:.1f} before the run")
    if load > 1.5:
        print(f"warning: load average {load:.1f}: other work shares the cores, timings are unreliable")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dirs = ["--model_dir", str(folder / "model_weights"), "--runs_dir", str(folder / "runs")]
        run([sys.executable, str(ROOT / "main_train.py"), "--save_model_id", "bench", "--dataset", "Digits", "--arch",
             "smallcnn", "--epochs", str(args.epochs), "--lr", "0.05", "--batch_size", "32", "--no_aug", *dirs], 2,
            folder)
        audit = [str(ROOT / "main_audit.py"), "--model_id", "bench_best", "--dataset", "Digits", "--unlearn", "original",
                 "--num_indexes_to_replace", str(args.forget), "--shadows", str(args.shadows), "--device", "cpu",
                 "--model_dir", str(folder / "model_weights")]
        configurations = [("1 process, 1 thread", [sys.executable], 1),
                          ("1 process, 2 threads", [sys.executable], 2),
                          ("torchrun, 2 processes x 1 thread", [sys.executable, "-m", "torch.distributed.run",
                                                                 "--nproc_per_node", "2"], 1)]
        rows = []
        for i, (name, launcher, threads) in enumerate(configurations):
            seconds = run([*launcher, *audit, "--runs_dir", str(folder / f"audit{i}")], threads, folder)  # all new
            rows.append({"configuration": name, "seconds": round(seconds, 1),
                         "seconds_per_shadow": round(seconds / args.shadows, 2)})
            print(f"{name}: {seconds:.1f} s")
    for row in rows:
        row["speed_up"] = round(rows[0]["seconds"] / row["seconds"], 2)
    headings = ["configuration", "wall s", "s / shadow", "speed-up vs 1 process, 1 thread"]
    cells = [[r["configuration"], f"{r['seconds']:.1f}", f"{r['seconds_per_shadow']:.2f}", f"{r['speed_up']:.2f}×"]
             for r in rows]
    print(format_table(headings, cells))
    body = (f"main_audit.py --unlearn original on Digits (smallcnn, {args.epochs} epochs, no augmentation), "
            f"{args.shadows} shadows (an original and a retrained model each, both evaluated), {args.forget} forget "
            f"rows; wall time including start-up, nothing cached between runs.\n\n{markdown_table(headings, cells)}")
    publish(args.out, body, rows, script_command("bench/bench_audit.py", argv))


if __name__ == "__main__":
    run_cli(main)
