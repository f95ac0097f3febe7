"""Evidence that NDA worked: anomaly AUROC, D-score separation, representation distance.

Plots use matplotlib, imported only when a plot is asked for (``pip install nda-plugins[eval]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nda_core._checks import check_tensor

__all__ = ["auroc", "separation", "cosine_distance", "plot_score_histogram", "plot_histograms", "pyplot"]


def _as_1d(name: str, values: Any) -> torch.Tensor:
    tensor = torch.as_tensor(values).detach().flatten().double().cpu()
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty; pass at least one score.")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} holds non-finite scores (nan or inf); remove them first.")
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
        raise ValueError(f"d_real and d_nda must pair up sample by sample, got {real.numel()} and {nda.numel()} scores.")
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
        raise ValueError(f"a and b must both have shape (N, D), got {tuple(a.shape)} and {tuple(b.shape)}.")
    return 1.0 - F.cosine_similarity(a.float(), b.float(), dim=1)


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
