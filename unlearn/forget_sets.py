"""Forget sets: which rows of the train split a model must forget (class-wise, random, or listed)."""
import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from datasets.base import ImageDataset
from utils.errors import UserError


@dataclass
class ForgetSet:
    indices: torch.Tensor  # sorted train-split rows to forget
    classes: list[int]  # classes named by the forget set ([] for random or listed rows)
    classwise: bool  # whole classes forgotten: TA is measured on the test split without them
    spec: dict  # plain description that rebuilds exactly this set

    def retain_indices(self, n_train: int) -> torch.Tensor:
        keep = torch.ones(n_train, dtype=torch.bool)
        keep[self.indices] = False
        return keep.nonzero().flatten()

    def to_meta(self) -> dict:
        return {**self.spec, "classes": self.classes, "classwise": self.classwise,
                "indices": self.indices.tolist(), "size": len(self.indices)}

    def label(self, hp: dict | None = None) -> str:
        """How a model id names this set: 3, 3-5, 3rand100, rand450, del63."""
        if self.spec.get("deletion_size"):
            return f"del{len(self.indices)}"
        if self.classwise:
            return "-".join(map(str, self.classes))
        if self.classes:
            return f"{'-'.join(map(str, self.classes))}rand{len(self.indices)}"
        return f"rand{len(self.indices)}"


def parse_classes(text: str | int | None) -> list[int]:
    """'3' or '3,5' -> [3] / [3, 5]; None, '' or a negative number (SalUn's -1) -> []."""
    if text is None or text == "":
        return []
    try:
        classes = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--class_to_forget {text!r} must be a class number or a comma-separated list such as 3,5")
    twice = next((c for i, c in enumerate(classes) if c in classes[:i]), None)
    if twice is not None:
        raise UserError(f"--class_to_forget {text} names class {twice} twice; name each class once, e.g. "
                        f"{','.join(map(str, dict.fromkeys(classes)))}")
    return [] if classes and all(c < 0 for c in classes) else classes


def parse_count(text: str | None) -> int | float | None:
    """--num_indexes_to_replace: a count (450) or a fraction of the candidates (0.1)."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")) or (value >= 1 and value != int(value)):
        raise UserError(f"--num_indexes_to_replace {text} must be a whole count of rows (450) or a fraction of them "
                        f"between 0 and 1 (0.1)")
    return value if value < 1 else int(value)


def spec_from_args(args: argparse.Namespace) -> dict:
    """The forget specification the flags describe (classes, random count, or a file of indices)."""
    classes = parse_classes(getattr(args, "class_to_forget", None))
    return {"class_to_forget": classes, "num_indexes_to_replace": parse_count(getattr(args, "num_indexes_to_replace", None)),
            "indexes_to_replace": getattr(args, "indexes_to_replace", None),
            "deletion_size": getattr(args, "deletion_size", None), "seed": args.seed}


def names_rows(spec: dict) -> bool:
    """Whether the spec itself names rows (classes, a count or a file), rather than a deletion set."""
    return bool(spec["class_to_forget"] or spec["num_indexes_to_replace"] or spec["indexes_to_replace"])


def resolve(data: ImageDataset, spec: dict, manipulated: list[int] | None = None) -> ForgetSet:
    """The rows of the train split that `spec` names, checked against the dataset.

    For a model trained on a manipulated set (`manipulated` = its rows) and no rows named, the forget
    set is the deletion set: a seeded draw of --deletion_size of the manipulated rows (default all).
    """
    if data.multilabel:
        raise UserError(f"{data.name} is multi-label; unlearning here needs a single-label task")
    labels = data.train.labels.cpu()
    n = len(labels)
    classes, count, listed = spec["class_to_forget"], spec["num_indexes_to_replace"], spec["indexes_to_replace"]
    bad = [c for c in classes if not 0 <= c < data.num_classes]
    if bad:
        raise UserError(f"class {bad[0]} is out of range: {data.name} has classes 0..{data.num_classes - 1}")
    deletion = spec.get("deletion_size")
    if deletion and (not manipulated or names_rows(spec)):
        raise UserError("--deletion_size applies to a model trained with --dataset_method, with no other forget flags")
    if manipulated and not names_rows(spec):
        return deletion_set(manipulated, deletion, spec)
    if listed:
        if classes or count:
            raise UserError("--indexes_to_replace lists the rows itself; drop --class_to_forget / --num_indexes_to_replace")
        indices = read_indices(listed, n)
    elif classes or count:
        candidates = torch.isin(labels, torch.tensor(classes)).nonzero().flatten() if classes else torch.arange(n)
        if count is not None:
            k = round(count * len(candidates)) if isinstance(count, float) else count
            if k > len(candidates):
                raise UserError(f"--num_indexes_to_replace {count} is more than the {len(candidates)} candidate rows")
            rng = np.random.default_rng(spec["seed"])
            candidates = candidates[torch.from_numpy(rng.choice(len(candidates), size=k, replace=False))]
        indices = candidates
    else:
        raise UserError("say what to forget: --class_to_forget C, --num_indexes_to_replace N, or --indexes_to_replace FILE")
    indices = indices.sort().values
    if len(indices) == 0:
        raise UserError(f"the forget set is empty (class {classes} has no training samples in {data.name}?)")
    if len(indices) == n:
        raise UserError(f"the forget set is the whole train split ({n} rows); nothing would be left to retain")
    return ForgetSet(indices, classes, bool(classes) and count is None, spec)


def deletion_set(manipulated: list[int], size: int | None, spec: dict) -> ForgetSet:
    """The `size` manipulated rows the unlearner knows about (seeded draw; all of them by default)."""
    n = len(manipulated)
    size = n if size is None else size
    if size > n:
        raise UserError(f"--deletion_size {size} is larger than the {n} manipulated samples (--forget_set_size)")
    rng = np.random.default_rng(spec["seed"])
    rows = torch.tensor(sorted(rng.choice(manipulated, size=size, replace=False).tolist()), dtype=torch.long)
    return ForgetSet(rows, [], False, {**spec, "deletion_size": size})


def read_indices(path: str, n: int) -> torch.Tensor:
    """One train-split row index per line."""
    if not Path(path).is_file():
        raise UserError(f"--indexes_to_replace {path}: no such file" + (" (a folder)" if Path(path).is_dir() else "")
                        + "; pass a text file of train-split row indices, one a line")
    try:
        words = Path(path).read_text().split()
    except UnicodeDecodeError:
        raise UserError(f"--indexes_to_replace {path} is not a text file; pass one integer row index per "
                        f"line") from None
    values = []
    for word in words:
        try:
            values.append(int(word))
        except ValueError:
            raise UserError(f"--indexes_to_replace {path} must hold one integer row index per line "
                            f"(found {word[:20]!r})") from None
    values.sort()
    outside = next((v for v in values if not 0 <= v < n), None)
    if outside is not None:
        raise UserError(f"--indexes_to_replace {path} lists row {outside}, outside the train split's rows 0..{n - 1}")
    twice = next((a for a, b in zip(values, values[1:]) if a == b), None)
    if twice is not None:
        raise UserError(f"--indexes_to_replace {path} lists row {twice} more than once; list each row once")
    return torch.tensor(values, dtype=torch.long)


def from_meta(meta: dict) -> ForgetSet:
    """The forget set stored in an unlearned (or retrained) checkpoint."""
    forget = meta["forget"]
    spec = {k: forget.get(k) for k in ("class_to_forget", "num_indexes_to_replace", "indexes_to_replace",
                                      "deletion_size", "seed")}
    return ForgetSet(torch.tensor(forget["indices"], dtype=torch.long), forget["classes"], forget["classwise"], spec)


def describe(forget: ForgetSet) -> str:
    if hasattr(forget, "group"):
        return f"group {forget.group} ({len(forget.indices)} train slices of {len(forget.volumes)} volumes)"
    if forget.spec.get("deletion_size"):
        return f"a deletion set of {len(forget.indices)} manipulated train samples"
    what = f"class {','.join(map(str, forget.classes))}" if forget.classwise else (
        f"{len(forget.indices)} random rows" + (f" of class {','.join(map(str, forget.classes))}" if forget.classes else ""))
    return f"{what} ({len(forget.indices)} train samples)"
