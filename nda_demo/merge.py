"""Reading the per-seed folders ``nda demo merge`` pools: one experiment, one setting, every seed once.

Reads the results JSON of today's layout and of the first one (no ``format`` key, written before
results listed their statistics and files): both hold ``config`` and ``runs``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from nda_core.errors import UsageError
from nda_demo.outputs import RESULTS_FILES, relative_path

__all__ = ["MergeInput", "read_folders", "check_pairs"]

#: The config entry of a jigsaw run that is a path (recorded relative to its output folder).
DATA_KEY = "data"
#: What every run of an experiment holds (besides its seed and nda flag).
RUN_KEYS = {
    "numerosity": ("histogram", "fraction_target", "auroc_negatives", "auroc_heldout"),
    "jigsaw": ("separation", "anomaly_auroc", "fidkid"),
}


@dataclass
class MergeInput:
    """What the folders hold together."""

    experiment: str  # "numerosity" or "jigsaw"
    config: dict[str, Any]  # the settings every folder shares (a jigsaw ``data`` path made absolute)
    runs: list[dict[str, Any]]  # every run of every folder
    sources: list[dict[str, Any]]  # per folder: path relative to the merge's output folder, seeds, command


def check_pairs(runs: Sequence[dict[str, Any]], where: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One (plain, NDA) pair per seed, sorted by seed; ValueError unless each seed has exactly one of each."""
    by_seed: dict[int, dict[bool, list[dict[str, Any]]]] = {}
    for run in runs:
        if not isinstance(run, dict) or not isinstance(run.get("seed"), int) or not isinstance(run.get("nda"), bool):
            raise UsageError(f"{where} holds a run without an int seed and a true/false nda ({str(run)[:80]}).")
        by_seed.setdefault(run["seed"], {False: [], True: []})[run["nda"]].append(run)
    if not by_seed:
        raise UsageError(f"{where} holds no runs; a run that trained nothing cannot be merged.")
    pairs = []
    for seed, group in sorted(by_seed.items()):
        if len(group[False]) != 1 or len(group[True]) != 1:
            raise UsageError(
                f"{where} holds {len(group[False])} plain and {len(group[True])} NDA runs of seed {seed}; "
                f"each seed needs exactly one of each."
            )
        pairs.append((group[False][0], group[True][0]))
    return pairs


def _experiment(folders: Sequence[Path]) -> str:
    held = {folder: [name for name, file in RESULTS_FILES.items() if (folder / file).is_file()] for folder in folders}
    for folder, names in held.items():
        if not names:
            raise UsageError(
                f"{folder} holds neither {RESULTS_FILES['numerosity']} (numerosity) nor {RESULTS_FILES['jigsaw']} "
                f"(jigsaw); pass folders written by `nda demo --out FOLDER`."
            )
    common = set.intersection(*(set(names) for names in held.values()))
    if len(common) == 1:
        return common.pop()
    if not common:
        kinds = ", ".join(f"{folder} {' and '.join(names)}" for folder, names in held.items())
        raise UsageError(f"the folders hold runs of different experiments ({kinds}); merge runs of one experiment.")
    raise UsageError(
        "every folder holds both a numerosity and a jigsaw run, so merge cannot tell which to pool; give "
        "folders that hold one experiment."
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is not readable JSON ({error}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict) or not isinstance(data.get("runs"), list):
        raise UsageError(f"{path} holds no config and runs; pass folders written by `nda demo --out FOLDER`.")
    return data


def _settings(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``config`` with a jigsaw data path resolved (recorded relative to ``folder``; absolute in older files)."""
    config = dict(config)
    config.setdefault("device", "cpu")  # results written before --device existed trained on the CPU
    if config.get(DATA_KEY) is not None:
        config[DATA_KEY] = str((folder / config[DATA_KEY]).resolve())
    return config


def _difference(first: dict[str, Any], other: dict[str, Any]) -> str:
    keys = sorted(set(first) | set(other), key=str)
    return ", ".join(
        f"{key} {other.get(key)!r} vs {first.get(key)!r}" for key in keys if first.get(key) != other.get(key)
    )


def read_folders(folders: Sequence[str | Path], out: str | Path) -> MergeInput:
    """Read and check the folders to merge into ``out``; ValueError (one line, naming the fix) on any mix-up."""
    if not folders:
        raise UsageError("merge needs at least one folder.")
    folders = [Path(folder) for folder in folders]
    seen: dict[Path, Path] = {}
    for folder in folders:
        if folder.resolve() in seen:
            also = f" (as {seen[folder.resolve()]} too)" if str(seen[folder.resolve()]) != str(folder) else ""
            raise UsageError(f"{folder} is given twice{also}; give each folder once.")
        seen[folder.resolve()] = folder
    if Path(out).resolve() in seen:
        raise UsageError(
            f"--out {out} is one of the merged folders and its results would be replaced; give a new --out."
        )
    experiment = _experiment(folders)
    config: dict[str, Any] | None = None
    seed_folder: dict[int, Path] = {}
    runs: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    for folder in folders:
        path = folder / RESULTS_FILES[experiment]
        data = _read(path)
        settings = _settings(data["config"], folder)
        if config is not None and settings != config:
            raise UsageError(
                f"{folder} was made with other settings than {folders[0]} ({_difference(config, settings)}); "
                f"merge runs made with the same settings."
            )
        config = settings
        pairs = check_pairs(data["runs"], str(path))
        missing = sorted({key for pair in pairs for run in pair for key in RUN_KEYS[experiment] if key not in run})
        if missing:
            raise UsageError(f"{path} holds runs without {', '.join(missing)}; pass folders written by `nda demo`.")
        seeds = [plain["seed"] for plain, _ in pairs]
        for seed in seeds:
            if seed in seed_folder:
                raise UsageError(
                    f"seed {seed} is in both {seed_folder[seed]} and {folder}; each seed may be merged once."
                )
            seed_folder[seed] = folder
        runs += [run for pair in pairs for run in pair]
        sources.append(
            {
                "folder": relative_path(folder, out),
                "seeds": seeds,
                "command": data.get("command"),
                "threads": data.get("threads"),
                "format": data.get("format", 1),
            }
        )
    return MergeInput(experiment, cast(dict, config), runs, sources)  # set: folders is not empty
