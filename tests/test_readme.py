import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import expect_user_error
from utils import compare, corrective_report, readme_tables, recon_compare, results

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_are_the_results_files_and_every_table_of_figures_has_one():
    assert readme_tables.problems(ROOT / "README.md", ROOT) == []


def write_results(root: Path, name: str, text: str) -> None:
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / name).write_text(text)


def test_splice_copies_results_into_markers_and_check_fails_when_they_disagree(tmp_path, cli):
    write_results(tmp_path, "t.md", "made by `x`\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n")
    readme = tmp_path / "README.md"
    readme.write_text("# R\n\n<!-- results/t.md -->\nold\n<!-- end results -->\n\nafter\n")
    flags = ["--readme", str(readme), "--root", str(tmp_path)]
    assert cli(readme_tables.main, *flags, "--check")[0] == 1
    assert cli(readme_tables.main, *flags)[0] == 0
    assert readme.read_text() == ("# R\n\n<!-- results/t.md -->\n\nmade by `x`\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n\n"
                                  "<!-- end results -->\n\nafter\n")
    assert cli(readme_tables.main, *flags, "--check")[0] == 0
    write_results(tmp_path, "t.md", "made by `x`\n\n| a | b |\n|---|---:|\n| 1 | 3 |\n")
    code, _, err = cli(readme_tables.main, *flags, "--check")
    assert code == 1 and "results/t.md" in err


def test_check_names_a_table_of_figures_without_a_results_block(tmp_path, cli):
    readme = tmp_path / "README.md"
    readme.write_text("| id | what |\n|---|---|\n| FT | 5 epochs, lr 0.01 |\n\ntext\n\n"
                      "| method | s | RTE |\n|---|---|---|\n| GA | 0.41 / 0.42 | 1.2× |\n")
    code, _, err = cli(readme_tables.main, "--readme", str(readme), "--root", str(tmp_path), "--check")
    assert code == 1 and f"{readme}:7:" in err and ":1:" not in err


def test_a_missing_results_file_fails_and_leaves_its_block_while_others_are_spliced(tmp_path, cli):
    write_results(tmp_path, "t.md", "| a | b |\n|---|---|\n| 1 | 2 |\n")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results/absent.md -->\nto run\n<!-- end results -->\n<!-- results/t.md -->\n<!-- end results -->\n")
    code, _, err = cli(readme_tables.main, "--readme", str(readme), "--root", str(tmp_path))
    assert code == 1 and "results/absent.md does not exist" in err
    assert readme.read_text() == ("<!-- results/absent.md -->\nto run\n<!-- end results -->\n"
                                  "<!-- results/t.md -->\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<!-- end results -->\n")
    expect_user_error(cli(readme_tables.main, "--readme", str(tmp_path / "none.md")), "none.md")


def test_published_files_state_command_machine_date_and_note(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_NOTE", "other processes were running")
    md, table = results.publish(tmp_path / "r", "| a |\n|---|\n| 1 |", [{"a": 1.23456789, "b": None}], "bash x.sh")
    first = md.read_text().splitlines()[0]
    assert first.startswith("`bash x.sh` · 20") and "CPU cores" in first and "torch" in first
    assert first.endswith("other processes were running.")
    fields, rows = results.read_csv(table)
    assert fields["command"] == "bash x.sh" and "thread" in fields["machine"] and fields["date"].endswith("UTC")
    assert rows == [{"a": "1.23457", "b": ""}]


def unlearn_json(path: Path, label: str, seed: int = 1, tags: dict | None = None, family: str = "classification",
                 **metrics) -> None:
    """An evaluation record as main_test_unlearn.py --json writes it (the reporters never read the file name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model_id": f"{label}_s{seed}", "args": {"seed": seed}}
    path.write_text(json.dumps(results.evaluation_record(metrics, meta, family, label, tags)))


def test_compare_publishes_mean_and_std_over_seeds_with_the_js_column(tmp_path, cli):
    common = {"RA": 99.0, "TA": 98.0, "MIA": 100.0, "unlearn_time_s": 1.0}
    for seed, (ua, js) in enumerate([(90.0, 0.1), (100.0, 0.3)], 1):
        unlearn_json(tmp_path / "r" / f"GA__seed{seed}.json", "GA", seed, UA=ua, avg_gap=ua / 10, js_to_retrain=js, **common)
        unlearn_json(tmp_path / "r" / f"retrain__seed{seed}.json", "retrain", seed, UA=100.0, avg_gap=0.0, js_to_retrain=0.0, **common)
    code, _, err = cli(compare.main, "--results", str(tmp_path / "r"), "--out", str(tmp_path / "t"),
                       "--publish", str(tmp_path / "pub"), "--command", "SEEDS='1 2' bash c.sh")
    assert code == 0, err
    text = (tmp_path / "pub.md").read_text()
    assert text.startswith("`SEEDS='1 2' bash c.sh`") and "seeds 1, 2" in text and "| JS |" in text
    assert "| GA | 95.00 ± 7.07 |" in text and "0.2000 ± 0.1414" in text
    _, rows = results.read_csv(tmp_path / "pub.csv")
    assert [r["method"] for r in rows] == ["retrain", "GA"] and rows[1]["UA_std"] == "7.07107"


def test_corrective_report_publishes_each_method_by_share_over_seeds(tmp_path, cli):
    for seed, asr in ((1, 10.0), (2, 30.0)):
        folder = tmp_path / "r" / f"seed{seed}"
        unlearn_json(folder / "original__del0.json", "original", seed, {"share": 0}, clean_test_accuracy=99.0, attack_success_rate=99.0)
        for share in (50, 100):
            unlearn_json(folder / f"EU__del{share}.json", "EU", seed, {"share": share}, clean_test_accuracy=98.0 + seed, attack_success_rate=asr / share,
                         unlearn_time_s=2.0)
    code, _, err = cli(corrective_report.main, "--results", str(tmp_path / "r"), "--out", str(tmp_path / "grid"),
                       "--publish", str(tmp_path / "pub"))
    assert code == 0, err
    text = (tmp_path / "pub.md").read_text()
    assert "Before unlearning: attack success rate 99.0 ± 0.0 %, clean accuracy 99.0 ± 0.0 %." in text
    assert "| Method | 50 % | 100 % |" in text and "| EU | 0.4 ± 0.3 | 0.2 ± 0.1 |" in text
    assert "| EU | 99.5 ± 0.7 | 99.5 ± 0.7 |" in text
    _, rows = results.read_csv(tmp_path / "pub.csv")
    assert {(r["method"], r["deletion_share"], r["seeds"]) for r in rows} == {("EU", "50", "2"), ("EU", "100", "2"),
                                                                            ("original", "0", "2")}
    assert (tmp_path / "grid.png").stat().st_size > 10_000


def recon_json(path: Path, psnr: float, time_s: float | None) -> None:
    groups = {g: {"psnr": psnr + i, "psnr_std": 0.5, "ssim": 0.8, "ssim_std": 0.01, "nmse": 0.1, "nmse_std": 0.01}
              for i, g in enumerate(("brain", "knee"))}
    unlearn_json(path, path.stem.split("_", 1)[1], family="federated", groups=groups, unlearn_time_s=time_s,
                 rte_ratio=None if time_s is None else time_s / 10)


@pytest.mark.parametrize("metrics, shown, hidden", [("psnr", ["brain PSNR", "knee PSNR", "Time (s)"], ["SSIM", "Gap"]),
                                                    ("psnr,ssim", ["brain SSIM"], ["NMSE"])])
def test_recon_compare_publishes_the_chosen_metrics_and_drops_empty_columns(tmp_path, cli, metrics, shown, hidden):
    recon_json(tmp_path / "r" / "01_original.json", 20.0, None)
    recon_json(tmp_path / "r" / "02_fl_retrain.json", 18.0, 10.0)
    code, _, err = cli(recon_compare.main, "--results", str(tmp_path / "r"), "--out", str(tmp_path / "t"),
                       "--publish", str(tmp_path / "pub"), "--metrics", metrics)
    assert code == 0, err
    heading = (tmp_path / "pub.md").read_text().splitlines()[2]
    assert all(s in heading for s in shown) and not any(h in heading for h in hidden), heading
    assert "| fl_retrain | 18.00 ± 0.50 |" in (tmp_path / "pub.md").read_text()
    expect_user_error(cli(recon_compare.main, "--results", str(tmp_path / "r"), "--out", str(tmp_path / "t"),
                          "--publish", str(tmp_path / "pub"), "--metrics", "psnr,dice"), "--metrics")


def test_experiment_scripts_state_the_settings_given_in_the_environment():
    line = ". experiments/command.sh; command_line experiments/corrective_ic.sh experiments/corrective_poisoning.sh"
    env = {"PATH": "/usr/bin:/bin", "SEEDS": "1 2", "CLASSES": "3,5", "UNRELATED": "x"}
    run = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "CLASSES=3,5 SEEDS='1 2' bash experiments/corrective_ic.sh"


def test_experiment_scripts_print_the_last_line_without_truncating_a_redirected_log(tmp_path):
    line = ". experiments/command.sh; echo before; id=$({ echo progress; echo the_id; } | last_line); echo got $id"
    subprocess.run(["bash", "-c", f"({line}) > {tmp_path / 'log'} 2>&1"], cwd=ROOT, check=True)
    assert (tmp_path / "log").read_text().split() == ["before", "progress", "the_id", "got", "the_id"]


def test_mri_protocol_script_refuses_a_forget_group_it_was_not_given():
    run = subprocess.run(["bash", "experiments/mri_unlearn.sh", "--groups", "a:x,b:y", "--forget", "c"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "--forget c" in run.stderr


def test_an_evaluation_writes_one_record_that_the_reporter_reads_by_its_contents(unlearn_env, tmp_path, cli):
    import main_test_unlearn
    out = tmp_path / "r" / "any_name.json"
    code, _, err = cli(main_test_unlearn.main, "--model_id", unlearn_env["retrain_id"], "--class_to_forget", "3",
                       "--retrain_model_id", unlearn_env["retrain_id"], "--label", "Oracle", "--tag", "round=3",
                       "--tag", "note=x", "--json", str(out),
                       *unlearn_env["common"])
    assert code == 0, err
    record = json.loads(out.read_text())
    assert set(results.RECORD_KEYS) <= set(record) and record["schema"] == results.RECORD_SCHEMA
    assert record["label"] == "Oracle" and record["tags"] == {"round": 3, "note": "x"}
    assert record["model_id"] == unlearn_env["retrain_id"] and record["parent"] == unlearn_env["model_id"].removesuffix("_best")
    assert record["family"] == "classification" and record["method"] == "retrain" and record["seed"] == 1
    assert record["forget"]["size"] > 0 and "indices" not in record["forget"]
    assert record["code_version"] and "CPU cores" in record["machine"] and "UA" in record
    from utils import report
    code, stdout, err = cli(report.main, "--results", str(tmp_path / "r"), "--out", str(tmp_path / "grid"))
    assert code == 0 and "the compare view" in stdout, err
    assert "Oracle,1," in (tmp_path / "grid.csv").read_text()


def test_the_reporter_refuses_files_that_are_not_records_and_folders_that_mix_kinds(tmp_path, cli):
    from utils import report
    unlearn_json(tmp_path / "mixed" / "a.json", "GA", UA=1.0, avg_gap=0.1)
    recon_json(tmp_path / "mixed" / "01_b.json", 20.0, None)
    expect_user_error(cli(report.main, "--results", str(tmp_path / "mixed"), "--out", str(tmp_path / "t")),
                      "mix compare and recon", "--view")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "GA__seed1.json").write_text(json.dumps({"UA": 1.0}))
    expect_user_error(cli(report.main, "--results", str(tmp_path / "old"), "--out", str(tmp_path / "t")),
                      "GA__seed1.json is not an evaluation record", "--json")
