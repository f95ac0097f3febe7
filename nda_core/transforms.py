"""NDA transforms as modules that draw per-sample parameters and apply ``nda_core.functional``.

Every transform is called as ``t(x, generator=None, return_params=False)`` on a batch of
images (B, C, H, W) or clips (B, C, T, H, W), float or uint8, on any device. It returns a
tensor of the same shape, dtype and device (and the drawn parameters when asked), and
``t.replay(x, params)`` replays a draw exactly.

Called without a generator (the global RNG, as training loops call it), a transform draws its
parameters on ``x``'s device and runs a fixed sequence of tensor operations: no value is read
on the host, so it traces with ``torch.compile(fullgraph=True)`` (and can be captured in a CUDA
graph) and never synchronises a GPU. With an explicit ``torch.Generator`` the draws are
reproducible and happen on the generator's device; torch's compiler cannot trace random ops
that take a generator, so that path runs eagerly.

Example:
    >>> import torch, nda_core
    >>> t = nda_core.build("jigsaw", k=2)
    >>> x = torch.rand(8, 3, 32, 32)
    >>> out, params = t(x, generator=torch.Generator().manual_seed(0), return_params=True)
    >>> torch.equal(t.replay(x, params), out)
    True
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from nda_core import functional as F
from nda_core import random as R
from nda_core._checks import (
    check_batch,
    check_choice,
    check_generator,
    check_int,
    check_positive,
    check_probability,
    check_sequence,
    check_tensor,
    check_weights,
)
from nda_core.errors import UsageError, UsageTypeError

Params = dict[str, Any]
#: NDA images per sample for the contrastive losses: one of the query view, one of the key view (the paper's).
CONTRASTIVE_NDA_VIEWS = 2
_CONTRASTIVE_SOURCES = 2  # NDA views alternate between the query and the key view
_GRAY_NDIM = 2  # an (H, W) image array

#: Box sides are drawn uniformly in [1/3, 1/2] of the image side (paper, Appendix B).
BOX_MIN_FRACTION = 1.0 / 3.0
BOX_MAX_FRACTION = 1.0 / 2.0
#: Beta(alpha, alpha) with alpha = 20 puts 95% of mixup weights within about 0.5 +- 0.15.
MIXUP_ALPHA = 20.0
#: Standard deviation of the Gaussian-noise NDA, as a fraction of the value range.
NOISE_STD = 0.25
STITCH_ORIENTATIONS = ("random", "horizontal", "vertical")


class NDATransform(nn.Module):
    """Base class: draws parameters per sample, then applies a pure function.

    Subclasses set ``needs_partner``, implement ``draw_params`` and ``replay`` (not ``apply``:
    ``nn.Module.apply(fn)`` must keep working for frameworks that call it) and are registered by
    name with :func:`register`, which makes them buildable from every adapter's config.
    """

    name: ClassVar[str] = ""
    needs_partner: ClassVar[bool] = False

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, return_params: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, Params]:
        """Transform every sample of ``x`` into a negative.

        Args:
            x: (B, C, H, W) or (B, C, T, H, W), float or uint8.
            generator: source of randomness, parameters are drawn on its device; None: the
                global RNG of ``x``'s device, draws on that device (traces with
                ``torch.compile(fullgraph=True)``).
            return_params: also return the drawn parameters (for ``replay``).
        """
        check_batch(x, min_batch=2 if self.needs_partner else 1, why=f"the {self.name!r} NDA")
        check_generator(generator)
        params = self.draw_params(x.shape, generator, device=x.device)
        out = self.replay(x, params)
        return (out, params) if return_params else out

    def draw_params(
        self,
        shape: torch.Size | Sequence[int],
        generator: torch.Generator | None = None,
        self_index: torch.Tensor | None = None,
        source_size: int | None = None,
        device: torch.device | str | None = None,
    ) -> Params:
        """Draw the parameters for a batch of ``shape``.

        ``self_index`` (B,) and ``source_size`` place the batch inside a larger source batch
        that partners are drawn from (default: the batch itself). Draws happen on the
        generator's device, or on ``device`` (default the CPU) when ``generator`` is None.
        Every parameter tensor has the batch as its first axis.
        """
        raise NotImplementedError

    def replay(self, x: torch.Tensor, params: Params, source: torch.Tensor | None = None) -> torch.Tensor:
        """Apply drawn ``params`` to ``x``; partners index into ``source`` (default ``x``)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config().items())

    def config(self) -> dict[str, Any]:
        """Constructor arguments, so that ``build({"type": name, **config()})`` rebuilds it."""
        return {}


# -- the registry of NDAs that build() knows ---------------------------------------------------------
_REGISTRY: dict[str, type[NDATransform]] = {}
#: Entry-point group in which an installed package declares its NDAs (``name = "module:Class"``).
ENTRY_POINT_GROUP = "nda.transforms"
_plugins_loaded = False
_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_NDA = TypeVar("_NDA", bound=type)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(name: str | None = None) -> Callable[[_NDA], _NDA]:
    """Class decorator: make an :class:`NDATransform` subclass buildable by name everywhere.

    After ``@nda_core.register("mine")``, ``nda_core.build("mine")``, every adapter's config
    (``nda=dict(type="mine", ...)``) and ``nda list`` of a process that imported the class know
    it; a package makes it known to every process by declaring it in the ``nda.transforms``
    entry points (``mine = "my_package.ndas:Mine"``). ``name`` defaults to the class's
    own ``name``; a class without one gets ``name`` set to the registered name. Registering a
    different class under a name that is taken warns and names both (as timm's
    ``register_model`` does); registering the same class again (a re-import) is silent.

    Example:
        >>> @register("flip_both")
        ... class FlipBoth(NDATransform):
        ...     \"\"\"Flip every image upside down and left to right.\"\"\"
        ...     def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None):
        ...         return {}
        ...     def replay(self, x, params, source=None):
        ...         return x.flip(-1, -2)
        >>> build({"type": "flip_both"})
        FlipBoth()
        >>> _ = _REGISTRY.pop("flip_both")  # (leaves the registry as it was)
    """
    if isinstance(name, type):
        raise UsageTypeError(
            f"register got the class {name.__qualname__} as name=; call the decorator: write "
            f"@nda_core.register('{name.__dict__.get('name') or name.__name__.lower()}') above the class."
        )
    if name is not None and (not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name)):
        raise (ValueError if isinstance(name, str) else TypeError)(
            f"register got name={name!r}; an NDA name is a string of letters, digits, '_', '.' or '-' that "
            f"starts with a letter, as configs write it in type=..., e.g. 'my_jigsaw'."
        )

    def add(cls: _NDA) -> _NDA:
        if not isinstance(cls, type) or not issubclass(cls, NDATransform):
            raise UsageTypeError(
                f"@register({name!r}) decorates {cls!r}, which is not an NDATransform subclass; subclass "
                f"nda_core.NDATransform and implement draw_params and replay."
            )
        missing = [
            method for method in ("draw_params", "replay") if getattr(cls, method) is getattr(NDATransform, method)
        ]
        if missing:
            raise UsageTypeError(
                f"@register({name!r}): {cls.__qualname__} does not implement {missing}; an NDA draws its "
                f"per-sample parameters in draw_params and applies them in replay."
            )
        own_name = cls.__dict__.get("name")
        key = name or own_name
        if not key:
            raise UsageError(
                f"@register() on {cls.__qualname__}, which has no name; pass one: @nda_core.register('my_nda')."
            )
        if own_name and own_name != key:
            raise UsageError(
                f"@register({key!r}) on {cls.__qualname__}, whose name is {own_name!r}; use one name: drop "
                f"the class's name attribute or register it as {own_name!r}."
            )
        existing = _REGISTRY.get(key)
        if existing is not None and _qualified(existing) != _qualified(cls):
            warnings.warn(
                f"nda_core.register: {_qualified(cls)} replaces {_qualified(existing)} as NDA {key!r}; "
                f"build({key!r}) and configs with type={key!r} now make the new one. Register it under "
                f"another name if you meant to keep both.",
                UserWarning,
                stacklevel=2,
            )
        cls.name = key
        _REGISTRY[key] = cls
        return cls

    return add


def _load_plugins() -> None:
    """Register, once per process, the NDAs that installed packages declare in the entry-point
    group ``nda.transforms`` (``name = "package.module:Class"``), so that processes which never
    import the package themselves (``nda list``, an adapter's command line) know them too.

    A declared NDA that fails to import or register is left out with a warning that says why.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(entry.name)(entry.load())
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the built-ins
            warnings.warn(
                f"nda_core: leaving out the NDA {entry.name!r} that an installed package declares in the "
                f"{ENTRY_POINT_GROUP!r} entry points ({entry.value}): {type(error).__name__}: {error}. Fix or "
                f"uninstall that package.",
                UserWarning,
                stacklevel=3,
            )


def registered() -> Mapping[str, type[NDATransform]]:
    """Every registered NDA, name -> class, sorted by name (read-only)."""
    _load_plugins()
    return MappingProxyType(dict(sorted(_REGISTRY.items())))


def available() -> list[str]:
    """Names of every NDA that ``build`` accepts."""
    _load_plugins()
    return sorted(_REGISTRY)


def _self_index(batch: int, device: torch.device, self_index: torch.Tensor | None) -> torch.Tensor:
    if self_index is not None:
        return self_index
    return F._constant(("positions", batch), device, lambda: torch.arange(batch, device=device))  # read only


class _PartnerTransform(NDATransform):
    """A transform that pairs every sample with a different sample of the source batch."""

    needs_partner = True

    def _partners(
        self,
        shape: Sequence[int],
        generator: torch.Generator | None,
        self_index: torch.Tensor | None,
        source_size: int | None,
        device: torch.device,
    ) -> torch.Tensor:
        source_size = shape[0] if source_size is None else source_size
        if source_size < 2:
            raise UsageError(
                f"the {self.name!r} NDA needs a batch of at least 2 samples to pair each with a "
                f"different one, got a batch of {source_size}; pass a larger batch."
            )
        return R.partners(_self_index(shape[0], device, self_index), source_size, generator, device)


@register()
class Jigsaw(NDATransform):
    """Cut every image into k x k patches and shuffle them with a non-identity permutation.

    Args:
        k: patches per side (default 2, the paper's best). H and W must be divisible by k.
    """

    name = "jigsaw"

    def __init__(self, k: int = 2) -> None:
        super().__init__()
        self.k = check_int(k, "k", 2, hint="jigsaw needs at least 2 x 2 patches; use k=2 (the paper's best).")

    def config(self) -> dict[str, Any]:
        return {"k": self.k}

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        return {"permutation": R.non_identity_permutations(shape[0], self.k * self.k, generator, device)}

    def replay(self, x, params, source=None):
        return F.jigsaw(x, params["permutation"], self.k)


@register()
class Stitch(_PartnerTransform):
    """Join half of every image with the matching other half of a different image.

    Args:
        orientation: ``"horizontal"`` (left | right halves side by side), ``"vertical"``
            (top / bottom) or ``"random"`` (either, per sample).
    """

    name = "stitch"

    def __init__(self, orientation: str = "random") -> None:
        super().__init__()
        self.orientation = check_choice(orientation, "orientation", STITCH_ORIENTATIONS)

    def config(self) -> dict[str, Any]:
        return {"orientation": self.orientation}

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        batch, device = shape[0], R.draw_device(generator, device)
        partner = self._partners(shape, generator, self_index, source_size, device)
        vertical, own_first = R.bernoulli((2, batch), 0.5, generator, device)
        if self.orientation != "random":
            vertical = torch.full((batch,), self.orientation == "vertical", device=device)
        return {"partner": partner, "vertical": vertical, "own_first": own_first}

    def replay(self, x, params, source=None):
        return F.stitch(x, params["partner"], params["vertical"], params["own_first"], source)


class _BoxTransform(NDATransform):
    def __init__(self, min_fraction: float = BOX_MIN_FRACTION, max_fraction: float = BOX_MAX_FRACTION) -> None:
        super().__init__()
        self.min_fraction = check_probability(min_fraction, "min_fraction", low_open=True)
        self.max_fraction = check_probability(max_fraction, "max_fraction", low_open=True)
        if self.min_fraction > self.max_fraction:
            raise UsageError(
                f"min_fraction ({min_fraction}) must not exceed max_fraction ({max_fraction}); "
                f"the paper uses 1/3 and 1/2."
            )

    def config(self) -> dict[str, Any]:
        return {"min_fraction": self.min_fraction, "max_fraction": self.max_fraction}

    def _boxes(self, shape, generator, device) -> torch.Tensor:
        return R.boxes(shape[0], shape[-2], shape[-1], generator, self.min_fraction, self.max_fraction, device)


@register()
class Cutout(_BoxTransform):
    """Fill a box (sides in [1/3, 1/2] of H and W) with its own per-channel mean."""

    name = "cutout"

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        return {"boxes": self._boxes(shape, generator, device)}

    def replay(self, x, params, source=None):
        return F.cutout(x, params["boxes"])


@register()
class CutMix(_BoxTransform, _PartnerTransform):
    """Replace a box (sides in [1/3, 1/2] of H and W) with the same box of a different image."""

    name = "cutmix"

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        device = R.draw_device(generator, device)
        return {
            "partner": self._partners(shape, generator, self_index, source_size, device),
            "boxes": self._boxes(shape, generator, device),
        }

    def replay(self, x, params, source=None):
        return F.cutmix(x, params["boxes"], params["partner"], source)


@register()
class Mixup(_PartnerTransform):
    """Blend every image with a different one: g * x_i + (1 - g) * x_j, g ~ Beta(alpha, alpha).

    Args:
        alpha: Beta parameter; large values concentrate g near 0.5 (default 20).
    """

    name = "mixup"

    def __init__(self, alpha: float = MIXUP_ALPHA) -> None:
        super().__init__()
        self.alpha = check_positive(alpha, "alpha", "a large alpha (e.g. 20) keeps the weight near 0.5.")

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        device = R.draw_device(generator, device)
        return {
            "partner": self._partners(shape, generator, self_index, source_size, device),
            "weight": R.beta(shape[0], self.alpha, generator, device),
        }

    def replay(self, x, params, source=None):
        return F.mixup(x, params["weight"], params["partner"], source)


@register()
class VFlip(NDATransform):
    """Flip every image upside down (no parameters)."""

    name = "vflip"

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        return {}

    def replay(self, x, params, source=None):
        return F.vflip(x)


@register()
class GaussianNoise(NDATransform):
    """Add Gaussian noise; ``std`` is a fraction of the value range (1 for float, 255 for uint8).

    A clip gets the same noise field on every frame.
    """

    name = "noise"

    def __init__(self, std: float = NOISE_STD) -> None:
        super().__init__()
        self.std = check_positive(std, "std")

    def config(self) -> dict[str, Any]:
        return {"std": self.std}

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        noise_shape = tuple(shape[:2]) + (1,) * (len(shape) - 4) + tuple(shape[-2:])  # one field per clip
        return {"noise": torch.randn(noise_shape, **R.rng(generator), device=R.draw_device(generator, device))}

    def replay(self, x, params, source=None):
        return F.gaussian_noise(x, params["noise"], self.std)


def _take(params: Any, index: torch.Tensor) -> Any:
    """The rows ``index`` of every parameter tensor (all have the batch as first axis)."""
    if isinstance(params, torch.Tensor):
        return params.index_select(0, index.to(params.device))
    if isinstance(params, dict):
        return {key: _take(value, index) for key, value in params.items()}
    if isinstance(params, (list, tuple)):
        return type(params)(_take(value, index) for value in params)
    return params


def _by_subsets(x: torch.Tensor) -> bool:
    """Whether a policy may run each part on its own subset of rows.

    Subsets have data-dependent sizes: that needs ``nonzero``, which synchronises a GPU and
    cannot be traced. They are used only in eager mode on the CPU; elsewhere every part runs on
    the whole batch and each sample takes the output of its own part.
    """
    return x.device.type == "cpu" and not torch.compiler.is_compiling()


@register()
class Mixture(NDATransform):
    """Pick one of several NDAs per sample, with probabilities proportional to ``weights``.

    Parameters are drawn for every component on the whole batch (so a sample's partner can be
    any other sample) and ``params["choice"]`` says which component each sample takes. On the
    CPU in eager mode each component then runs on its own samples only; on a GPU or under
    ``torch.compile`` every component runs on the whole batch and each sample keeps its
    component's output, so a mixture of m NDAs costs about as much as its m components
    together (the price of a call that needs no host synchronisation).

    Args:
        transforms: NDA specs (names, dicts or modules), e.g. ``["jigsaw", "stitch"]``.
        weights: one non-negative weight per transform (default equal).
    """

    name = "mixture"

    def __init__(self, transforms: Sequence[Any], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        transforms = check_sequence(transforms, "transforms", "Give NDA specs, e.g. transforms=['jigsaw', 'stitch'].")
        self.transforms = nn.ModuleList(build(spec) for spec in transforms)
        self.weights = check_weights([1.0] * len(transforms) if weights is None else weights, len(transforms))
        # A sample takes component c when u ~ U[0, 1) passes exactly c thresholds; a threshold
        # after which only zero weights follow is infinite, so those components are never taken.
        total = sum(self.weights)
        cumulative = list(itertools.accumulate(self.weights))
        self._thresholds = [
            value / total if any(self.weights[position + 1 :]) else float("inf")
            for position, value in enumerate(cumulative[:-1])
        ]

    @property
    def needs_partner(self) -> bool:  # type: ignore[override]
        return any(t.needs_partner for t in self.transforms)

    def config(self) -> dict[str, Any]:
        specs = [{"type": t.name, **t.config()} for t in self.transforms]
        return {"transforms": specs, "weights": self.weights}

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        batch, device = shape[0], R.draw_device(generator, device)
        self_index = _self_index(batch, device, self_index)
        u = torch.rand(batch, **R.rng(generator), device=device, dtype=R.float_dtype(device))
        choice = torch.zeros(batch, dtype=torch.long, device=device)
        for threshold in self._thresholds:
            choice += u >= threshold
        components = [
            t.draw_params(shape, generator, self_index, source_size or batch, device) for t in self.transforms
        ]
        return {"choice": choice, "components": components}

    def replay(self, x, params, source=None):
        choice = params["choice"].to(x.device)
        parts = list(zip(self.transforms, params["components"]))
        if _by_subsets(x):
            source = x if source is None else source
            out = torch.empty_like(x)
            for position, (transform, drawn) in enumerate(parts):
                index = (choice == position).nonzero().flatten()
                if index.numel() > 0:
                    out.index_copy_(0, index, transform.replay(x.index_select(0, index), _take(drawn, index), source))
            return out
        out = parts[0][0].replay(x, parts[0][1], source)
        for position, (transform, drawn) in enumerate(parts[1:], start=1):
            out = torch.where(F._per_sample(choice == position, x), transform.replay(x, drawn, source), out)
        return out


@register()
class Noisy(NDATransform):
    """Let a fraction ``p_clean`` of samples through unchanged (the paper's noisy-NDA ablation).

    The NDA's parameters are drawn for the whole batch; as for ``mixture``, it runs on the
    samples it changes on the CPU in eager mode, on the whole batch elsewhere.

    Args:
        nda: the NDA applied to the other samples.
        p_clean: probability that a sample is returned unchanged, in [0, 1).
    """

    name = "noisy"

    def __init__(self, nda: Any, p_clean: float) -> None:
        super().__init__()
        self.nda = build(nda)
        self.p_clean = check_probability(p_clean, "p_clean", high_open=True)

    @property
    def needs_partner(self) -> bool:  # type: ignore[override]
        return self.nda.needs_partner

    def config(self) -> dict[str, Any]:
        return {"nda": {"type": self.nda.name, **self.nda.config()}, "p_clean": self.p_clean}

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        batch, device = shape[0], R.draw_device(generator, device)
        self_index = _self_index(batch, device, self_index)
        clean = R.bernoulli(batch, self.p_clean, generator, device)
        return {
            "clean": clean,
            "params": self.nda.draw_params(shape, generator, self_index, source_size or batch, device),
        }

    def replay(self, x, params, source=None):
        clean = params["clean"].to(x.device)
        if _by_subsets(x):
            out = x.clone()
            index = clean.logical_not().nonzero().flatten()
            if index.numel() > 0:
                changed = self.nda.replay(
                    x.index_select(0, index), _take(params["params"], index), x if source is None else source
                )
                out.index_copy_(0, index, changed)
            return out
        return torch.where(F._per_sample(clean, x), x, self.nda.replay(x, params["params"], source))


@register()
class DatasetNegatives(NDATransform):
    """Negatives drawn from a bank of other images (the paper's "other datasets" NDA).

    Every sample of the input batch is replaced by a random image of the bank; the bank must
    hold samples of the same shape and value format (dtype, normalisation) as the batch.
    Without a generator the picks are drawn where the bank lives. Keep a tensor bank on the
    batch's device: then a call copies nothing between devices and traces with
    ``torch.compile``; a bank on the CPU for a GPU batch costs a host-to-device copy of the
    drawn images, and a dataset bank (read item by item in Python) runs eagerly.

    Args:
        images: (N, C, H, W) or (N, C, T, H, W) tensor, or a map-style dataset whose items are
            tensors or ``(tensor, label)`` pairs.
    """

    name = "other_dataset"

    def __init__(self, images: Any = None) -> None:
        super().__init__()
        if images is None:
            raise UsageError(
                f"the {self.name!r} NDA needs images=: a tensor (N, C, H, W) or a dataset of tensors "
                f"to draw negatives from."
            )
        self.images = images
        self.indices = self._candidate_indices().to(self._bank_device())
        if len(self.indices) == 0:
            raise UsageError(f"the {self.name!r} NDA found no images to draw negatives from; pass a non-empty bank.")

    def _bank_device(self) -> torch.device:
        return self.images.device if isinstance(self.images, torch.Tensor) else torch.device("cpu")

    def _candidate_indices(self) -> torch.Tensor:
        return torch.arange(len(self.images))

    def config(self) -> dict[str, Any]:
        return {"images": f"<{len(self.indices)} images>"}

    def draw_params(self, shape, generator=None, self_index=None, source_size=None, device=None) -> Params:
        bank = self.indices.device
        picks = torch.randint(
            0, len(self.indices), (shape[0],), **R.rng(generator), device=R.draw_device(generator, bank)
        )
        return {"index": self.indices.index_select(0, picks.to(bank))}

    def _item(self, index: int) -> torch.Tensor:
        item = self.images[index]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if not isinstance(item, torch.Tensor):
            raise UsageTypeError(
                f"the {self.name!r} NDA needs tensor images, but item {index} is {type(item).__name__}; "
                f"add a ToTensor-like transform to the dataset."
            )
        return item

    def replay(self, x, params, source=None):
        index = params["index"]
        if isinstance(self.images, torch.Tensor):
            drawn = self.images.index_select(0, index.to(self.images.device))
        else:
            drawn = torch.stack([self._item(i) for i in index.tolist()])
        if drawn.shape[1:] != x.shape[1:]:
            raise UsageError(
                f"the {self.name!r} NDA bank holds samples of shape {tuple(drawn.shape[1:])} but the batch has "
                f"{tuple(x.shape[1:])}; resize the bank to the training resolution."
            )
        return drawn.to(device=x.device, dtype=x.dtype)


@register()
class OtherClassNegatives(DatasetNegatives):
    """Negatives drawn from images of classes other than the modelled ones.

    Args:
        images: tensor or dataset as for ``other_dataset``.
        labels: (N,) labels of ``images`` (default: the dataset's ``targets``).
        classes: the modelled classes; negatives come from every other class.
    """

    name = "other_classes"

    def __init__(self, images: Any = None, labels: Any = None, classes: Sequence[int] | None = None) -> None:
        if classes is None or len(classes) == 0:
            raise UsageError(
                "the 'other_classes' NDA needs classes=[...], the labels of the modelled classes; "
                "negatives are drawn from all other classes."
            )
        if labels is None:
            labels = getattr(images, "targets", None)
        if labels is None:
            raise UsageError("the 'other_classes' NDA needs labels= (one per image) when the dataset has no 'targets'.")
        self._labels = torch.as_tensor(labels).long().flatten().cpu()
        self._classes = [int(c) for c in classes]
        super().__init__(images)
        if len(self._labels) != len(images):
            raise UsageError(
                f"labels has {len(self._labels)} entries but there are {len(images)} images; give one label per image."
            )

    def _candidate_indices(self) -> torch.Tensor:
        modelled = torch.isin(self._labels, torch.tensor(self._classes))
        return (~modelled).nonzero().flatten()

    def config(self) -> dict[str, Any]:
        return {"classes": self._classes, "images": f"<{len(self.indices)} images of other classes>"}


def build(spec: Any, **kwargs: Any) -> NDATransform:
    """Build an NDA transform from a name, a dict ``{"type": name, ...}`` or a module.

    Example:
        >>> build({"type": "jigsaw", "k": 2})
        Jigsaw(k=2)
    """
    if isinstance(spec, NDATransform):
        if kwargs:
            raise UsageError(
                f"build() got an NDA module and arguments {sorted(kwargs)}; pass a name or a dict instead."
            )
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        if "type" not in spec:
            raise UsageError(f"an NDA spec dict needs a 'type' key naming one of {available()}, got {spec!r}.")
        name = spec.pop("type")
        kwargs = {**spec, **kwargs}
    elif isinstance(spec, str):
        name = spec
    else:
        raise UsageTypeError(
            f"an NDA spec must be a name, a dict with 'type' or an NDATransform, got {type(spec).__name__}; "
            f"known names: {available()}."
        )
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise UsageError(f"unknown NDA {name!r}; known NDAs: {available()}.")
    cls = _REGISTRY[name]
    try:
        return cls(**kwargs)
    except TypeError as error:
        if "argument" not in str(error):
            raise
        import inspect

        accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise UsageTypeError(f"NDA {name!r} got arguments {sorted(kwargs)}; it accepts {accepted} ({error}).") from None


def build_entry(spec: Any, where: str = "nda") -> NDATransform:
    """:func:`build` for a spec that a config entry or an argument named ``where`` holds: its
    errors start with ``where=spec``, so the user sees which entry to fix.

    Example:
        >>> build_entry("jigsw", "model nda")
        Traceback (most recent call last):
        ...
        nda_core.errors.UsageError: model nda='jigsw' is not a valid NDA: unknown NDA 'jigsw'; known NDAs:
            ['cutmix', 'cutout', 'jigsaw', 'mixture', 'mixup', 'noise', 'noisy', 'other_classes', 'other_dataset',
            'stitch', 'vflip'].
    """
    try:
        return build(spec)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{where}={spec!r} is not a valid NDA: {error}") from None


def nda_views(
    nda: NDATransform,
    views: Sequence[torch.Tensor],
    num_views: int = CONTRASTIVE_NDA_VIEWS,
    generator: torch.Generator | None = None,
    named: str | None = None,
) -> torch.Tensor:
    """(num_views * B, C, ...) NDA images of each sample's own views, made on the batch's device:
    the extra negatives of NDA-MoCo, NDA-SimCLR and NDA-CPC.

    View v is an NDA of ``views[v % 2]`` (the query view for even v, the key view for odd v, as
    in the paper); rows v * B .. (v + 1) * B - 1 belong to view v. :func:`per_sample_views` turns
    their (num_views * B, D) features into the (B, M, D) ``nda`` the contrastive losses take.
    ``named`` is how errors name the NDA (default ``nda=<the module>``; adapters pass the config
    entry the user wrote, e.g. ``model nda={'type': 'jigsaw', 'k': 3}``).
    """
    check_int(num_views, "num_views", 0, hint="the paper uses 2 (one NDA of each view).")
    sources = [check_tensor(v, "views[i]") for v in list(views)[:_CONTRASTIVE_SOURCES]]
    if len(sources) < 1:
        raise UsageError("nda_views needs at least one view (B, C, H, W).")
    out = []
    for view in range(num_views):
        source = sources[view % len(sources)]
        try:
            out.append(nda(source, generator=generator))
        except ValueError as error:
            raise UsageError(
                f"{named or f'nda={nda!r}'} cannot be applied to the batch of shape {tuple(source.shape)}: {error}"
            ) from None
    if not out:
        return sources[0].new_empty((0,) + tuple(sources[0].shape[1:]))
    return torch.cat(out)


def per_sample_views(features: torch.Tensor, batch: int) -> torch.Tensor:
    """(M * B, D) features of M stacked views of a batch (as :func:`nda_views` stacks them) ->
    (B, M, D), the M features of each sample."""
    return features.view(-1, batch, features.shape[-1]).transpose(0, 1)


def build_single_image(spec: Any, where: str, batch_path: str) -> NDATransform:
    """:func:`build_entry` for a per-image pipeline, which has no partner image: a two-image NDA
    (stitch, cutmix, mixup, a mixture with one) is refused with ``batch_path``, the way the
    framework applies it to the batch instead."""
    nda = build_entry(spec, where)
    if nda.needs_partner:
        raise UsageError(
            f"{where}={spec!r} is a two-image NDA that pairs each image with another image of the batch; a "
            f"per-image pipeline has no partner. Use the batch path instead: {batch_path}; or pick a "
            f"single-image NDA (jigsaw, cutout, vflip, noise)."
        )
    return nda


def apply_to_array(nda: NDATransform, image: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
    """NDA of one image array as per-image pipelines hold it, (H, W) or (H, W, C); same layout and dtype."""
    gray = image.ndim == _GRAY_NDIM
    batch = torch.from_numpy(np.ascontiguousarray(image[..., None] if gray else image)).permute(2, 0, 1)[None]
    out = nda(batch, generator=generator)[0].permute(1, 2, 0).numpy()
    return out[..., 0] if gray else out
