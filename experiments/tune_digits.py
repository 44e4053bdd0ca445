"""Before and after tuning, on Digits: each method at its registered defaults, then after a main_tune.py study of
--trials trials on a validation forget set, both reported over 3 seeds on the evaluation forget set (class-wise:
class 3; random: 128 rows, the size of class 3), as Avg. Gap to the model retrained without it.

    python experiments/tune_digits.py [--trials 30] [--methods GA SSD RL_with_SalUn] [--out results/tune_digits]
    python experiments/tune_digits.py --bound --out results/tune_digits_bound
    python experiments/tune_digits.py --sweep --out results/tune_digits_sweep
    python experiments/tune_digits.py --dataset data/mnist5k.npz --out results/tune_mnist5k
    python experiments/tune_digits.py --methods GA RL_with_SalUn --trial_seeds 2 --draws 6
    python experiments/tune_digits.py --sweep --methods SSD --points 10 --draws 9 \\
        --out results/tune_digits_sweep_classes

--dataset runs the same protocol on another dataset with the same recipe (an .npz such as the real MNIST digits that
experiments/mnist5k_npz.py writes). Writes runs/tune_digits/ (the original, the retrained models, the studies;
runs/tune_NAME/ for another dataset) and --out.{md,csv} (default results/tune_digits, results/tune_NAME). --bound
instead scores the trials on the evaluation forget set itself, which no user may do: the best any setting of the
method reaches there, the ceiling the honest protocol's "after" is measured against. --sweep instead runs a grid over
each method's search space on class 3 (seed 1), the landscape the trials search, into --out.{md,csv,png}: the Avg.
Gap of every setting, and where the best one falls short, which of UA, RA, TA and MIA it misses. --draws N adds to the
before/after table both settings' Avg. Gap on N further draws of the same kind that neither the trials nor the
evaluation saw: whether the tuned setting beats the defaults beyond the one evaluation forget set. With --sweep,
--draws N runs the grid on N other classes too, and counts the classes each setting brings within 1.5 of retraining
(--out_classes.png): whether one setting serves every class."""
import argparse
import itertools
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main_train  # noqa: E402
import unlearn  # noqa: E402
from arg_parser import build_parser  # noqa: E402
from unlearn.evaluate import unlearning_metrics  # noqa: E402
from unlearn.knobs import KNOBS  # noqa: E402
from unlearn.tune import (EVAL_BATCH, family_of, retrained_for, saliency_mask, score, search_space,  # noqa: E402
                          suggest, tune)
from unlearn.workflow import load_setup  # noqa: E402
from utils.errors import UserError, run_cli  # noqa: E402
from utils.results import RESULTS_DIR, publish, script_command  # noqa: E402
from utils.tables import markdown_table  # noqa: E402

KINDS = {"class-wise (class 3)": ["--class_to_forget", "3"], "random (128 rows)": ["--num_indexes_to_replace", "128"]}
SEEDS = [1, 2, 3]
MEASURES = ("UA", "RA", "TA", "MIA", "avg_gap")  # what --sweep records of every setting


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--methods", nargs="+", default=["GA", "SSD", "RL_with_SalUn"])
    parser.add_argument("--forget_sets", nargs="+", choices=[kind.split()[0] for kind in KINDS],
                        default=[kind.split()[0] for kind in KINDS], help="the kinds of forget set to tune on")
    parser.add_argument("--trial_seeds", type=int, default=1, help="main_tune.py --trial_seeds")
    parser.add_argument("--validation_sets", type=int, default=2, help="main_tune.py --validation_sets")
    parser.add_argument("--draws", type=int, default=0,
                        help="also score the defaults and the tuned setting (seed 1) on this many further draws of "
                             "the same kind, which neither the trials nor the evaluation saw; with --sweep, every "
                             "setting of the grid on the first this many other classes")
    parser.add_argument("--dataset", default="Digits", help="the dataset to tune on (main_train.py --dataset)")
    parser.add_argument("--work", help="where the models and studies go (default runs/tune_digits, or "
                        "runs/tune_NAME for another --dataset)")
    parser.add_argument("--out", help="the results' path without suffix (default results/tune_digits, or "
                        "results/tune_NAME for another --dataset)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--bound", action="store_true", help="tune on the evaluation forget set itself (a ceiling)")
    mode.add_argument("--sweep", action="store_true", help="a grid over each method's search space on class 3")
    parser.add_argument("--points", type=int, default=8, help="--sweep: grid points per knob")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.points < 2:
        raise UserError(f"--points {args.points}: give 2 or more grid points per knob")
    if args.draws < 0 or (args.draws and args.bound):
        raise UserError(f"--draws {args.draws}: give a count of 0 or more, with the before/after table or --sweep")
    for method in args.methods:  # each names a tunable method, before anything is trained
        search_space(unlearn.get_method(method), frozenset())
    args.name = "digits" if args.dataset == "Digits" else Path(args.dataset).stem.lower()
    work = Path(args.work or f"runs/tune_{args.name}")
    args.out = args.out or str(RESULTS_DIR / f"tune_{args.name}")
    dirs = ["--dataset", args.dataset, "--model_dir", str(work / "model_weights"), "--runs_dir", str(work / "runs")]
    args.label = f"{Path(args.dataset).stem if args.dataset.endswith('.npz') else args.dataset}, smallcnn (15 epochs)"
    if not (work / "model_weights" / f"{args.name}_best.pt").exists():
        main_train.main(["--save_model_id", args.name, "--arch", "smallcnn", "--epochs", "15", "--lr", "0.05",
                         "--batch_size", "64", "--seed", "1", *dirs])
    if args.bound:
        return bound(args, dirs, work)
    if args.sweep:
        return sweep(args, dirs)
    rows = []
    for kind, method, flags, setup in planned_runs(args, dirs):
        r_result, mask = reference(setup, setup.forget, flags)
        before = [score(setup, setup.forget, flags, {}, mask, r_result, seed).metrics["avg_gap"] for seed in SEEDS]
        summary = tune(setup, flags)
        after = [row["avg_gap"] for row in summary["final"]]
        setting = ", ".join(f"--{k} {v:.3g}" if isinstance(v, float) else f"--{k} {v}"
                            for k, v in summary["flags"].items())
        rows.append({"forget set": kind, "method": method, "before": mean_std(before), "after": mean_std(after),
                     "best on validation": f"{summary['values']['avg_gap']:.2f}", "tuned setting": setting,
                     "validation forget set": summary["validation_forget"],
                     "before_mean": statistics.fmean(before), "after_mean": statistics.fmean(after)})
        if args.draws:
            draws = further_draws(setup, flags, args.draws)
            gaps = dict(zip(("before", "after"), gaps_on_draws(setup, flags, draws, [{}, summary["hparams"]])))
            rows[-1].update({f"{when}, other draws": mean_std(g) for when, g in gaps.items()}
                            | {f"{when}_draws_mean": statistics.fmean(g) for when, g in gaps.items()}
                            | {f"{when}_each_draw": " ".join(f"{v:.2f}" for v in g) for when, g in gaps.items()}
                            | {"other draws": str(len(draws)),
                               "draws": "; ".join(family_of(setup).describe_forget(d) for d in draws)})
        print(rows[-1], flush=True)
    headings = ["forget set", "method", "before", "after", "best on validation", "tuned setting",
                "validation forget set"]
    if args.draws:
        headings[5:5] = ["other draws", "before, other draws", "after, other draws"]
    body = (f"{args.label}; Avg. Gap to the model retrained without the evaluation forget set, mean ± "
            f"std over seeds {', '.join(map(str, SEEDS))}: before = the method's registered defaults, after = the best "
            f"of {args.trials} trials (TPE, seed 0) scored on the validation forget set"
            f"{f' over seeds 1 to {args.trial_seeds}' if args.trial_seeds > 1 else ''}; best on validation = that "
            f"setting's score there (the mean over the validation forget sets)."
            + (" Other draws: mean ± std over further draws of the same kind (other classes; other random rows), "
               "disjoint from the evaluation and validation sets, seed 1 on each."
               if args.draws else "") + "\n\n"
            + markdown_table(headings, [[r[h] for h in headings] for r in rows]))
    publish(args.out, body, rows, script_command("experiments/tune_digits.py", argv))


def planned_runs(args: argparse.Namespace, dirs: list[str]) -> list[tuple]:
    """(kind, method, main_tune.py flags, setup) of every study to run, each checked before any of them starts: the
    data has --draws further draws beyond the validation sets."""
    runs = []
    for kind, forget in KINDS.items():
        if kind.split()[0] not in args.forget_sets:
            continue
        for method in args.methods:
            flags = build_parser("data", "model", "unlearning", "tune", "system", "output").parse_args(
                ["--model_id", f"{args.name}_best", "--unlearn", method, *forget, "--trials", str(args.trials),
                 "--trial_seeds", str(args.trial_seeds), "--validation_sets", str(args.validation_sets),
                 "--study", f"{args.name}_{method}_{forget[0].strip('-')}", "--overwrite", *dirs])
            setup = load_setup(flags)
            found = len(family_of(setup).tune_validation(setup, flags.seed, args.validation_sets + args.draws))
            if found < args.validation_sets + args.draws:
                raise UserError(f"--validation_sets {args.validation_sets} --draws {args.draws}: {kind} of "
                                f"{args.dataset} has {found} draws besides the evaluation forget set; give "
                                f"--validation_sets + --draws ≤ {found}")
            runs.append((kind, method, flags, setup))
    return runs


def reference(setup, forget, flags: argparse.Namespace) -> tuple[dict, dict | None]:
    """What scoring a method on `forget` needs: the measures of the model retrained without it, and the SalUn mask
    of `forget` for a _with_SalUn method (None otherwise)."""
    retrained, r_meta = retrained_for(setup, forget, flags)
    r_result, _ = unlearning_metrics(retrained, r_meta, setup.data, forget, setup.device, EVAL_BATCH)
    masked = unlearn.get_method(flags.unlearn).masked
    return r_result, saliency_mask(setup, forget, flags.mask_thresh, flags) if masked else None


def further_draws(setup, flags: argparse.Namespace, count: int) -> list:
    """Up to `count` draws of the evaluation forget set's kind that follow the validation sets in the tuner's own
    seeded sequence, so neither the trials nor the evaluation saw them."""
    return family_of(setup).tune_validation(setup, flags.seed, flags.validation_sets + count)[flags.validation_sets:]


def gaps_on_draws(setup, flags: argparse.Namespace, draws: list, settings: list[dict]) -> list[list[float]]:
    """Per setting, the method's Avg. Gap (seed 1) on each draw, against the model retrained without it; each draw's
    retrained model is measured and its SalUn mask computed once for all settings."""
    gaps = [[] for _ in settings]
    for forget in draws:
        r_result, mask = reference(setup, forget, flags)
        for mine, hparams in zip(gaps, settings):
            mine.append(score(setup, forget, flags, hparams, mask, r_result, 1).metrics["avg_gap"])
    return gaps


def evaluation_setup(method_name: str, forget: list[str], dirs: list[str], model_id: str) -> tuple:
    """The flags and the setup (data, original, evaluation forget set) of `method_name` on the evaluation forget set."""
    flags = build_parser("data", "model", "unlearning", "tune", "system", "output").parse_args(
        ["--model_id", model_id, "--unlearn", method_name, *forget, *dirs])
    return flags, load_setup(flags)


def on_the_evaluation_set(method_name: str, forget: list[str], dirs: list[str], model_id: str) -> tuple:
    """What scoring `method_name` on the evaluation forget set itself needs: its flags, the setup, the retrained
    model's measures, the SalUn mask (for a _with_SalUn method) and the method's search space."""
    flags, setup = evaluation_setup(method_name, forget, dirs, model_id)
    method = unlearn.get_method(method_name)
    r_result, mask = reference(setup, setup.forget, flags)
    return flags, setup, r_result, mask, search_space(method, frozenset())


def bound(args: argparse.Namespace, dirs: list[str], work: Path) -> None:
    """The best Avg. Gap each method reaches when its --trials trials are scored on the evaluation forget set itself
    (seed 1), then the chosen setting over the seeds: what tuning could give at most."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for kind, forget in KINDS.items():
        for method_name in args.methods:
            flags, setup, r_result, mask, space = on_the_evaluation_set(method_name, forget, dirs, f"{args.name}_best")
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, multivariate=True))

            def objective(trial) -> float:
                try:
                    return score(setup, setup.forget, flags, suggest(trial, space), mask, r_result, 1).metrics["avg_gap"]
                except UserError:  # a diverged run
                    return float("inf")

            study.optimize(objective, n_trials=args.trials)
            best = [score(setup, setup.forget, flags, study.best_params, mask, r_result, seed).metrics["avg_gap"]
                    for seed in SEEDS]
            setting = ", ".join(f"--{KNOBS[k].flag} {v:.3g}" if isinstance(v, float) else f"--{KNOBS[k].flag} {v}"
                                for k, v in study.best_params.items())
            rows.append({"forget set": kind, "method": method_name, "bound": mean_std(best), "setting": setting,
                         "bound_mean": statistics.fmean(best)})
            print(rows[-1], flush=True)
    headings = ["forget set", "method", "bound", "setting"]
    body = (f"{args.label}: the best of {args.trials} trials (TPE, seed 0) scored on the evaluation "
            f"forget set itself (seed 1), then that setting's Avg. Gap over seeds {', '.join(map(str, SEEDS))}. No "
            f"user may tune there; it bounds what the honest protocol (results/tune_digits) can reach.\n\n"
            + markdown_table(headings, [[r[h] for h in headings] for r in rows]))
    publish(args.out, body, rows, script_command("experiments/tune_digits.py", args.argv))


def grid(r, points: int) -> list:
    """`points` values spanning a search Range: whole numbers, or evenly spaced (on a log scale where it is log)."""
    if r.integer:
        return sorted({int(round(v)) for v in np.linspace(r.low, r.high, points)})
    return [float(v) for v in (np.geomspace if r.log else np.linspace)(r.low, r.high, points)]


def label_grid(fig, ax, image, x: tuple[str, list], y: tuple[str, list], title: str, colour_label: str) -> None:
    """Ticks, knob names, title and colour bar of one heat map over a grid of two knobs ((flag, values) each)."""
    ax.set_xticks(range(len(x[1])), [f"{v:.3g}" for v in x[1]], rotation=45, fontsize=7)
    ax.set_yticks(range(len(y[1])), [f"{v:.3g}" for v in y[1]], fontsize=7)
    ax.set_xlabel(f"--{x[0]}")
    ax.set_ylabel(f"--{y[0]}")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.85, label=colour_label)


def sweep_figure(rows: list[dict], methods: list[str], dataset: str, path: str) -> Path:
    """A heat map of the Avg. Gap over each method's two knobs, the settings within 1.5 in red."""
    from utils.plots import finish, pyplot
    plt = pyplot()
    fig, axes = plt.subplots(1, len(methods), figsize=(5.6 * len(methods), 4.6), squeeze=False)
    for ax, method_name in zip(axes[0], methods):
        mine = [r for r in rows if r["method"] == method_name and r["forget set"] == rows[0]["forget set"]]
        x_flag, y_flag = [k for k in mine[0] if k not in ("method", "forget set", *MEASURES)]
        xs, ys = sorted({r[x_flag] for r in mine}), sorted({r[y_flag] for r in mine})
        gaps = np.full((len(ys), len(xs)), np.nan)
        for r in mine:
            gaps[ys.index(r[y_flag]), xs.index(r[x_flag])] = r["avg_gap"]
        image = ax.imshow(gaps, origin="lower", cmap="viridis_r", vmin=0, vmax=50, aspect="auto")
        for (i, j), gap in np.ndenumerate(gaps):
            ax.text(j, i, "–" if gap != gap else f"{gap:.1f}", ha="center", va="center", fontsize=6,
                    color="red" if gap <= 1.5 else "white" if gap > 25 else "black")
        label_grid(fig, ax, image, (x_flag, xs), (y_flag, ys), f"{method_name}: Avg. Gap, class 3 of {dataset}",
                   "Avg. Gap to retrain (red: ≤ 1.5)")
    return finish(fig, path)


def sweep(args: argparse.Namespace, dirs: list[str]) -> None:
    """Every setting of a grid over each method's two searched knobs, forgetting class 3 (seed 1): the Avg. Gap and
    its parts, a heat map per method, and each method's best setting; with --draws, the same grid on that many other
    classes, and how many of the classes each setting brings within 1.5."""
    forget = KINDS["class-wise (class 3)"]
    for method_name in args.methods:
        knobs = unlearn.get_method(method_name).search
        if len(knobs) != 2:
            raise UserError(f"--sweep maps two knobs on a plane; {method_name} searches {len(knobs)} "
                            f"({', '.join(knobs) or 'none'}): leave it out of --methods")
    flags, setup = evaluation_setup(args.methods[0], forget, dirs, f"{args.name}_best")
    draws = family_of(setup).tune_validation(setup, flags.seed, args.draws) if args.draws else []
    if len(draws) < args.draws:
        raise UserError(f"--draws {args.draws}: {args.dataset} has {len(draws)} classes besides class 3; give "
                        f"--draws ≤ {len(draws)}")
    rows, best, per_class = [], [], []
    for method_name in args.methods:
        flags, setup, r_result, mask, space = on_the_evaluation_set(method_name, forget, dirs, f"{args.name}_best")
        knobs = list(space)
        settings = [dict(zip(knobs, values))
                    for values in itertools.product(*(grid(space[k], args.points) for k in knobs))]
        for forget_set in [setup.forget, *draws]:
            name = family_of(setup).describe_forget(forget_set).split(" (")[0]
            if forget_set is not setup.forget:
                r_result, mask = reference(setup, forget_set, flags)
            for setting in settings:
                try:
                    metrics = score(setup, forget_set, flags, setting, mask, r_result, 1).metrics
                except UserError:  # a diverged run
                    metrics = dict.fromkeys(MEASURES, float("nan"))
                rows.append({"method": method_name, "forget set": name,
                             **{KNOBS[k].flag: v for k, v in setting.items()},
                             **{key: metrics[key] for key in MEASURES}})
                print(rows[-1], flush=True)
            mine = [r for r in rows if r["method"] == method_name and r["forget set"] == name
                    and r["avg_gap"] == r["avg_gap"]]
            top = min(mine, key=lambda r: r["avg_gap"])
            at = ", ".join(f"--{KNOBS[k].flag} {top[KNOBS[k].flag]:.3g}" for k in knobs)
            if forget_set is setup.forget:
                best.append({"method": method_name, "settings": len(settings),
                             "within 1.5": sum(r["avg_gap"] <= 1.5 for r in mine), "best": f"{top['avg_gap']:.2f}",
                             "at": at, "UA, RA, TA, MIA there": ", ".join(f"{top[key]:.1f}" for key in
                                                                          ("UA", "RA", "TA", "MIA")),
                             "retrained": ", ".join(f"{r_result[key]:.1f}" for key in ("UA", "RA", "TA", "MIA"))})
            per_class.append({"method": method_name, "forget set": name,
                              "within 1.5": sum(r["avg_gap"] <= 1.5 for r in mine),
                              "best": f"{top['avg_gap']:.2f}", "at": at})
    figure = sweep_figure(rows, args.methods, args.label.split(",")[0], f"{args.out}.png")
    headings = ["method", "settings", "within 1.5", "best", "at", "UA, RA, TA, MIA there", "retrained"]
    body = (f"{args.label}, forgetting class 3, seed 1: a grid of {args.points} values per searched "
            f"knob over each method's search space, scored on the evaluation forget set (the landscape that "
            f"--bound's trials search). Every setting is in the .csv; the heat maps are in {figure.name}.\n\n"
            + markdown_table(headings, [[str(r[h]) for h in headings] for r in best]))
    if args.draws:
        classes_figure = classes_within_figure(rows, args.methods, f"{args.out}_classes.png")
        headings = ["method", "forget set", "within 1.5", "best", "at"]
        body += (f"\n\nThe same grid on {args.draws} other classes (the first of the tuner's validation "
                 f"sequence), seed 1 each: per class (class 3 first), the settings within 1.5 of its retrained model "
                 f"and the best. How many classes each setting brings within 1.5 is mapped in "
                 f"{classes_figure.name}.\n\n"
                 + markdown_table(headings, [[str(r[h]) for h in headings] for r in per_class])
                 + "\n\n" + "\n".join(f"- {line}" for line in settings_across_classes(rows, args.methods)))
    publish(args.out, body, rows, script_command("experiments/tune_digits.py", args.argv))


def _by_setting(rows: list[dict], method_name: str) -> dict[tuple, dict[str, float]]:
    """setting (knob values) -> forget set -> Avg. Gap, of one method's sweep rows."""
    table: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r["method"] == method_name:
            key = tuple((k, v) for k, v in r.items() if k not in ("method", "forget set", *MEASURES))
            table.setdefault(key, {})[r["forget set"]] = r["avg_gap"]
    return table


def settings_across_classes(rows: list[dict], methods: list[str]) -> list[str]:
    """Per method: how many settings hold every class within 1.5, and the setting that holds the most."""
    lines = []
    for method_name in methods:
        table = _by_setting(rows, method_name)
        first = rows[0]["forget set"]
        counts = {key: sum(g <= 1.5 for g in gaps.values()) for key, gaps in table.items()}
        key = max(counts, key=lambda k: (counts[k], -sum(table[k].values())))
        classes = len(table[key])
        at = ", ".join(f"--{k} {v:.3g}" for k, v in key)
        lines.append(f"{method_name}: {sum(c == classes for c in counts.values())} of {len(table)} settings hold all "
                     f"{classes} classes within 1.5; the most any setting holds is {counts[key]} ({at}), which gives "
                     f"{table[key][first]:.2f} on {first}.")
    return lines


def classes_within_figure(rows: list[dict], methods: list[str], path: str) -> Path:
    """A heat map per method: over its two knobs, how many of the swept classes each setting brings within 1.5."""
    from utils.plots import finish, pyplot
    plt = pyplot()
    fig, axes = plt.subplots(1, len(methods), figsize=(5.6 * len(methods), 4.6), squeeze=False)
    for ax, method_name in zip(axes[0], methods):
        table = _by_setting(rows, method_name)
        (x_flag, _), (y_flag, _) = next(iter(table))
        xs, ys = sorted({key[0][1] for key in table}), sorted({key[1][1] for key in table})
        counts = np.zeros((len(ys), len(xs)))
        for key, gaps in table.items():
            counts[ys.index(key[1][1]), xs.index(key[0][1])] = sum(g <= 1.5 for g in gaps.values())
        classes = len(next(iter(table.values())))
        image = ax.imshow(counts, origin="lower", cmap="viridis", vmin=0, vmax=classes, aspect="auto")
        for (i, j), count in np.ndenumerate(counts):
            ax.text(j, i, f"{count:.0f}", ha="center", va="center", fontsize=7,
                    color="black" if count > classes / 2 else "white")
        label_grid(fig, ax, image, (x_flag, xs), (y_flag, ys),
                   f"{method_name}: classes of {classes} within 1.5 of retraining", "classes within 1.5")
    return finish(fig, path)


if __name__ == "__main__":
    run_cli(main)
