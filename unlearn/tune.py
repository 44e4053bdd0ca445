"""Hyper-parameter search for one unlearning method (main_tune.py): an Optuna study of the knobs the method declares
in @register(search=...), each trial scored against a model retrained without a *validation* forget set, another
draw of the same kind as the user's, so that nothing is tuned on the set the results are reported on.

Studies live in a database (SQLite under {runs_dir}/tune/ by default, an Optuna journal file, or any SQLAlchemy URL
such as postgresql://...), so any number of workers on any number of machines can join one study."""
import argparse
import copy
import dataclasses
import json
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import models
import unlearn
from utils import checkpoints
from utils.errors import UserError
from utils.eval_cache import file_digest
from utils.io import save_csv, save_json, save_text
from utils.paths import check_run_id, check_writable_dir, run_lock
from utils.tables import format_table, markdown_table

from . import forget_sets, masks
from .families import Family, family_for_checkpoint
from .forget_sets import ForgetSet
from .knobs import KNOBS, Range
from .workflow import unlearn_model

OBJECTIVES = {"avg_gap": "Avg. Gap to the retrained model (points)", "time": "unlearning seconds",
              "rte": "unlearning time / retrain time"}
# what a study is about: joining it must agree
STUDY_ATTRS = ("method", "model", "dataset", "forget", "objectives", "trial_seeds")
EVAL_BATCH = 256
WAIT_S = 2.0  # how often a worker looks again for a retrained model another worker is training
STORAGE_ATTEMPTS = 4  # a new database's tables may be being created by another worker at the same moment


def parse_objectives(text: str) -> list[str]:
    """'avg_gap' or 'avg_gap,time' (a Pareto front) -> the objective names, all minimised."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown or not names or len(set(names)) != len(names):
        raise UserError(f"--objective {text}: give one or two of {', '.join(OBJECTIVES)}, comma-separated and each "
                        f"once (e.g. avg_gap, or avg_gap,time for a Pareto front)")
    return names


def search_space(method: unlearn.Method, given: frozenset) -> dict[str, Range]:
    """The knobs to search: those the method declares, less those the user fixed with a flag."""
    if not method.search:
        tunable = [m for m in unlearn.available(method.task) if unlearn.get_method(m, method.task).search]
        raise UserError(f"{method.name} declares no search space (it has no knob to tune); main_tune.py tunes "
                        f"{', '.join(tunable)}")
    space = {knob: r for knob, r in method.search.items() if KNOBS[knob].flag not in given}
    if not space:
        raise UserError(f"every knob of {method.name} that main_tune.py searches is fixed by a flag "
                        f"({', '.join('--' + KNOBS[k].flag for k in method.search)}); drop one")
    return space


def validation_forget_sets(data, forget: ForgetSet, seed: int, count: int) -> list[ForgetSet]:
    """`count` other draws of the same kind as `forget` (fewer when the data has too few): other classes for
    class-wise forgetting, other subsets of the same size (of the same classes) for random forgetting, disjoint from
    `forget` and from each other where the candidates allow."""
    labels = data.train.labels.cpu()
    rng = np.random.default_rng(seed + 7919)
    spec = {"class_to_forget": [], "num_indexes_to_replace": None, "indexes_to_replace": None,
            "deletion_size": None, "seed": seed, "validation_for": forget_sets.describe(forget)}
    if forget.classwise:
        others = [c for c in range(data.num_classes) if c not in forget.classes and (labels == c).any()]
        k = len(forget.classes)
        if len(others) < k:
            raise UserError(f"{data.name} has no other {k} class(es) to tune on; tune with random forgetting "
                            f"(--num_indexes_to_replace) instead")
        drawn = [int(c) for c in rng.permutation(others)]
        sets = []
        for i in range(min(count, len(others) // k)):
            classes = sorted(drawn[i * k:(i + 1) * k])
            rows = torch.isin(labels, torch.tensor(classes)).nonzero().flatten()
            sets.append(ForgetSet(rows.sort().values, classes, True, {**spec, "class_to_forget": classes}))
        return sets
    if forget.spec.get("indexes_to_replace") or forget.spec.get("deletion_size"):
        raise UserError("main_tune.py tunes class-wise or random forgetting (--class_to_forget, "
                        "--num_indexes_to_replace); a listed or deletion set has no second draw of the same kind")
    pool = (torch.isin(labels, torch.tensor(forget.classes)) if forget.classes
            else torch.ones(len(labels), dtype=torch.bool))
    free = pool.clone()
    free[forget.indices] = False
    sets = []
    for _ in range(count):
        candidates = (free if free.sum() >= len(forget.indices) else pool).nonzero().flatten()
        pick = torch.from_numpy(rng.choice(len(candidates), size=len(forget.indices), replace=False))
        rows = candidates[pick].sort().values
        free[rows] = False
        sets.append(ForgetSet(rows, list(forget.classes), False, {**spec, "num_indexes_to_replace": len(rows),
                                                                   "draw": len(sets)}))
    return sets


def retrained_for(setup, forget, args: argparse.Namespace) -> tuple[nn.Module, dict]:
    """The original retrained without `forget` as main_unlearn.py --unlearn retrain names and saves it in --model_dir:
    read when it is there, trained (once, whichever worker comes first) when not."""
    stem = checkpoints.find_checkpoint(args.model_id, args.model_dir).stem
    retrain = family_of(setup).retrain_method
    retrain_args = argparse.Namespace(**{**vars(args), "unlearn": retrain, **{k.flag: None for k in KNOBS.values()}})
    hp = unlearn.resolve_hparams(unlearn.get_method(retrain, setup.family), retrain_args, setup.meta)
    label = forget.label(hp)
    if getattr(forget, "spec", {}).get("validation_for"):
        label = f"tuneval{forget.spec.get('draw', '')}{label}"
    model_id = unlearn.unlearned_id(stem, label, retrain, args.mask_thresh, hp["epochs"], hp["lr"])
    path = checkpoints.checkpoint_path(model_id, args.model_dir)
    while True:
        if path.exists():
            model, meta = models.load_model(model_id, args.model_dir, setup.data.describe(), setup.device)
            if not torch.equal(torch.tensor(meta.get("forget", {}).get("indices", [])), forget.indices.cpu()):
                raise UserError(f"{path} was retrained without another forget set; move it aside or pass another "
                                f"--model_dir")
            return model, meta
        try:
            with run_lock(args.model_dir, model_id):
                print(f"retraining {stem} without {family_of(setup).describe_forget(forget)} (once; saved as "
                      f"{model_id})")
                model, meta = unlearn_model(replace_model(setup, forget), retrain_args, None, model_id)
                checkpoints.save_checkpoint(path, model, meta)
                return model, meta
        except UserError as err:
            if "being written by another run" not in str(err):
                raise
            time.sleep(WAIT_S)  # another worker is training it


def family_of(setup) -> Family:
    """The family of the setup's model (its methods, how its trials are scored)."""
    return family_for_checkpoint(setup.meta)


def replace_model(setup, forget):
    """A copy of the setup (of any family) with its own copy of the original model and another forget set."""
    return dataclasses.replace(setup, model=copy.deepcopy(setup.model), forget=forget)


def saliency_mask(setup, forget, share: float, args: argparse.Namespace) -> dict[str, torch.Tensor]:
    """The SalUn mask of `forget` at `share`, as generate_mask.py computes it."""
    saliency = family_of(setup).saliency(dataclasses.replace(setup, forget=forget), args)
    return masks.top_share_masks(saliency, [share])[share]


@dataclass
class Scored:
    """One run of the method: the measures (UA, RA, TA, MIA, gap to the retrained model) and its time."""
    metrics: dict
    seconds: float

    def values(self, objectives: list[str], retrain_s: float) -> list[float]:
        value = {"avg_gap": self.metrics["avg_gap"], "time": self.seconds, "rte": self.seconds / retrain_s}
        return [value[o] for o in objectives]


def score(setup, forget, args: argparse.Namespace, hparams: dict, mask: dict | None, retrained: dict, seed: int,
          trial=None, final: bool = False) -> Scored:
    """Run the method with `hparams` (knob -> value) on a copy of the original and score it against `retrained`.
    With an Optuna `trial` the gap after every epoch is reported to it, and the run stops (optuna.TrialPruned) when
    the study's pruner says so."""
    flags = {KNOBS[k].flag: v for k, v in hparams.items()}
    run_args = argparse.Namespace(**{**vars(args), **flags, "seed": seed})

    family = family_of(setup)

    def gap(model: nn.Module) -> tuple[dict, float]:
        result = family.tune_measures(setup, model, setup.meta, forget, final)
        return result, family.tune_gap(result, retrained)

    def report(epoch: int, model: nn.Module) -> None:
        import optuna
        trial.report(gap(model)[1], epoch)
        model.train()
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")

    model, info = unlearn.run(copy.deepcopy(setup.model), setup.data, forget, setup.meta, run_args, setup.device,
                              mask, show=False, after_epoch=report if trial is not None else None)
    result, avg_gap = gap(model)
    return Scored({**result, "avg_gap": avg_gap}, info["unlearn_time_s"])


def make_storage(url: str):
    """An Optuna storage: `journal:PATH` (a journal file, for a shared disk) or a SQLAlchemy URL (sqlite:///FILE,
    postgresql://..., mysql://...); a database that cannot be reached is a UserError, and nothing is created."""
    import optuna
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        if not path.parent.is_dir():
            raise UserError(f"--storage {url}: folder {path.parent} does not exist")
        check_writable_dir(path.parent, "--storage")
        from optuna.storages.journal import JournalFileBackend
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.parent.is_dir():
            raise UserError(f"--storage {url}: folder {path.parent} does not exist")
        check_writable_dir(path.parent, "--storage")
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True} if "sqlite" not in url else {})
        except Exception as err:  # SQLAlchemy's and the drivers' errors; workers racing to create the tables too
            if attempt + 1 < STORAGE_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))
                continue
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"--storage {url} cannot be reached: {first}") from None


def open_study(name: str, storage, attrs: dict, seed: int, overwrite: bool = False):
    """The study `name`: created, or joined when it exists and is about the same method, model (bytes) and forget
    set; with `overwrite` an existing one is deleted first."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        existing = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        existing = None
    if existing is not None and overwrite:
        optuna.delete_study(study_name=name, storage=storage)
    elif existing is not None:
        theirs = existing.user_attrs
        for key in STUDY_ATTRS:
            if key in theirs and theirs[key] != attrs[key]:
                raise UserError(f"study {name} exists with {key} {theirs[key]!r}, not {attrs[key]!r}; name another "
                                f"--study, join it with its own flags, or start it again with --overwrite")
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)  # on the per-epoch gap
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner, load_if_exists=True,
                                directions=["minimize"] * len(attrs["objectives"]))
    for key, value in attrs.items():
        if key not in study.user_attrs:
            study.set_user_attr(key, value)
    return study


def suggest(trial, space: dict[str, Range]) -> dict:
    """One value per knob of `space`."""
    return {knob: trial.suggest_int(knob, int(r.low), int(r.high), log=r.log) if r.integer
            else trial.suggest_float(knob, r.low, r.high, log=r.log) for knob, r in space.items()}


def run_trials(study, trials: int, space: dict[str, Range], run, show: bool = True) -> int:
    """Ask, run and tell trials until the study holds `trials` complete ones, whichever worker ran them; a trial a
    worker asks for once the others hold enough is marked surplus (failed) at once, so none runs twice or too many.
    Returns how many this worker completed."""
    import optuna
    from optuna.trial import TrialState
    done = lambda: len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))  # noqa: E731
    mine, failed = 0, 0
    with tqdm(total=trials, initial=min(done(), trials), desc=f"study {study.study_name}", disable=not show,
              dynamic_ncols=True) as bar:
        while done() < trials:
            trial = study.ask()
            ahead = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
                     if t.number < trial.number]
            if len(ahead) >= trials:
                trial.set_user_attr("surplus", True)
                study.tell(trial, state=TrialState.FAIL)
                break
            try:
                values = run(trial, suggest(trial, space))
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)
                continue
            except UserError as err:  # a diverged run: a failed trial, and the search goes on
                trial.set_user_attr("error", str(err))
                study.tell(trial, state=TrialState.FAIL)
                failed += 1
                if failed >= max(3, trials):
                    raise UserError(f"{failed} trials of study {study.study_name} failed, the last with: {err}; "
                                    f"narrow the search with fixed knob flags") from None
                continue
            study.tell(trial, values)
            mine += 1
            bar.n = min(done(), trials)
            bar.refresh()
    return mine


def best_trials(study) -> list:
    """The best trial (one objective) or the Pareto front, lowest first objective first."""
    return sorted(study.best_trials, key=lambda t: t.values[0])


def trial_rows(study) -> list[dict]:
    """Every complete trial: number, values, knobs and measures."""
    from optuna.trial import TrialState
    objectives = study.user_attrs["objectives"]
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        rows.append({"trial": t.number, **dict(zip(objectives, t.values)), **t.params,
                     **{k: v for k, v in t.user_attrs.items() if k not in ("error", "surplus")}})
    return rows


def write_outputs(study, folder: Path, method: unlearn.Method) -> dict:
    """best.json (what main_unlearn.py --hparams reads), trials.csv and the Optuna figures, into `folder`."""
    objectives = study.user_attrs["objectives"]
    if not trial_rows(study):
        raise UserError(f"study {study.study_name} has no complete trial yet: nothing to write")
    front = best_trials(study)
    best = front[0]
    flags = {KNOBS[k].flag: v for k, v in best.params.items()}
    summary = {"study": study.study_name, "method": method.name, "hparams": best.params, "flags": flags,
               "objectives": objectives, "values": dict(zip(objectives, best.values)), "trial": best.number,
               "validation_forget": study.user_attrs.get("validation_forget"), "forget": study.user_attrs["forget"],
               "model": study.user_attrs["model"], "trials": len(trial_rows(study)),
               "pareto": [{"trial": t.number, "hparams": t.params, "values": dict(zip(objectives, t.values))}
                          for t in front] if len(objectives) > 1 else None}
    save_json(summary, folder / "best.json")
    rows = trial_rows(study)
    save_csv(rows, folder / "trials.csv")
    figures(study, folder)
    return summary


def figures(study, folder: Path) -> list[Path]:
    """Optuna's matplotlib figures: optimisation history, parameter importances (two or more trials), and the Pareto
    front of a two-objective study."""
    from optuna.visualization import matplotlib as vis

    from utils.io import save_figure
    from utils.plots import pyplot
    pyplot()
    names = study.user_attrs["objectives"]
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib figures experimental
        plots = {"history": lambda: vis.plot_optimization_history(study, target=lambda t: t.values[0],
                                                                  target_name=names[0])}
        if len(trial_rows(study)) >= 2:
            plots["importances"] = lambda: vis.plot_param_importances(study, target=lambda t: t.values[0],
                                                                      target_name=names[0])
        if len(names) > 1:
            plots["pareto"] = lambda: vis.plot_pareto_front(study, target_names=names)
        for name, plot in plots.items():
            try:
                ax = plot()
            except (ValueError, RuntimeError):  # e.g. importances of a single distinct value
                continue
            figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            written.append(save_figure(figure, folder / f"{name}.png"))
    return written


def final_runs(setup, args: argparse.Namespace, hparams: dict, seeds: list[int], folder: Path,
               method: unlearn.Method, tuned_on: str) -> tuple[list[dict], dict]:
    """The chosen setting on the user's forget set, once per seed, against the model retrained without it (on the
    test split); writes final.md and final.csv (each seed, mean ± std, and the retrained model's measures). Returns
    the runs and the retrained model's measures."""
    family = family_of(setup)
    retrained, r_meta = retrained_for(setup, setup.forget, args)
    r_result = family.tune_measures(setup, retrained, r_meta, setup.forget, final=True)
    mask = saliency_mask(setup, setup.forget, args.mask_thresh, args) if method.masked else None
    rows = []
    for seed in tqdm(seeds, desc="final runs", dynamic_ncols=True):
        scored = score(setup, setup.forget, args, hparams, mask, r_result, seed, final=True)
        rows.append({"seed": seed, **scored.metrics, "seconds": scored.seconds})
    keys = [*r_result, "avg_gap", "seconds"]
    fmt = lambda key: ".4f" if key.startswith("ssim") else ".2f"  # noqa: E731  (SSIM lives in [0, 1])
    mean = {k: statistics.fmean(r[k] for r in rows) for k in keys}
    std = {k: statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0 for k in keys}
    setting = ", ".join(f"--{KNOBS[k].flag} {v:.4g}" if isinstance(v, float) else f"--{KNOBS[k].flag} {v}"
                        for k, v in hparams.items())
    table = markdown_table(["seed", *r_result, "Avg. Gap", "Time (s)"],
                           [[str(r["seed"]), *(f"{r[k]:{fmt(k)}}" for k in keys)] for r in rows]
                           + [["mean ± std", *(f"{mean[k]:{fmt(k)}} ± {std[k]:{fmt(k)}}" for k in keys)]]
                           + [["retrained", *(f"{r_result[k]:{fmt(k)}}" for k in r_result), "0.00", ""]])
    original = checkpoints.find_checkpoint(args.model_id, args.model_dir).stem
    text = (f"{method.name} with {setting} (tuned on {tuned_on}), on {family.describe_forget(setup.forget)}, "
            f"against {original} retrained without it; {len(seeds)} seed{'s' * (len(seeds) != 1)}.\n\n{table}\n")
    save_text(text, folder / "final.md")
    save_csv(rows, folder / "final.csv")
    print(text)
    return rows, r_result


def read_hparams(path: str | Path, method_name: str) -> dict:
    """The knob flags of a best.json (main_tune.py's), refused when it tuned another method."""
    try:
        best = json.loads(Path(path).read_text())
        flags, tuned = best["flags"], best["method"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"--hparams {path}: not a main_tune.py best.json ({err})") from None
    if tuned.lower() != method_name.lower():
        raise UserError(f"--hparams {path} holds {tuned}'s setting, not {method_name}'s; pass --unlearn {tuned}")
    if not isinstance(flags, dict):
        raise UserError(f"--hparams {path}: its flags must map knob flags to values")
    knobs = {knob.flag: knob for knob in KNOBS.values()}
    checked = {}
    for flag, value in flags.items():  # as the command line would read them
        if flag not in knobs:
            raise UserError(f"--hparams {path}: {flag} is no method's knob (main_tune.py writes only knob flags)")
        try:
            checked[flag] = knobs[flag].type(str(value))
        except argparse.ArgumentTypeError as err:
            raise UserError(f"--hparams {path}: {flag} {value!r}: {err}") from None
        except ValueError:
            kind = knobs[flag].kind.replace("_", " ")
            raise UserError(f"--hparams {path}: {flag} {value!r}: must be a {kind}") from None
        if knobs[flag].choices and checked[flag] not in knobs[flag].choices:
            raise UserError(f"--hparams {path}: {flag} {value!r} is not one of {', '.join(knobs[flag].choices)}")
    return checked


def format_front(study) -> str:
    objectives = study.user_attrs["objectives"]
    rows = [[t.number, *t.values, ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in t.params.items())] for t in best_trials(study)]
    return format_table(["trial", *objectives, "setting"], rows, floatfmt=".3f")


def tune(setup, args: argparse.Namespace) -> dict:
    """main_tune.py: search `args.unlearn`'s knobs on validation forget sets, write the study's outputs, then run
    the best setting on the user's forget set over --final_seeds seeds. Every flag is checked before the database
    is touched."""
    method = unlearn.get_method(args.unlearn, setup.family)
    objectives = parse_objectives(args.objective)
    space = search_space(method, getattr(args, "given", frozenset()))
    unlearn.check_flags(method, args)
    if args.trials < 1:
        raise UserError(f"--trials {args.trials}: a study needs at least one trial")
    family = family_of(setup)
    validation = family.tune_validation(setup, args.seed, args.validation_sets)
    tuned_on = "; ".join(family.describe_forget(v) for v in validation)
    if len(validation) == 1 and validation[0] is setup.forget:  # reconstruction: trials see the val split only
        tuned_on = f"the val split of {tuned_on}"
    stem = checkpoints.find_checkpoint(args.model_id, args.model_dir).stem
    name = check_run_id(args.study, "--study") if args.study else f"{stem}_{method.name}_{setup.forget.label()}"
    folder = Path(args.runs_dir) / "tune" / name
    check_writable_dir(folder, "--runs_dir")
    storage_url = args.storage or f"sqlite:///{Path(args.runs_dir) / 'tune' / 'studies.db'}"
    if not args.storage:
        (Path(args.runs_dir) / "tune").mkdir(parents=True, exist_ok=True)
    storage = make_storage(storage_url)
    digest = file_digest(checkpoints.find_checkpoint(args.model_id, args.model_dir))[:12]
    attrs = {"method": method.name, "model": f"{stem} (sha256 {digest})", "dataset": setup.data.name,
             "forget": family.describe_forget(setup.forget), "objectives": objectives,
             "validation_forget": tuned_on, "trial_seeds": args.trial_seeds}
    study = open_study(name, storage, attrs, args.tune_seed, args.overwrite)
    print(f"study {name} in {storage_url}: {method.name}'s {', '.join(space)} by {', '.join(objectives)}, tuned on "
          f"{tuned_on} (the final runs, on {family.describe_forget(setup.forget)}, are scored on data no trial saw)")

    references = []  # per validation set: the retrained model's measures, its time, the SalUn mask
    for forget in validation:
        retrained, r_meta = retrained_for(setup, forget, args)
        r_result = family.tune_measures(setup, retrained, r_meta, forget, final=False)
        mask = saliency_mask(setup, forget, args.mask_thresh, args) if method.masked else None
        references.append((forget, r_result, r_meta["unlearn"]["unlearn_time_s"], mask))
    retrain_s = statistics.fmean(r[2] for r in references)

    prune = args.prune and objectives == ["avg_gap"]  # Optuna prunes single-objective studies only

    seeds = [args.seed + i for i in range(args.trial_seeds)]

    def run(trial, hparams: dict) -> list[float]:
        """The mean over the validation sets and seeds (the per-epoch gap reported for pruning is the first run's)."""
        runs = [score(setup, forget, args, hparams, mask, r_result, seed,
                      trial if prune and (i, seed) == (0, args.seed) else None)
                for i, (forget, r_result, _, mask) in enumerate(references) for seed in seeds]
        scored = Scored({k: statistics.fmean(r.metrics[k] for r in runs) for k in runs[0].metrics},
                        statistics.fmean(r.seconds for r in runs))
        for key, value in scored.metrics.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("seconds", scored.seconds)
        return scored.values(objectives, retrain_s)

    mine = run_trials(study, args.trials, space, run)
    folder.mkdir(parents=True, exist_ok=True)
    summary = write_outputs(study, folder, method)
    print(f"this worker ran {mine} of the study's {summary['trials']} trials; best:")
    print(format_front(study))
    print(f"wrote {folder}/best.json (main_unlearn.py --hparams), trials.csv and the figures")
    if args.final_seeds:
        seeds = [args.seed + i for i in range(args.final_seeds)]
        summary["final"], summary["retrained"] = final_runs(setup, args, summary["hparams"], seeds, folder, method,
                                                            tuned_on)
    return summary
