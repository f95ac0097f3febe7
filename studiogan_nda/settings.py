"""The NDA keys of StudioGAN's ``LOSS`` section, and the reading and checking of a flat StudioGAN YAML.

Three keys join StudioGAN's ``LOSS`` section (registered by :mod:`studiogan_nda.hooks` before
the YAML is read, so stock YAMLs are unaffected)::

    LOSS:
      adv_loss: "hinge"
      apply_nda: True              # default False: StudioGAN's own behaviour, bit for bit
      nda_lambda: 0.25             # lam: weight of G(z) in the fake mixture, in (0, 1]
      nda: {type: jigsaw, k: 2}    # any nda_core spec, mixtures included

and the discriminator objective becomes
``L_real(D(x)) + lam * L_fake(D(G(z))) + (1 - lam) * L_fake(D(NDA(x)))``.

A config is one flat StudioGAN YAML (sections ``DATA``, ``MODEL``, ``LOSS``, ``OPTIMIZATION``, ...
mapping keys to values), as StudioGAN's own ``src/configs/CIFAR10/BigGAN.yaml``. :func:`check_keys`
refuses a section or key StudioGAN does not know (a typo), naming the closest known one;
:func:`parse_setting` reads the launcher's ``--set SECTION.key=VALUE`` overrides.

Everything here is plain Python on top of ``nda_core`` and PyYAML, so the launcher can check a
config before StudioGAN's ``main.py`` runs.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

import nda_core
from nda_core._checks import check_bool, check_choice
from nda_core.errors import UsageError, UsageTypeError
from nda_core.losses import DEFAULT_LAMBDA, check_lambda

__all__ = [
    "NDA_KEYS",
    "ADV_LOSS_KINDS",
    "NDASettings",
    "read_yaml",
    "check_keys",
    "declared_keys",
    "parse_setting",
    "apply_settings",
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
_PROBE_BATCH = 2  # a dummy batch that runs every NDA once (two-image NDAs need 2)
_UNDEFINED_LOSS = (
    "the NDA objective L_real + lam * L_fake(D(G(z))) + (1 - lam) * L_fake(D(NDA(x))) needs an adversarial "
    "loss with a real and a fake part"
)


def read_yaml(path: str | Path) -> dict[str, dict[str, Any]]:
    """The sections of a flat StudioGAN YAML, ``{section: {key: value}}``.

    Raises:
        UsageError: the file is missing, is not YAML, or does not map sections to key-value mappings.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"StudioGAN config {str(path)!r} does not exist; pass -cfg with the path of a YAML file.")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as error:
        raise UsageError(f"StudioGAN config {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(data, dict) or any(not isinstance(v, dict) for v in data.values()):
        raise UsageError(
            f"StudioGAN config {str(path)!r} must map sections (DATA, MODEL, LOSS, OPTIMIZATION, ...) to "
            f"key-value mappings, as StudioGAN's own YAMLs do (src/configs/CIFAR10/BigGAN.yaml)."
        )
    return {str(section): dict(values) for section, values in data.items()}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def check_keys(sections: Mapping[str, Mapping[str, Any]], known: Mapping[str, Iterable[str]], source: str) -> None:
    """Refuse a section or key of ``sections`` that StudioGAN's config (``known``) does not define.

    Args:
        sections: the YAML's (or the ``--set`` overrides') ``{section: {key: value}}``.
        known: StudioGAN's ``{section: keys}``, NDA keys included (:func:`studiogan_nda.hooks.known_keys`).
        source: where the entries come from, for the message (the YAML's path, ``--set``).

    Raises:
        UsageError: naming the entry and the closest known one ("did you mean").
    """
    known = {section: set(keys) for section, keys in known.items()}
    for section, values in sections.items():
        if section not in known:
            hint = _did_you_mean(section, known) or f"StudioGAN's sections are {sorted(known)}."
            raise UsageError(f"{source}: StudioGAN has no config section {section!r}; {hint}")
        for key in values:
            if key in known[section]:
                continue
            elsewhere = sorted(other for other, keys in known.items() if key in keys)
            hint = (
                f"{key!r} belongs to {' or '.join(elsewhere)}."
                if elsewhere
                else _did_you_mean(key, known[section]) or "see StudioGAN's src/config.py for its keys."
            )
            raise UsageError(f"{source}: StudioGAN has no key {section}.{key}; {hint}")


def declared_keys(config_py: str | Path) -> dict[str, set[str]]:
    """The sections and keys StudioGAN's ``src/config.py`` declares, with the NDA keys, read without importing it.

    They are the ``self.SECTION.key = ...`` assignments of ``Configurations.load_base_cfgs`` for the sections of
    its ``self.super_cfgs`` (so a user's own StudioGAN version is the reference, and nothing of StudioGAN runs).

    Raises:
        RuntimeError: the file does not declare them that way (not StudioGAN's, or a much changed one).
    """
    tree = ast.parse(Path(config_py).read_text(encoding="utf-8"), filename=str(config_py))
    methods = [
        node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == "Configurations"
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == "load_base_cfgs"
    ]
    known: dict[str, set[str]] = {}
    for node in ast.walk(methods[0]) if methods else ():
        for target in node.targets if isinstance(node, ast.Assign) else ():
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute):
                owner = target.value
                if isinstance(owner.value, ast.Name) and owner.value.id == "self":
                    known.setdefault(owner.attr, set()).add(target.attr)
            elif isinstance(target, ast.Attribute) and target.attr == "super_cfgs" and isinstance(node.value, ast.Dict):
                sections = {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
                known["__sections__"] = sections
    sections = known.pop("__sections__", set())
    if not {"DATA", "MODEL", "LOSS", "OPTIMIZATION"} <= sections:
        raise RuntimeError(
            f"{config_py} declares no StudioGAN config sections in Configurations.load_base_cfgs (self.super_cfgs); "
            f"studiogan_nda supports StudioGAN 947b35e's layout."
        )
    declared = {section: set(known.get(section, set())) for section in sections}
    declared["LOSS"] |= set(NDA_KEYS)
    return declared


def parse_setting(text: str) -> tuple[str, str, Any]:
    """``SECTION.key=VALUE`` (the launcher's ``--set``) as ``(section, key, value)``; VALUE is read as YAML.

    Raises:
        UsageError: the text is not of that form.
    """
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key or "." in key:
        raise UsageError(
            f"--set {text!r} must look like SECTION.key=VALUE, e.g. --set OPTIMIZATION.d_updates_per_step=4 or "
            f"--set DATA.name=CIFAR10_images."
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise UsageError(f"--set {text!r}: VALUE is not a YAML value ({error}).") from None
    return section, key, value


def apply_settings(
    sections: Mapping[str, Mapping[str, Any]], settings: Iterable[tuple[str, str, Any]]
) -> dict[str, dict[str, Any]]:
    """A copy of ``sections`` with the ``(section, key, value)`` overrides applied (the last one wins)."""
    merged = {section: dict(values) for section, values in sections.items()}
    for section, key, value in settings:
        merged.setdefault(section, {})[key] = value
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


def _spec_error(spec: Any, error: Exception) -> UsageError:
    """nda_core's message (it lists the known NDAs where the name is the problem) under the key's name."""
    message = f"LOSS.nda = {spec!r} is not a usable NDA: {error}"
    return (UsageTypeError if isinstance(error, TypeError) else UsageError)(message)


def check_nda_settings(
    loss: Mapping[str, Any], model: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None
) -> NDASettings:
    """Check the NDA keys of a LOSS section (with StudioGAN's defaults for missing keys).

    Args:
        loss: the LOSS section (``adv_loss``, ``apply_nda``, ``nda_lambda``, ``nda``).
        model: the MODEL section (``d_cond_mtd``), to refuse conditioning modes NDA is undefined for.
        data: the DATA section (``img_size``, ``img_channels``), to try the NDA on an image of that size.

    Raises:
        UsageError, UsageTypeError: naming the key, the value and the fix.
    """
    model, data = model or {}, data or {}
    apply = check_bool(
        loss.get("apply_nda", NDA_KEYS["apply_nda"]), "LOSS.apply_nda", "write apply_nda: True or False."
    )
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
        raise UsageError(
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
