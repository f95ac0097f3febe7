"""Plots of the demo (matplotlib, Agg): count distributions (paper Fig. 6) and sample grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from nda_core.metrics import pyplot

__all__ = ["plot_count_distributions", "save_grid", "plot_paired"]

#: Pixel gap between images of a sample grid.
GRID_PADDING = 2
#: Resolution and sizes (inches) of saved figures.
FIGURE_DPI = 120
WIDE_FIGURE = (7, 4)
NARROW_FIGURE = (4.5, 4)
#: Total width of one bar group and the error-bar cap size.
GROUP_WIDTH = 0.8
CAP_SIZE = 2


def plot_count_distributions(
    counts: Mapping[str, Sequence[Sequence[int]]], target: int, path: str | Path, title: str = ""
) -> Path:
    """Bar chart of the share of generated samples per dot count, one bar group per run label.

    ``counts[label]`` holds one list of per-sample counts per seed; bars show the mean share
    over seeds and the error bars its min-max range.
    """
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    every = [c for runs in counts.values() for seed_counts in runs for c in seed_counts]
    support = np.arange(0, max(every + [target]) + 2)
    fig, ax = plt.subplots(figsize=WIDE_FIGURE)
    width = GROUP_WIDTH / max(1, len(counts))
    for index, (label, runs) in enumerate(counts.items()):
        shares = np.stack(
            [
                np.bincount(np.asarray(r, dtype=int), minlength=len(support))[: len(support)] / max(1, len(r))
                for r in runs
            ]
        )
        mean = shares.mean(0)
        spread = np.stack([mean - shares.min(0), shares.max(0) - mean])
        ax.bar(
            support + (index - (len(counts) - 1) / 2) * width,
            mean,
            width,
            yerr=spread,
            capsize=CAP_SIZE,
            label=f"{label} ({len(runs)} seeds)",
        )
    ax.axvline(target, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(support)
    ax.set_xlabel("dots in generated image")
    ax.set_ylabel("share of samples")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=FIGURE_DPI)
    plt.close(fig)
    return path


def save_grid(images: torch.Tensor, path: str | Path, columns: int = 8) -> Path:
    """Save images in [-1, 1] (N, C, H, W) as one PNG grid."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    n, channels, height, width = images.shape
    rows = (n + columns - 1) // columns
    canvas = np.ones((rows * (height + GRID_PADDING), columns * (width + GRID_PADDING), channels))
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        top, left = r * (height + GRID_PADDING), c * (width + GRID_PADDING)
        canvas[top : top + height, left : left + width] = image.transpose(1, 2, 0)
    plt.imsave(path, canvas[..., 0] if channels == 1 else canvas, cmap="gray" if channels == 1 else None)
    return path


def plot_paired(values: Mapping[str, Sequence[float]], path: str | Path, ylabel: str, title: str = "") -> Path:
    """Per-seed values of two or more runs, one line per seed (paired comparison)."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = list(values)
    matrix = np.array([values[label] for label in labels])  # (runs, seeds)
    fig, ax = plt.subplots(figsize=NARROW_FIGURE)
    for seed_index in range(matrix.shape[1]):
        ax.plot(range(len(labels)), matrix[:, seed_index], marker="o", color="tab:blue", alpha=0.7)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=FIGURE_DPI)
    plt.close(fig)
    return path
