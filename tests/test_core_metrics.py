"""Metrics against slow references, plots, and real-image loading."""

from __future__ import annotations

import pytest
import torch

from nda_core import metrics
from nda_core.data import load_image_folder


def ref_auroc(pos: list[float], neg: list[float]) -> float:
    """P(score_in > score_out) + 0.5 P(tie), over all pairs."""
    total = 0.0
    for p in pos:
        for n in neg:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


def test_auroc_known_values():
    assert metrics.auroc([3, 4, 5], [0, 1, 2]) == 1.0
    assert metrics.auroc([0, 1], [2, 3]) == 0.0
    assert metrics.auroc([1, 1], [1, 1]) == 0.5
    assert metrics.auroc([2, 0], [1]) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_pairwise_reference_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randint(0, 6, (37,), generator=g).float()
    neg = torch.randint(0, 5, (23,), generator=g).float()
    assert metrics.auroc(pos, neg) == pytest.approx(ref_auroc(pos.tolist(), neg.tolist()), abs=1e-12)


def test_auroc_rejects_empty_and_nan():
    with pytest.raises(ValueError, match="out_scores is empty"):
        metrics.auroc([1.0], [])
    with pytest.raises(ValueError, match="non-finite"):
        metrics.auroc([float("nan")], [1.0])


def test_separation_statistics():
    stats = metrics.separation([3.0, 2.0, 1.0, 0.0], [1.0, 1.0, 2.0, -1.0])  # gaps 2, 1, -1, 1
    assert stats["mean"] == pytest.approx(0.75)
    assert stats["fraction_positive"] == 0.75
    assert stats["median"] == pytest.approx(1.0)
    assert stats["auroc"] == pytest.approx(ref_auroc([3.0, 2.0, 1.0, 0.0], [1.0, 1.0, 2.0, -1.0]))
    with pytest.raises(ValueError, match="pair up sample by sample"):
        metrics.separation([1.0, 2.0], [1.0])


def test_cosine_distance():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    assert torch.allclose(metrics.cosine_distance(a, b), torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        metrics.cosine_distance(a, b[:2])


def test_score_histogram_is_saved(tmp_path):
    g = torch.Generator().manual_seed(0)
    path = metrics.plot_score_histogram(
        torch.randn(200, generator=g) + 1, torch.randn(200, generator=g), tmp_path / "h" / "gap.png"
    )
    assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"


def test_load_image_folder_reads_real_cifar(cifar_root):
    images, labels, classes = load_image_folder(cifar_root / "test", per_class=3, seed=1)
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert classes[0] == "airplane" and torch.equal(labels.bincount(), torch.full((10,), 3))
    mean = images.float().mean(dim=(0, 2, 3)) / 255  # CIFAR-10 channel means are about 0.49, 0.48, 0.45
    assert ((mean - torch.tensor([0.49, 0.48, 0.45])).abs() < 0.1).all()


def test_load_image_folder_bad_root(tmp_path):
    with pytest.raises(ValueError, match="holds no class folders"):
        load_image_folder(tmp_path)


def test_class_files_first_per_class_is_by_name_and_seeded_choice_is_reproducible(cifar_root):
    from nda_core.data import class_files

    first, classes = class_files(cifar_root / "test", per_class=2, seed=None)
    assert len(first) == 20 and [label for _, label in first[:4]] == [0, 0, 1, 1]
    names = sorted(p.name for p in (cifar_root / "test" / classes[0]).iterdir())
    assert [p.name for p, _ in first[:2]] == names[:2]
    assert class_files(cifar_root / "test", 3, seed=5)[0] == class_files(cifar_root / "test", 3, seed=5)[0]
