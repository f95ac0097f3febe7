"""Frozen-feature evaluation of a DPC encoder: kNN and a linear probe on the classifier's features.

The features are those :class:`~video_dpc.DPCClassifier` classifies (the encoder's ReLU features
averaged over time, the GRU over all blocks, its last state averaged over space), taken in eval
mode after the encoder's BatchNorm statistics are re-estimated on the labelled training clips
(``torch.optim.swa_utils.update_bn``), so that a random encoder and a pre-trained one are
measured alike. kNN top-1 is ``nda_core.metrics.knn_accuracy`` (the suite's one definition).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from nda_core._checks import check_int, check_positive
from nda_core.metrics import knn_accuracy
from video_dpc.model import DPCClassifier, classifier_arguments

__all__ = ["PROBE_STEPS", "frozen_features", "linear_probe_accuracy", "probe"]

#: Full-batch Adam steps of the linear probe on standardised features.
PROBE_STEPS = 500
PROBE_LR = 1e-2


@torch.no_grad()
def frozen_features(
    classifier: DPCClassifier, dataset: Dataset, batch_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) features and (N,) labels of a labelled clip dataset (one clip per video)."""
    classifier.eval()
    features, labels = [], []
    device = next(classifier.parameters()).device
    for blocks, label in DataLoader(dataset, batch_size=batch_size):
        features.append(classifier.features(blocks.to(device)).cpu())
        labels.append(torch.as_tensor(label))
    return torch.cat(features), torch.cat(labels)


def linear_probe_accuracy(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    steps: int = PROBE_STEPS,
    lr: float = PROBE_LR,
    seed: int = 0,
) -> float:
    """Top-1 (%) of a softmax regression trained full-batch on standardised training features."""
    check_int(steps, "steps", 1)
    check_positive(lr, "lr")
    mean, std = train.mean(0), train.std(0) + 1e-6
    train, test = (train - mean) / std, (test - mean) / std
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(train.shape[1], classes, generator=generator) * 0.01).requires_grad_()
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(train @ weight + bias, train_labels).backward()
        optimizer.step()
    with torch.no_grad():
        return float(((test @ weight + bias).argmax(1) == test_labels).double().mean() * 100)


def probe(
    encoder_state: Mapping[str, torch.Tensor] | None,
    model: Mapping[str, object],
    num_classes: int,
    train: Dataset,
    test: Dataset,
    recalibrate: Dataset,
    batch_size: int = 32,
) -> dict[str, float]:
    """kNN and linear-probe top-1 of an encoder (``None``: the random initialisation).

    Args:
        encoder_state: a DPC state dict (``backbone.*``, ``agg.*``), or None.
        model: the model section (DPC's keyword arguments; ``pred_step`` is ignored).
        train, test: labelled clip datasets in ``val`` mode (one fixed clip per video).
        recalibrate: labelled clips whose batches re-estimate the BatchNorm statistics.
    """
    classifier = DPCClassifier(num_classes, **classifier_arguments(model))
    if encoder_state is not None:
        classifier.load_encoder(encoder_state)
    torch.optim.swa_utils.update_bn(DataLoader(recalibrate, batch_size=batch_size, shuffle=True), classifier)
    train_features, train_labels = frozen_features(classifier, train, batch_size)
    test_features, test_labels = frozen_features(classifier, test, batch_size)
    return {
        "knn_top1": knn_accuracy(train_features, train_labels, test_features, test_labels, num_classes=num_classes),
        "linear_top1": linear_probe_accuracy(train_features, train_labels, test_features, test_labels),
    }
