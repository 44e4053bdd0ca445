"""Representation metrics for transfer: minibatch linear CKA (unbiased HSIC) and k-nearest-neighbour accuracy."""
import torch

CKA_BATCH = 256  # rows per minibatch of the HSIC accumulation (Nguyen, Raghu & Kornblith 2021)
KNN_SPLIT_SEED = 2  # the reference's torch.Generator().manual_seed(2) for the 80/20 split


def unbiased_hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """HSIC₁ of Song et al. (2012) between two m×m Gram matrices (m ≥ 4), in float64."""
    m = k.shape[0]
    k = k.double() * (1 - torch.eye(m, dtype=torch.float64, device=k.device))
    l = l.double() * (1 - torch.eye(m, dtype=torch.float64, device=l.device))
    trace = (k * l).sum()
    totals = k.sum() * l.sum() / ((m - 1) * (m - 2))
    cross = 2.0 / (m - 2) * (k.sum(0) @ l.sum(0))
    return (trace + totals - cross) / (m * (m - 3))


def linear_cka(x: torch.Tensor, y: torch.Tensor, batch_size: int = CKA_BATCH) -> float:
    """Linear CKA of two N×D feature matrices of the same inputs: ΣHSIC₁(K,L) / √(ΣHSIC₁(K,K)·ΣHSIC₁(L,L)) over minibatches.

    The rows are cut into ⌊N / batch_size⌋ (at least one) near-equal minibatches, so none is smaller than
    `batch_size` (or N); the unbiased HSIC makes the result independent of the batch size in expectation.
    """
    if len(x) != len(y) or len(x) < 4:
        raise ValueError(f"linear_cka needs the same ≥ 4 inputs for both, got {len(x)} and {len(y)} rows")
    xy = xx = yy = torch.zeros((), dtype=torch.float64)
    for xb, yb in zip(x.tensor_split(max(1, len(x) // batch_size)), y.tensor_split(max(1, len(y) // batch_size))):
        xb, yb = xb.flatten(1).double(), yb.flatten(1).double()
        k, l = xb @ xb.T, yb @ yb.T
        xy, xx, yy = xy + unbiased_hsic(k, l), xx + unbiased_hsic(k, k), yy + unbiased_hsic(l, l)
    return float(xy / (xx * yy).sqrt())


def split_80_20(n: int, seed: int = KNN_SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of a seeded 80/20 train/test split of n rows."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(round(0.8 * n))
    return order[:cut], order[cut:]


def knn_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 k: int = 5) -> float:
    """Accuracy (%) on the test rows of a k-nearest-neighbour classifier with cosine distance fitted on the train rows."""
    from sklearn.neighbors import KNeighborsClassifier
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(train_x.numpy(), train_y.numpy())
    return 100.0 * float((knn.predict(test_x.numpy()) == test_y.numpy()).mean())
