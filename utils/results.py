"""Evaluation records and published results.

Every evaluation (main_test.py / main_test_unlearn.py --json) writes one record: a JSON object with the keys of
RECORD_KEYS (which model, what it forgot and how, where and with which code it was evaluated) and the metrics of its
family beside them. The reporters (`python -m utils.report`) read records only, never file names.

Published results are one table (or a few) as results/NAME.md and results/NAME.csv, each file stating the command
that made it, the machine it ran on and the date; `python -m utils.readme_tables` copies the .md into README.md.
RESULTS_NOTE in the environment adds a sentence to the header (e.g. "other processes shared the cores")."""
import csv
import datetime
import io
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import torch

from .cli import Parser
from .errors import UserError
from .io import save_json, save_text

RESULTS_DIR = Path("results")


def machine() -> str:
    """Platform, CPU cores, torch version and threads, the GPU if any, and the current load average."""
    gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "no GPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    threads = torch.get_num_threads()
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"torch {torch.__version__} with {threads} thread{'s' * (threads != 1)}, {gpu}; load average {load:.1f} "
            f"when written")


def script_command(script: str, argv: Sequence[str] | None) -> str:
    """The shell command of a Python script run with `argv` (sys.argv[1:] when None)."""
    return shlex.join(["python", script, *(sys.argv[1:] if argv is None else argv)])


def header(command: str) -> dict[str, str]:
    """The provenance of a results file: command, machine, date (UTC) and the optional RESULTS_NOTE."""
    fields = {"command": command, "machine": machine(),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if os.environ.get("RESULTS_NOTE"):
        fields["note"] = os.environ["RESULTS_NOTE"]
    return fields


def markdown(body: str, fields: dict[str, str]) -> str:
    """The .md file: one provenance paragraph, then the tables."""
    note = f" {fields['note'].rstrip('.')}." if "note" in fields else ""
    line = f"`{fields['command']}` · {fields['date']} · {fields['machine']}.{note}"
    return f"{line}\n\n{body.strip()}\n"


def csv_text(rows: list[dict], fields: dict[str, str]) -> str:
    """The .csv file: '# key: value' provenance lines, then a header row and the rows."""
    out = io.StringIO()
    out.writelines(f"# {key}: {value}\n" for key, value in fields.items())
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for row in rows for k in row)), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    return out.getvalue()


def publish(prefix: str | Path, body: str, rows: list[dict], command: str) -> tuple[Path, Path]:
    """Write PREFIX.md (provenance + Markdown `body`) and PREFIX.csv (provenance + `rows`), atomically."""
    fields = header(command)
    prefix = Path(prefix)
    md = save_text(markdown(body, fields), prefix.with_name(prefix.name + ".md"))
    table = save_text(csv_text(rows, fields), prefix.with_name(prefix.name + ".csv"))
    print(f"results: {md}, {table}")
    return md, table


def read_csv(path: str | Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(provenance fields, rows) of a results .csv."""
    lines = Path(path).read_text().splitlines()
    fields = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# "))
    return fields, list(csv.DictReader(line for line in lines if not line.startswith("#")))


def report_parser(description: str, results: str, outputs: str = "PREFIX.md, PREFIX.csv and PREFIX.png",
                  publish_example: str = "the README's table") -> Parser:
    """The flags every report script takes: --results (the JSON files, as `results` describes them), --out,
    --publish and --command."""
    parser = Parser(description=description)
    parser.add_argument("--results", required=True, help=f"folder of {results}")
    parser.add_argument("--out", required=True, help=f"output prefix: writes {outputs}")
    parser.add_argument("--publish", help=f"also write PREFIX.md and .csv with provenance ({publish_example})")
    parser.add_argument("--command", default="", help="the command that made the results, stated in the --publish files")
    return parser


RECORD_SCHEMA = 1
# schema: this layout's version; label: the row name in tables (--label; else the method id, or "original");
# model_id / parent: the checkpoint and the one it was unlearned from; family: classification, reconstruction or
# federated; method, hparams: the unlearning method and its knobs (None for a trained model); forget: what it
# forgot (the forget flags, the set's size; no indices); seed: the run's --seed; tags: --tag KEY=VALUE (a grid's
# coordinates, e.g. share=30); machine, code_version (git commit, "+dirty" with local changes), written (UTC).
RECORD_KEYS = ("schema", "label", "model_id", "parent", "family", "method", "hparams", "forget", "seed", "tags",
               "machine", "code_version", "written")


def code_version() -> str:
    """The git commit of this code (short hash, "+dirty" when tracked files changed), or "unknown" outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def evaluation_record(metrics: dict, meta: dict, family: str, label: str | None = None,
                      tags: dict | None = None) -> dict:
    """The record of one evaluation: the identity of the checkpoint whose `meta` is given, then its `metrics`."""
    unlearned = meta.get("unlearn", {})
    run_args = meta.get("unlearn_args") or meta.get("args") or {}
    forget = {k: v for k, v in meta["forget"].items() if k != "indices"} if "forget" in meta else None
    identity = {"schema": RECORD_SCHEMA, "label": label or unlearned.get("method") or "original",
                "model_id": meta.get("model_id"), "parent": meta.get("parent_id"), "family": family,
                "method": unlearned.get("method"), "hparams": unlearned.get("hparams"), "forget": forget,
                "seed": run_args.get("seed"), "tags": tags or {}, "machine": machine(), "code_version": code_version(),
                "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    return {**identity, **{k: v for k, v in metrics.items() if k not in identity}}


def save_record(path: str | Path, metrics: dict, meta: dict, family: str, label: str | None = None,
                tags: dict | None = None) -> dict:
    """Write the evaluation record of `metrics` (see evaluation_record) to `path`, atomically; returns it."""
    record = evaluation_record(metrics, meta, family, label, tags)
    save_json(record, path)
    print(f"wrote {path}")
    return record


def read_record(path: Path, required: Sequence[str] = ()) -> dict:
    """One evaluation record, refused in one line when it is not JSON, is not a record, or lacks a `required` key."""
    try:
        report = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err}); rerun main_test_unlearn.py --json for it")
    if not isinstance(report, dict) or report.get("schema") != RECORD_SCHEMA:
        raise UserError(f"{path} is not an evaluation record of schema {RECORD_SCHEMA}; write it again with "
                        f"main_test_unlearn.py --json (or main_test.py --json)")
    missing = [key for key in required if key not in report]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}: it was not written by main_test_unlearn.py --json")
    return report


def load_records(folder: str | Path, required: Sequence[str] = (), hint: str = "main_test_unlearn.py --json "
                 "FOLDER/NAME.json") -> list[dict]:
    """Every record in `folder` and its sub-folders, in the order of their paths."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--results {folder}: no such folder; point it at the folder of evaluation records")
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise UserError(f"--results {folder} holds no .json records; write them with {hint}")
    return [read_record(path, required) for path in files]
