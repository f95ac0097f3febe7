"""YAML configs with ``_base_`` inheritance and ``key.sub=value`` overrides.

A config file may list base files (paths relative to it) under ``_base_``; they are merged in
order, then the file itself on top: dictionaries merge key by key, anything else replaces, and a
dictionary with a different ``type`` replaces the old one whole (its arguments belonged to the
old type: ``{type: cutmix}`` over ``{type: jigsaw, k: 2}`` gives ``{type: cutmix}``).
Overrides from the command line (``optim.lr=3e-4 nda.transform.type=cutmix nda=null``) are
parsed as YAML values and applied last, by the same rule (changing a ``type`` drops the old
type's arguments). Unknown sections and keys are refused with the known
ones listed, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

__all__ = ["SECTIONS", "load_config", "apply_overrides", "merge", "check_keys", "call_with", "dump_config"]

BASE_KEY = "_base_"
#: Top-level sections a config may have.
SECTIONS = (
    "model", "nda", "data", "optim", "trainer", "checkpoint", "classifier", "pretrained",
    "seed", "threads", "work_dir", "progress", "evaluate",
)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``: dicts key by key (unless ``type`` changes),
    other values replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping) and _same_type(old, value):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _same_type(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return "type" not in new or old.get("type") == new["type"]


def _close(name: str, known: Sequence[str]) -> str:
    matches = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def check_keys(section: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    """Raise ``ValueError`` naming the first key of ``section`` not in ``known``."""
    for key in section:
        if key not in known:
            raise ValueError(f"{where} has an unknown key {key!r}{_close(str(key), known)}; known keys: {sorted(known)}.")


def _load_file(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        raise ValueError(f"config {path} includes itself through _base_: {' -> '.join(map(str, chain + (path,)))}.")
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist; configs live in plugins/video_dpc/.")
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"config {path} must hold a mapping of sections, got {type(loaded).__name__}.")
    bases = loaded.pop(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged: dict[str, Any] = {}
    for base in bases:
        merged = merge(merged, _load_file(path.parent / base, chain + (path,)))
    return merge(merged, loaded)


def apply_overrides(config: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML: numbers, null, lists, dicts)."""
    out = copy.deepcopy(dict(config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key.sub=value, e.g. optim.lr=0.001 or nda=null.")
        value = yaml.safe_load(raw) if raw.strip() else None
        parts = key.split(".")
        if parts[0] not in SECTIONS:
            raise ValueError(f"override {item!r} names an unknown section {parts[0]!r}{_close(parts[0], SECTIONS)}; sections: {list(SECTIONS)}.")
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if parts[-1] == "type" and node.get("type") != value:
            node.clear()  # a new type: the old type's arguments do not apply
        node[parts[-1]] = value
    return out


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The merged config of ``path`` (with its ``_base_`` files) and ``overrides``."""
    config = apply_overrides(_load_file(Path(path), ()), overrides)
    check_keys(config, SECTIONS, f"config {path}")
    return config


def call_with(factory: Callable[..., Any], section: Mapping[str, Any] | None, where: str, **fixed: Any) -> Any:
    """``factory(**section, **fixed)`` after checking the section's keys against its signature."""
    section = dict(section or {})
    parameters = inspect.signature(factory).parameters
    known = [name for name in parameters if name not in ("self",) and name not in fixed]
    check_keys(section, known, where)
    return factory(**section, **fixed)


def dump_config(config: Mapping[str, Any], path: str | Path) -> Path:
    """Write the resolved config next to the run's outputs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path
