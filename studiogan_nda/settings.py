"""The NDA keys of StudioGAN's ``LOSS`` section, ``_base_`` YAML composition, and their checks.

Three keys join StudioGAN's ``LOSS`` section (registered by :mod:`studiogan_nda.hooks` before
the YAML is read, so stock YAMLs are unaffected)::

    LOSS:
      adv_loss: "hinge"
      apply_nda: True              # default False: StudioGAN's own behaviour, bit for bit
      nda_lambda: 0.25             # lam: weight of G(z) in the fake mixture, in (0, 1]
      nda: {type: jigsaw, k: 2}    # any nda_core spec, mixtures included

and the discriminator objective becomes
``L_real(D(x)) + lam * L_fake(D(G(z))) + (1 - lam) * L_fake(D(NDA(x)))``.

A YAML may also start with ``_base_: [a.yaml, b.yaml]`` (paths relative to the file): the
bases are read first, in order, and the file's own sections override them key by key.
StudioGAN itself has no composition; the hooks add it only for files that use ``_base_``.

Everything here is plain Python on top of ``nda_core`` and PyYAML, so the launcher can check a
config before StudioGAN is imported.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import yaml

import nda_core
from nda_core._checks import check_bool, check_choice
from nda_core.losses import DEFAULT_LAMBDA, check_lambda

__all__ = [
    "NDA_KEYS",
    "ADV_LOSS_KINDS",
    "BASE_KEY",
    "NDASettings",
    "read_yaml",
    "uses_base",
    "check_nda_settings",
]

#: Defaults of the NDA keys added to StudioGAN's LOSS section.
NDA_KEYS: dict[str, Any] = {"apply_nda": False, "nda_lambda": DEFAULT_LAMBDA, "nda": {"type": "jigsaw", "k": 2}}
#: StudioGAN's adversarial losses for which the NDA objective is defined -> nda_core's loss kinds.
ADV_LOSS_KINDS: dict[str, str] = {
    "vanilla": "vanilla",
    "logistic": "logistic",
    "least_square": "ls",
    "hinge": "hinge",
    "wasserstein": "wasserstein",
}
#: The YAML key that lists the files a config builds on.
BASE_KEY = "_base_"
_PROBE_BATCH = 2  # a dummy batch that runs every NDA once (two-image NDAs need 2)
_UNDEFINED_LOSS = (
    "the NDA objective L_real + lam * L_fake(D(G(z))) + (1 - lam) * L_fake(D(NDA(x))) needs an adversarial "
    "loss with a real and a fake part"
)


def _load_one(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"StudioGAN config {str(path)!r} does not exist; pass -cfg with the path of a YAML file.")
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict) or any(not isinstance(v, dict) for k, v in data.items() if k != BASE_KEY):
        raise ValueError(
            f"StudioGAN config {str(path)!r} must map sections (DATA, MODEL, LOSS, OPTIMIZATION, ...) to "
            f"key-value mappings, as StudioGAN's own YAMLs do."
        )
    return data


def _bases(path: Path, data: Mapping[str, Any]) -> list[Path]:
    bases = data.get(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ValueError(f"{BASE_KEY} in {str(path)!r} must be a file name or a list of them, got {bases!r}.")
    return [(path.parent / base).resolve() for base in bases]


def uses_base(path: str | Path) -> bool:
    """True when the YAML at ``path`` has a ``_base_`` key."""
    return BASE_KEY in _load_one(Path(path))


def read_yaml(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, dict[str, Any]]:
    """The sections of a StudioGAN YAML with its ``_base_`` files merged in (later files win per key)."""
    path = Path(path).resolve()
    if path in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path))
        raise ValueError(f"{BASE_KEY} files include each other in a cycle: {cycle}; remove one of the references.")
    data = _load_one(path)
    merged: dict[str, dict[str, Any]] = {}
    for base in _bases(path, data):
        for section, values in read_yaml(base, (*_chain, path)).items():
            merged.setdefault(section, {}).update(values)
    for section, values in data.items():
        if section != BASE_KEY:
            merged.setdefault(section, {}).update(copy.deepcopy(values))
    return merged


@dataclass(frozen=True)
class NDASettings:
    """The checked NDA settings of one config."""

    apply: bool
    lam: float
    spec: Any
    kind: str | None  # nda_core loss kind; None when NDA is off

    def describe(self) -> str:
        if not self.apply:
            return "NDA off (StudioGAN's own discriminator loss)"
        return (
            f"NDA on: L_D = L_real + {self.lam:g} * L_fake(D(G(z))) + {1 - self.lam:g} * L_fake(D(NDA(x))), "
            f"NDA = {self.spec!r}, adversarial loss {self.kind!r}"
        )


def _spec_error(spec: Any, error: Exception) -> Exception:
    message = f"LOSS.nda = {spec!r} is not a usable NDA: {error} Known NDAs: {nda_core.available()}."
    return (TypeError if isinstance(error, TypeError) else ValueError)(message)


def check_nda_settings(loss: Mapping[str, Any], model: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None) -> NDASettings:
    """Check the NDA keys of a LOSS section (with StudioGAN's defaults for missing keys).

    Args:
        loss: the LOSS section (``adv_loss``, ``apply_nda``, ``nda_lambda``, ``nda``).
        model: the MODEL section (``d_cond_mtd``), to refuse conditioning modes NDA is undefined for.
        data: the DATA section (``img_size``, ``img_channels``), to try the NDA on an image of that size.

    Raises:
        ValueError, TypeError: naming the key, the value and the fix.
    """
    model, data = model or {}, data or {}
    apply = check_bool(loss.get("apply_nda", NDA_KEYS["apply_nda"]), "LOSS.apply_nda", "write apply_nda: True or False.")
    lam = check_lambda(loss.get("nda_lambda", NDA_KEYS["nda_lambda"]), "LOSS.nda_lambda")
    spec = loss.get("nda", NDA_KEYS["nda"])
    try:
        transform = nda_core.build(spec)
    except (ValueError, TypeError) as error:
        raise _spec_error(spec, error) from None
    if not apply:
        return NDASettings(False, lam, spec, None)
    adv_loss = loss.get("adv_loss", "vanilla")
    check_choice(
        adv_loss,
        "LOSS.adv_loss",
        list(ADV_LOSS_KINDS),
        f"with apply_nda: True: {_UNDEFINED_LOSS}, which multi-hinge ('MH') has not; choose one of those losses "
        f"or set apply_nda: False.",
    )
    if model.get("d_cond_mtd") == "MH":
        raise ValueError(
            f"MODEL.d_cond_mtd='MH' does not work with apply_nda: True: {_UNDEFINED_LOSS}, but MH's discriminator "
            f"scores K+1 classes instead; use another d_cond_mtd (e.g. 'PD') or set apply_nda: False."
        )
    size, channels = data.get("img_size", 32), data.get("img_channels", 3)
    if isinstance(size, int) and isinstance(channels, int) and size > 0 and channels > 0:
        try:
            # a private generator: checking a config must not move the training run's random stream
            transform(torch.zeros(_PROBE_BATCH, channels, size, size), generator=torch.Generator().manual_seed(0))
        except (ValueError, TypeError) as error:
            raise _spec_error(spec, error) from None
    return NDASettings(True, lam, spec, ADV_LOSS_KINDS[adv_loss])
