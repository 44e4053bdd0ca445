"""Test-suite timing: wall seconds of `python -m pytest -q` at each torch thread count of the tests
(TEST_TORCH_THREADS), on idle cores and beside a busy neighbour (another process multiplying matrices on --busy_threads
threads), written to --out.{md,csv} (results/test_suite_time). Run from the repository root on a quiet machine:

    python bench/bench_suite.py                       # the whole suite, threads 1 and 2, idle and busy
    python bench/bench_suite.py --threads 1 -- -k metrics   # a subset: pytest's arguments after --
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utils.errors import UserError, run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import markdown_table  # noqa: E402

NEIGHBOUR = """
import torch
torch.set_num_threads({threads})
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a)
"""


def run_suite(threads: int, pytest_args: list[str]) -> tuple[float, str]:
    """Seconds of one pytest run with the tests on `threads` torch threads, and its summary line."""
    env = {**os.environ, "TEST_TORCH_THREADS": str(threads)}
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", *pytest_args], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else run.stderr.strip()[-200:]
    if run.returncode not in (0, 1) or not re.search(r"\d+ (passed|failed)", summary):
        raise UserError(f"pytest {' '.join(pytest_args)} did not run: {summary}")
    return seconds, summary


def timed(threads: int, busy_threads: int, pytest_args: list[str]) -> tuple[float, str]:
    """run_suite with, when busy_threads > 0, a neighbour process keeping that many threads busy."""
    if busy_threads == 0:
        return run_suite(threads, pytest_args)
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR.format(threads=busy_threads)],
                                 env={**os.environ, "OMP_NUM_THREADS": str(busy_threads)})
    try:
        time.sleep(2)  # let it start
        return run_suite(threads, pytest_args)
    finally:
        neighbour.kill()
        neighbour.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads of the tests to compare")
    parser.add_argument("--busy_threads", type=int, default=2, help="threads of the busy neighbour process")
    parser.add_argument("--out", default=str(RESULTS_DIR / "test_suite_time"), help="results prefix: writes .md, .csv")
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest, after --")
    args = parser.parse_args(argv)
    if min(args.threads) < 1 or args.busy_threads < 1:
        raise UserError("--threads and --busy_threads must be 1 or more")
    rows = []
    for threads in args.threads:
        for busy in (0, args.busy_threads):
            seconds, summary = timed(threads, busy, args.pytest_args)
            neighbour = f"busy ({busy} threads)" if busy else "none"
            print(f"test threads {threads}, neighbour {neighbour}: {seconds:.1f} s ({summary})", flush=True)
            rows.append({"test_threads": threads, "neighbour": neighbour, "seconds": seconds, "pytest": summary})
    idle = {r["test_threads"]: r["seconds"] for r in rows if r["neighbour"] == "none"}
    body = markdown_table(["test torch threads", "neighbour", "wall s", "× idle", "pytest"],
                          [[str(r["test_threads"]), r["neighbour"], f"{r['seconds']:.1f}",
                            f"{r['seconds'] / idle[r['test_threads']]:.2f}", r["pytest"]] for r in rows])
    what = f"`{shlex.join(['python', '-m', 'pytest', '-q', *args.pytest_args])}`"
    publish(args.out, f"{what}, timed whole (wall seconds, collection and fixtures included).\n\n{body}", rows,
            script_command("bench/bench_suite.py", argv))


if __name__ == "__main__":
    run_cli(main)
