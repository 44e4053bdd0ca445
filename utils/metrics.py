"""Classification metrics computed from logits (percent for accuracies, [0, 1] for AUC as MedMNIST reports it)."""
import functools
import importlib
import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch


def predictions(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return (logits > 0).float() if multilabel else logits.argmax(1)


def correct(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Per-sample correctness; for multi-label the share of labels right (MedMNIST's per-label accuracy)."""
    if multilabel:
        return (predictions(logits, True) == labels).float().mean(1)
    return (logits.argmax(1) == labels).float()


def accuracy(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool = False) -> float:
    if len(labels) == 0:
        return math.nan
    return 100.0 * correct(logits, labels, multilabel).mean().item()


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int, multilabel: bool = False) -> list[float]:
    """Accuracy on the samples of each class (NaN for an absent class); multi-label: accuracy of each label."""
    if multilabel:
        return (100.0 * (predictions(logits, True) == labels).float().mean(0)).tolist()
    hits = (logits.argmax(1) == labels).float()
    return [100.0 * hits[labels == c].mean().item() if (labels == c).any() else math.nan for c in range(num_classes)]


def class_counts(labels: torch.Tensor, num_classes: int, multilabel: bool = False) -> list[int]:
    if multilabel:
        return labels.sum(0).long().tolist()
    return torch.bincount(labels, minlength=num_classes).tolist()


def auc(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool = False) -> float:
    """Mean one-vs-rest ROC AUC over the classes (labels) that have both positives and negatives."""
    from sklearn.metrics import roc_auc_score
    scores = torch.sigmoid(logits) if multilabel else torch.softmax(logits.float(), 1)
    scores = scores.numpy()
    truth = labels.numpy() if multilabel else np.eye(logits.shape[1], dtype=np.float32)[labels.numpy()]
    if not multilabel and logits.shape[1] == 2:
        truth, scores = truth[:, 1:], scores[:, 1:]
    values = [roc_auc_score(truth[:, k], scores[:, k]) for k in range(truth.shape[1]) if 0 < truth[:, k].sum() < len(truth)]
    return float(np.mean(values)) if values else math.nan


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """cm[true][predicted] counts."""
    index = labels * num_classes + logits.argmax(1)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def true_class_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.float(), 1).gather(1, labels[:, None]).squeeze(1)


SVC_ARGUMENTS = {"svm_type": 0, "kernel": "rbf", "degree": 3, "coef0": 0.0, "cache_size": 200.0}  # SVC's defaults
PACKAGES_AROUND_LIBSVM = ("sklearn", "sklearn.utils", "sklearn.svm", "scipy", "scipy.linalg")


@functools.cache
def compiled_libsvm() -> types.ModuleType:
    """scikit-learn's compiled libsvm (`sklearn.svm._libsvm`, what SVC calls) without running the `__init__` of
    scikit-learn and scipy.linalg around it (scipy.stats and more: a second of start-up): empty stand-ins hold their
    places while the compiled modules load, then every scikit-learn and scipy module leaves `sys.modules` again, so a
    later `import sklearn` runs as usual (and finds the same compiled modules). The regular import when scikit-learn is
    already loaded, or if the stand-ins no longer suffice."""
    if "sklearn" not in sys.modules:
        loaded = set(sys.modules)
        specs = {top: importlib.util.find_spec(top) for top in ("sklearn", "scipy")}
        for name in PACKAGES_AROUND_LIBSVM:
            top, *inner = name.split(".")
            if name not in sys.modules and specs[top] and specs[top].origin:
                stand_in = sys.modules[name] = types.ModuleType(name)
                stand_in.__path__ = [str(Path(specs[top].origin).parent.joinpath(*inner))]
        try:
            return importlib.import_module("sklearn.svm._libsvm")
        except ImportError:
            pass
        finally:
            for name in set(sys.modules) - loaded:
                if name.split(".")[0] in ("sklearn", "scipy"):
                    del sys.modules[name]
    from sklearn.svm import _libsvm
    return _libsvm


def rbf_svc_predict(features: np.ndarray, truth: np.ndarray, targets: np.ndarray, C: float) -> np.ndarray:
    """`SVC(C=C, gamma="auto", kernel="rbf").fit(features, truth).predict(targets)` for 0/1 labels: the same libsvm
    calls with the same arguments, without scikit-learn's import."""
    if len(np.unique(truth)) < 2:
        raise ValueError("the SVC needs samples of both classes (members and non-members)")
    libsvm = compiled_libsvm()
    libsvm.set_verbosity_wrap(0)
    x = np.ascontiguousarray(features, dtype=np.float64)
    gamma = 1.0 / x.shape[1]
    fitted = libsvm.fit(x, np.asarray(truth, dtype=np.float64), C=C, gamma=gamma, tol=1e-3, nu=0.5, epsilon=0.0,
                        shrinking=1, probability=0, max_iter=-1, class_weight=np.ones(2), **SVC_ARGUMENTS)
    support, vectors, n_support, dual_coef, intercept, prob_a, prob_b = fitted[:7]
    return libsvm.predict(np.ascontiguousarray(targets, dtype=np.float64), support, vectors, n_support, dual_coef,
                          intercept, prob_a, prob_b, gamma=gamma, **SVC_ARGUMENTS)


def svc_mia_efficacy(members: torch.Tensor, non_members: torch.Tensor, targets: torch.Tensor,
                     max_shadow: int = 5000, seed: int = 0) -> float:
    """Share (%) of `targets` an RBF SVC (C=3, gamma='auto') on a 1-d feature calls non-members.

    The SVC learns members (label 1) against non-members (0) from the two shadow sets, the members
    cut to as many as there are non-members and both to at most `max_shadow` (seeded draw).
    """
    rng = np.random.default_rng(seed)
    n = min(len(non_members), len(members), max_shadow)
    pick = lambda t: t[rng.choice(len(t), size=n, replace=False)] if len(t) > n else t  # noqa: E731
    inside, outside = pick(members.numpy()), pick(non_members.numpy())
    features = np.concatenate([inside, outside])[:, None]
    truth = np.concatenate([np.ones(len(inside)), np.zeros(len(outside))])
    return 100.0 * float((rbf_svc_predict(features, truth, targets.numpy()[:, None], C=3) == 0).mean())


def js_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """Mean Jensen–Shannon divergence (nats) between two models' softmax outputs, sample by sample."""
    p, q = torch.softmax(logits_p.double(), 1), torch.softmax(logits_q.double(), 1)
    width = max(p.shape[1], q.shape[1])  # a shadow class (boundary_expanding) has probability 0 in the other model
    p, q = (torch.nn.functional.pad(a, (0, width - a.shape[1])) for a in (p, q))
    m = 0.5 * (p + q)
    kl = lambda a, b: (a * (a.clamp_min(1e-12).log() - b.clamp_min(1e-12).log())).sum(1)  # noqa: E731
    return float((0.5 * kl(p, m) + 0.5 * kl(q, m)).mean())
