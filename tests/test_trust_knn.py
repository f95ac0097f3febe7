"""``nda_core.metrics.knn_predict`` / ``knn_accuracy``, the kNN behind every kNN number we publish,
against a hand-computed case, a loop written from the definition and lightly's own kNN monitor.

k and the temperature are always passed explicitly: the module defaults may change."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nda_core import metrics


def loop_knn_scores(features, bank, labels, num_classes: int, k: int, temperature: float) -> torch.Tensor:
    """The definition: each of the k most cosine-similar bank entries votes exp(cos / T) for its label."""
    scores = torch.zeros(len(features), num_classes, dtype=torch.float64)
    for i, query in enumerate(features.double()):
        similarity = [float(F.cosine_similarity(query, entry.double(), dim=0)) for entry in bank]
        nearest = sorted(range(len(bank)), key=lambda j: -similarity[j])[:k]
        for j in nearest:
            scores[i, int(labels[j])] += math.exp(similarity[j] / temperature)
    return scores


def _random_case(seed: int, queries: int = 12, entries: int = 40, dim: int = 8, classes: int = 5):
    g = torch.Generator().manual_seed(seed)
    bank = torch.randn(entries, dim, generator=g) * torch.rand(entries, 1, generator=g).add(0.5)  # unnormalised
    labels = torch.randint(0, classes, (entries,), generator=g)
    features = torch.randn(queries, dim, generator=g) * 3
    return features, bank, labels, classes


def test_hand_computed_case_weighs_the_nearest_votes():
    # cosine similarities of the query (1, 0) to the bank: 1, 0, 1/sqrt(2), -1
    bank = torch.tensor([[5.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    query = torch.tensor([[3.0, 0.0]])
    scores = metrics.knn_predict(query, bank, labels, num_classes=2, k=3, temperature=0.5)
    # the 3 nearest: entry 0 (class 0, e^(1/0.5)), entry 2 (class 1, e^(0.707/0.5)), entry 1 (class 1, e^0)
    expected = torch.tensor([[math.exp(2.0), math.exp(math.sqrt(2.0)) + 1.0]])
    torch.testing.assert_close(scores, expected.float())
    # class 0 wins on weight although class 1 has the majority of the 3 votes; the farthest entries
    # (3, then 1) would have voted for class 1
    assert scores.argmax(1).tolist() == [0]
    assert metrics.knn_accuracy(bank, labels, query, torch.tensor([0]), k=3, temperature=0.5, num_classes=2) == 100.0
    # k = 1: only the nearest entry votes
    one = metrics.knn_predict(query, bank, labels, num_classes=2, k=1, temperature=0.5)
    torch.testing.assert_close(one, torch.tensor([[math.exp(2.0), 0.0]]))


@pytest.mark.parametrize("k, temperature", [(1, 0.1), (5, 0.07), (13, 0.5), (40, 1.0)])
@pytest.mark.parametrize("seed", range(3))
def test_scores_match_a_loop_reference_from_the_definition(seed, k, temperature):
    features, bank, labels, classes = _random_case(seed)
    got = metrics.knn_predict(features, bank, labels, classes, k=k, temperature=temperature)
    expected = loop_knn_scores(features, bank, labels, classes, k, temperature)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-6)


def test_k_larger_than_the_bank_uses_every_entry():
    features, bank, labels, classes = _random_case(7, entries=6)
    got = metrics.knn_predict(features, bank, labels, classes, k=50, temperature=0.2)
    torch.testing.assert_close(
        got.double(), loop_knn_scores(features, bank, labels, classes, 6, 0.2), rtol=1e-4, atol=1e-6
    )


def test_more_queries_than_one_chunk_are_all_scored():
    g = torch.Generator().manual_seed(3)
    bank, labels = torch.randn(30, 4, generator=g), torch.randint(0, 3, (30,), generator=g)
    features = torch.randn(metrics._KNN_CHUNK + 37, 4, generator=g)
    got = metrics.knn_predict(features, bank, labels, 3, k=4, temperature=0.1)
    tail = slice(metrics._KNN_CHUNK - 2, None)  # rows on both sides of the chunk boundary
    torch.testing.assert_close(
        got[tail].double(), loop_knn_scores(features[tail], bank, labels, 3, 4, 0.1), rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("k, temperature", [(7, 0.07), (20, 0.1), (200, 0.1)])
def test_predictions_equal_lightlys_knn_monitor(k, temperature):
    lightly_benchmarking = pytest.importorskip("lightly.utils.benchmarking")
    g = torch.Generator().manual_seed(k)
    classes = 10
    bank = torch.randn(300, 32, generator=g)
    labels = torch.randint(0, classes, (300,), generator=g)
    features = torch.randn(64, 32, generator=g)
    ours = metrics.knn_predict(features, bank, labels, classes, k=k, temperature=temperature)
    # lightly's conventions: L2-normalised inputs (it does not normalise), bank laid out (D, N), and
    # it returns the class indices sorted by score, best first
    order = lightly_benchmarking.knn_predict(
        F.normalize(features, dim=1), F.normalize(bank, dim=1).t(), labels, classes, knn_k=k, knn_t=temperature
    )
    assert torch.equal(ours.argmax(1), order[:, 0])
    ranked = ours.gather(1, order)  # our scores in lightly's order: non-increasing (classes tied at 0 may swap)
    assert (ranked[:, 1:] <= ranked[:, :-1] * (1 + 1e-6)).all()
    # the same classifier: the same top-1 accuracy against random labels
    truth = torch.randint(0, classes, (64,), generator=g)
    accuracy = metrics.knn_accuracy(bank, labels, features, truth, k=k, temperature=temperature, num_classes=classes)
    assert accuracy == pytest.approx(100 * float((order[:, 0] == truth).double().mean()))


def test_knn_accuracy_counts_correct_top1_predictions():
    features, bank, labels, classes = _random_case(11, queries=25)
    scores = loop_knn_scores(features, bank, labels, classes, 6, 0.1)
    truth = scores.argmax(1)
    truth[:5] = (truth[:5] + 1) % classes  # 5 of 25 wrong
    assert metrics.knn_accuracy(
        bank, labels, features, truth, k=6, temperature=0.1, num_classes=classes
    ) == pytest.approx(80.0)
