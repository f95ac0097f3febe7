"""Evidence that NDA worked: anomaly AUROC, D-score separation, representation distance.

Plots use matplotlib, imported only when a plot is asked for (``pip install nda-plugins[eval]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nda_core._checks import check_int, check_positive, check_tensor
from nda_core.errors import UsageError

__all__ = [
    "auroc",
    "separation",
    "cosine_distance",
    "knn_predict",
    "knn_accuracy",
    "plot_score_histogram",
    "plot_histograms",
    "pyplot",
]

#: Neighbours and temperature of the similarity-weighted kNN (Wu et al. 2018, as in MoCo's and
#: lightly's kNN monitors): votes exp(cos / T) of the k most similar training features. One
#: protocol for every adapter's evidence; k = 20 because those memories hold 500-1,000 images
#: (k = 200, made for 50,000, would let a fifth of them vote).
KNN_K = 20
KNN_TEMPERATURE = 0.1
_KNN_CHUNK = 1024  # test features per similarity matrix block


def _as_1d(name: str, values: Any) -> torch.Tensor:
    tensor = torch.as_tensor(values).detach().flatten().double().cpu()
    if tensor.numel() == 0:
        raise UsageError(f"{name} is empty; pass at least one score.")
    if not torch.isfinite(tensor).all():
        raise UsageError(f"{name} holds non-finite scores (nan or inf); remove them first.")
    return tensor


def auroc(in_scores: Any, out_scores: Any) -> float:
    """Area under the ROC curve for telling in-distribution from anomalies.

    Higher scores mean "more in-distribution" (e.g. the discriminator's output). Equals the
    probability that a random in-distribution score exceeds a random anomaly score, ties
    counting one half (the Mann-Whitney statistic).

    Args:
        in_scores: (N,) scores of in-distribution samples.
        out_scores: (M,) scores of anomalies.
    """
    pos = _as_1d("in_scores", in_scores)
    neg = _as_1d("out_scores", out_scores)
    scores = torch.cat([pos, neg])
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    sorted_scores = scores[order]
    # average ranks (1-based) over ties
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    average = ends - (counts.double() - 1) / 2
    ranks[order] = average[inverse]
    n_pos, n_neg = pos.numel(), neg.numel()
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def separation(d_real: Any, d_nda: Any) -> dict[str, float]:
    """Statistics of the per-sample gap ``D(x) - D(NDA(x))`` (paper, Fig. 4 and 8).

    Args:
        d_real: (N,) scores of real images. d_nda: (N,) scores of their NDA versions.

    Returns:
        ``mean``, ``std``, ``median`` of the gap, ``fraction_positive`` (share of samples
        scored higher than their own NDA) and ``auroc`` of real against NDA scores.
    """
    real = _as_1d("d_real", d_real)
    nda = _as_1d("d_nda", d_nda)
    if real.shape != nda.shape:
        raise UsageError(
            f"d_real and d_nda must pair up sample by sample, got {real.numel()} and {nda.numel()} scores."
        )
    gap = real - nda
    return {
        "mean": float(gap.mean()),
        "std": float(gap.std()) if gap.numel() > 1 else 0.0,
        "median": float(gap.median()),
        "fraction_positive": float((gap > 0).double().mean()),
        "auroc": auroc(real, nda),
    }


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample cosine distance ``1 - cos(a_i, b_i)`` of two (N, D) representation batches."""
    check_tensor(a, "a")
    check_tensor(b, "b")
    if a.shape != b.shape or a.dim() != 2:
        raise UsageError(f"a and b must both have shape (N, D), got {tuple(a.shape)} and {tuple(b.shape)}.")
    return 1.0 - F.cosine_similarity(a.float(), b.float(), dim=1)


def knn_predict(
    features: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    num_classes: int,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
) -> torch.Tensor:
    """(N, num_classes) kNN class scores of ``features`` (N, D) against a labelled ``bank`` (K, D).

    Features are L2-normalised; each of the ``k`` most cosine-similar bank entries votes for
    its label with weight ``exp(similarity / temperature)``.
    """
    check_tensor(features, "features")
    check_tensor(bank, "bank")
    if features.dim() != 2 or bank.dim() != 2 or features.shape[1] != bank.shape[1]:
        raise UsageError(
            f"features (N, D) and bank (K, D) must be 2-D with the same D, got {tuple(features.shape)} and "
            f"{tuple(bank.shape)}; flatten or pool the representations first."
        )
    if bank_labels.shape != (bank.shape[0],):
        raise UsageError(
            f"bank_labels must have shape ({bank.shape[0]},), one label per bank entry, got {tuple(bank_labels.shape)}."
        )
    check_int(num_classes, "num_classes", 2)
    check_int(k, "k", 1, hint="use e.g. k=20 (or fewer than the bank size).")
    temperature = check_positive(temperature, "temperature", "the usual kNN monitor uses 0.1.")
    k = min(k, bank.shape[0])
    bank = F.normalize(bank.float(), dim=1)
    labels = bank_labels.to(bank.device).long()
    scores = []
    for chunk in F.normalize(features.float(), dim=1).split(_KNN_CHUNK):
        similarity, index = (chunk.to(bank.device) @ bank.t()).topk(k, dim=1)
        votes = torch.zeros(chunk.shape[0], num_classes, device=bank.device)
        scores.append(votes.scatter_add_(1, labels[index], (similarity / temperature).exp()))
    return torch.cat(scores)


def knn_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
    num_classes: int | None = None,
) -> float:
    """Top-1 accuracy (in %) of the similarity-weighted kNN classifier of :func:`knn_predict`.

    The one kNN evaluation that the evidence of every adapter reports, so numbers compare.
    """
    classes = int(max(train_labels.max(), test_labels.max())) + 1 if num_classes is None else num_classes
    scores = knn_predict(test_features, train_features, train_labels, classes, k, temperature)
    return float((scores.argmax(1).cpu() == test_labels.cpu().long()).double().mean() * 100)


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (ImportError names the extra to install)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'nda-plugins[eval]'") from error
    return plt


def plot_histograms(
    series: dict[str, Any], path: str | Path, title: str = "", xlabel: str = "score", bins: int = 50
) -> Path:
    """Save overlaid histograms of several score series (label -> values) to ``path``."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    arrays = {label: _as_1d(label, values).numpy() for label, values in series.items()}
    low = min(float(a.min()) for a in arrays.values())
    high = max(float(a.max()) for a in arrays.values())
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    for label, values in arrays.items():
        ax.hist(values, bins=edges, alpha=0.55, label=f"{label} (n={values.size})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_score_histogram(d_real: Any, d_nda: Any, path: str | Path, title: str = "D(x) - D(NDA(x))") -> Path:
    """Save the histogram of ``D(x) - D(NDA(x))`` (paper, Fig. 4) with its statistics in the title."""
    stats = separation(d_real, d_nda)
    gap = _as_1d("d_real", d_real) - _as_1d("d_nda", d_nda)
    subtitle = f"mean {stats['mean']:.3g}, {100 * stats['fraction_positive']:.1f}% > 0, AUROC {stats['auroc']:.3f}"
    return plot_histograms({"D(x) - D(NDA(x))": gap}, path, f"{title}\n{subtitle}", xlabel="score gap")
