"""Write the generated blocks of README.md, docs/results.md and docs/mmselfsup.md from the JSON
artifacts in ``docs/results/``; ``--check`` fails when a block differs from what its JSON gives.

A block is the text between ``<!-- report:NAME -->`` and ``<!-- /report:NAME -->`` (NAME is
``kind`` or ``kind:argument``, e.g. ``steps`` or ``evidence:lightly_evidence``); :data:`RENDERERS`
maps each kind to the function that writes it. Numbers and verdict words come from the JSONs only,
by one rule for every comparison over seeds and one for every step time (:func:`verdict`,
``nda_core.benchmark.step_statistics``), stated in the ``rule`` block.

    python -m benchmarks.report            # rewrite every block
    python -m benchmarks.report --check    # exit 1 and print a diff when a block differs from its JSON
    python -m benchmarks.report --legacy   # StudioGAN's auroc.json files: relative paths, gathered with
                                           # their paired statistics into studiogan_anomaly.json

``--legacy`` works on StudioGAN's per-run ``auroc.json`` files (``studiogan_nda.anomaly``, whose
runs recorded absolute paths): it makes their paths relative and gathers them, with the paired
statistics, into ``studiogan_anomaly.json``; it leaves every recorded number as it is. (The DPC
evidence JSONs of the earlier layout are converted by ``benchmarks/dpc_evidence.py --convert``.)
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nda_core import stats

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("docs") / "results"
#: The files whose blocks are generated, relative to the repository root.
DOCUMENTS = (Path("README.md"), Path("docs") / "results.md", Path("docs") / "mmselfsup.md")
MARKER = re.compile(r"<!-- report:(?P<name>[a-z0-9_:.-]+) -->(?P<body>.*?)<!-- /report:(?P=name) -->", re.S)
SIGNIFICANCE = stats.SIGNIFICANCE
spread = stats.spread
EVIDENCE_SCHEMA = "nda-evidence/1"
#: The key of each step JSON's ``times_s`` that holds the step without NDA.
STEP_PLAIN = {"moco": "moco", "lightly": "moco", "studiogan": "plain", "dpc": "dpc"}
STEP_ADAPTERS = {
    "moco": "mmselfsup MoCo-v2",
    "lightly": "lightly MoCo",
    "studiogan": "StudioGAN DCGAN D step",
    "dpc": "video_dpc DPC",
}


class ReportError(ValueError):
    """A block or an artifact the report cannot render."""


# ------------------------------------------------------------------ statistics and the verdict rule
# one definition each, in nda_core.stats: spread, paired (the evidence JSONs' ``paired`` block) and the rule


def paired_statistics(nda: Sequence[float], plain: Sequence[float], seeds: Sequence[int]) -> dict[str, Any]:
    """``nda_core.stats.paired`` (legacy artifacts get their statistics here), errors as ReportError."""
    try:
        return stats.paired(nda, plain, seeds)
    except ValueError as error:
        raise ReportError(str(error)) from error


def verdict(paired: dict[str, Any], higher_is_predicted: bool = True) -> str:
    """``nda_core.stats.verdict`` of a ``paired`` block (see :data:`nda_core.stats.VERDICT_RULE`)."""
    return stats.verdict(paired["mean"], paired.get("t_test_p"), len(paired["differences"]), higher_is_predicted)


def step_verdict(step: dict[str, Any]) -> str:
    """The step-time verdict in words: met or missed by the median, not settled when the IQR spans the target."""
    words = f"**{step['verdict']}**"
    if step["nda_over_floor_q1"] <= step["target"] <= step["nda_over_floor_q3"]:
        words += ", **not settled** (IQR spans the target)"
    return words


def render_rule(results: Results, argument: str) -> str:
    import textwrap

    from nda_core.benchmark import STEP_TARGET

    return textwrap.fill(
        "How the verdicts are made (one rule for every table, applied by `benchmarks/report.py`): a "
        "comparison over seeds uses the per-seed differences NDA - plain (same seed, data, initial weights "
        "and budget). It is **seen** when their mean lies in the direction tested (the paper's prediction, for NDA "
        f"against plain) and the two-sided paired t-test (`scipy.stats.ttest_rel`) gives p < {SIGNIFICANCE}; "
        "**suggestive** when the mean lies in that direction but p is larger (or undefined); **not seen** when the "
        "mean is zero or against that direction. The Wilcoxon signed-rank p (`scipy.stats.wilcoxon`, exact) "
        "is shown beside it; with "
        "few seeds it cannot become small. A step time is **met** when the median over timing rounds of "
        f"(NDA step / floor), both timed back to back in each round, is at most {STEP_TARGET}, else **missed**; "
        "the interquartile range of the per-round ratios is shown with it, and when it contains the target the "
        "verdict is marked **not settled** (the rounds disagree about the side of the target the step lies on).",
        width=100,
        break_on_hyphens=False,
    )


# ------------------------------------------------------------------ formatting


def fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def fmt_spread(s: dict[str, Any], digits: int) -> str:
    return f"{s['mean']:.{digits}f} +- {s['std']:.{digits}f}"


def fmt_values(values: Sequence[float], digits: int, sign: bool = False) -> str:
    return ", ".join(f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}" for v in values)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Comparison:
    """One measure compared over seeds: plain and NDA spreads and their paired statistics."""

    experiment: str
    measure: str
    plain: dict[str, Any]
    nda: dict[str, Any]
    paired: dict[str, Any]
    digits: int
    higher_is_predicted: bool = True
    plain_label: str = "plain"
    nda_label: str = "NDA"

    @property
    def verdict(self) -> str:
        return verdict(self.paired, self.higher_is_predicted)

    @property
    def prediction(self) -> str:
        return f"{self.nda_label} {'higher' if self.higher_is_predicted else 'lower'}"

    def row(self) -> list[str]:
        p = self.paired
        return [
            self.measure,
            self.prediction,
            fmt_spread(self.plain, self.digits),
            fmt_spread(self.nda, self.digits),
            fmt_values(p["differences"], self.digits, sign=True),
            f"{p['nda_higher']}/{p['n']}",
            fmt_p(p.get("t_test_p")),
            fmt_p(p.get("wilcoxon_p")),
            f"**{self.verdict}**",
        ]

    def summary_row(self) -> list[str]:
        p = self.paired
        return [
            self.experiment,
            self.measure,
            self.prediction,
            f"{self.plain_label} {fmt_spread(self.plain, self.digits)}, {self.nda_label} "
            f"{fmt_spread(self.nda, self.digits)}; "
            f"{self.nda_label} higher in {p['nda_higher']}/{p['n']} seeds; p = {fmt_p(p.get('t_test_p'))}",
            f"**{self.verdict}**",
        ]


COMPARISON_HEADER = (
    "measure",
    "direction tested",
    "plain (mean +- std)",
    "NDA (mean +- std)",
    "NDA - plain per seed",
    "NDA higher",
    "paired t-test p",
    "Wilcoxon p",
    "verdict",
)


def comparison_table(comparisons: Sequence[Comparison]) -> str:
    header = list(COMPARISON_HEADER)
    if comparisons:
        header[2] = f"{comparisons[0].plain_label} (mean +- std)"
        header[3] = f"{comparisons[0].nda_label} (mean +- std)"
        header[4] = f"{comparisons[0].nda_label} - {comparisons[0].plain_label} per seed"
        header[5] = f"{comparisons[0].nda_label} higher"
    return table(header, [c.row() for c in comparisons])


# ------------------------------------------------------------------ artifacts


class Results:
    """The JSON artifacts under ``root/docs/results``, read once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / RESULTS
        self._cache: dict[str, Any] = {}

    def path(self, name: str) -> Path:
        return self.folder / (name if name.endswith(".json") else f"{name}.json")

    def has(self, name: str) -> bool:
        return self.path(name).is_file()

    def load(self, name: str) -> Any:
        if name not in self._cache:
            path = self.path(name)
            if not path.is_file():
                raise ReportError(
                    f"{path.relative_to(self.root)} does not exist; run the command shown above the block to make it."
                )
            self._cache[name] = json.loads(path.read_text())
        return self._cache[name]


def missing(results: Results, name: str, what: str) -> str:
    return (
        f"*Not rendered: `{RESULTS.as_posix()}/{name}.json` is not in the repository yet ({what}). "
        "Published numbers come only from artifacts; run the command above to make it.*"
    )


# ------------------------------------------------------------------ evidence (schema nda-evidence/1)

#: Measures of the evidence JSONs: key -> (label, digits, NDA predicted higher).
EVIDENCE_METRICS = {
    "knn_top1": ("kNN top-1 (%)", 2, True),
    "relative_jigsaw_distance": ("d(x, jigsaw x) / d(x, other image) (Fig. 9)", 3, True),
    "cos_dist_x_jigsaw_mean": ("cosine distance x to jigsaw(x)", 4, True),
    "linear_top1": ("linear-probe top-1 (%)", 2, True),
}


def evidence_methods(data: dict[str, Any]) -> tuple[str, str]:
    if data.get("schema") != EVIDENCE_SCHEMA:
        raise ReportError(f"expected schema {EVIDENCE_SCHEMA!r}, got {data.get('schema')!r}")
    methods = data["settings"]["methods"]
    return methods["plain"], methods["nda"]


def evidence_comparisons(data: dict[str, Any], experiment: str, metrics: Sequence[str]) -> list[Comparison]:
    plain, nda = evidence_methods(data)
    found = []
    for key in metrics:
        if key not in data["paired"]:
            continue
        label, digits, higher = EVIDENCE_METRICS[key]
        found.append(
            Comparison(
                experiment,
                label,
                data["summary"][plain][key],
                data["summary"][nda][key],
                data["paired"][key],
                digits,
                higher,
                "plain",
                "NDA",
            )
        )
    return found


def per_seed_table(data: dict[str, Any], metrics: Sequence[str]) -> str:
    plain, nda = evidence_methods(data)
    keys = [k for k in metrics if k in data["summary"][plain]]
    rows = []
    for seed in data["seeds"]:
        for method in (plain, nda):
            run = next(r for r in data["runs"] if r["seed"] == seed and r["method"] == method)
            rows.append([str(seed), method] + [fmt(run[k], EVIDENCE_METRICS[k][1]) for k in keys])
    return table(["seed", "method"] + [EVIDENCE_METRICS[k][0] for k in keys], rows)


def machine_line(data: dict[str, Any]) -> str:
    machine = data.get("machine") or {}
    parts = []
    if "torch_threads" not in machine and data.get("threads"):
        parts.append(f"{data['threads']} torch thread(s) per process")
    if "torch_threads" in machine:
        parts.append(f"{machine['torch_threads']} torch thread(s) per process")
    if "cpu_count" in machine:
        parts.append(f"{machine['cpu_count']} CPU cores, shared with other jobs")
    if "loadavg_start" in machine:
        end = machine.get("loadavg_end")
        parts.append(
            f"load average {machine['loadavg_start'][0]:.1f} at the start"
            + (f", {end[0]:.1f} at the end" if end else "")
        )
    if "torch" in machine:
        parts.append(f"torch {machine['torch']}")
    if "wall_seconds" in data:
        parts.append(f"{data['wall_seconds'] / 60:.1f} min in all")
    return "; ".join(parts)


def render_evidence(results: Results, name: str, experiment: str, metrics: Sequence[str]) -> str:
    if not results.has(name):
        return missing(results, name, "the evidence script has not been re-run since the configs were restructured")
    data = results.load(name)
    lines = [f"Artifact: `{RESULTS.as_posix()}/{name}.json`, made by", "", f"    {data['command']}", ""]
    machine = machine_line(data)
    if machine:
        lines += [f"Machine: {machine}.", ""]
    lines += [per_seed_table(data, metrics), "", comparison_table(evidence_comparisons(data, experiment, metrics))]
    baseline = untrained_comparisons(data, experiment, metrics)
    if baseline:
        lines += [
            "",
            "The plain run against the same backbone before training (its seed's initial weights):",
            "",
            comparison_table(baseline),
        ]
    return "\n".join(lines + plot_lines(results, data))


def plot_lines(results: Results, data: dict[str, Any]) -> list[str]:
    """Markdown images of the plots the artifact names, which its script wrote beside it (paths relative to docs/)."""
    plots = data.get("plots", [])
    return ["", *(f"![{Path(name).stem}](results/{name})" for name in plots)] if plots else []


#: Optional blocks of an evidence JSON: the plain method against its untrained initial weights.
UNTRAINED_BLOCKS = {"paired_moco_minus_untrained": "untrained (initial weights)"}


def untrained_comparisons(data: dict[str, Any], experiment: str, metrics: Sequence[str]) -> list[Comparison]:
    plain, _ = evidence_methods(data)
    found = []
    for block, untrained in UNTRAINED_BLOCKS.items():
        if block not in data or untrained not in data["summary"]:
            continue
        key = "knn_top1"  # training should raise it; no direction is predicted for the distances
        if key in metrics and key in data[block]:
            label, digits, _ = EVIDENCE_METRICS[key]
            found.append(
                Comparison(
                    experiment,
                    f"{label}: trained - untrained",
                    data["summary"][untrained][key],
                    data["summary"][plain][key],
                    data[block][key],
                    digits,
                    True,
                    "untrained",
                    plain,
                )
            )
    return found


LIGHTLY_METRICS = ("knn_top1", "relative_jigsaw_distance", "cos_dist_x_jigsaw_mean")
MOCO_METRICS = ("knn_top1", "relative_jigsaw_distance", "cos_dist_x_jigsaw_mean")


def lightly_name(results: Results) -> str:
    """The lightly evidence artifact (``benchmarks/lightly_evidence.py``)."""
    return "lightly_results"


def render_lightly(results: Results, argument: str) -> str:
    return render_evidence(
        results, lightly_name(results), "lightly MoCo vs NDA-MoCo (jigsaw), CIFAR-10", LIGHTLY_METRICS
    )


def render_moco(results: Results, argument: str) -> str:
    return render_evidence(results, argument, f"mmselfsup MoCo-v2 vs NDA-MoCo-v2 ({argument})", MOCO_METRICS)


# ------------------------------------------------------------------ DPC (dpc_evidence.py, nda-evidence/1)

DPC_METRICS = (("linear_top1", "linear-probe top-1 (%)"), ("knn_top1", "kNN top-1 (%)"))
DPC_METHODS = ("random init", "DPC", "NDA-DPC")


def dpc_comparisons(data: dict[str, Any]) -> list[Comparison]:
    """DPC against its random initialisation, then NDA-DPC against DPC, per metric."""
    evidence_methods(data)
    steps = data["settings"]["steps"]
    found = []
    for block, nda, plain in (("paired_dpc_minus_random", "DPC", "random init"), ("paired", "NDA-DPC", "DPC")):
        for key, label in DPC_METRICS:
            found.append(
                Comparison(
                    f"DPC on moving-MNIST, {steps} steps",
                    f"{label}: {nda} - {plain}",
                    data["summary"][plain][key],
                    data["summary"][nda][key],
                    data[block][key],
                    2,
                    True,
                    plain,
                    nda,
                )
            )
    return found


def render_dpc(results: Results, argument: str) -> str:
    data = results.load(argument)
    rows = []
    for seed in data["seeds"]:
        row = [str(seed)]
        for key, _ in DPC_METRICS:
            for method in DPC_METHODS:
                run = next(r for r in data["runs"] if r["seed"] == seed and r["method"] == method)
                row.append(fmt(run[key], 2))
        rows.append(row)
    header = ["seed"] + [f"{label.split(' (')[0]}: {method}" for _, label in DPC_METRICS for method in DPC_METHODS]
    test_videos = data["runs"][0].get("test_videos")
    lines = [
        f"Artifact: `{RESULTS.as_posix()}/{argument}.json` ({data['settings']['steps']} pre-training steps, seeds "
        f"{', '.join(map(str, data['seeds']))}; N = {test_videos} test videos), made by",
        "",
        f"    {data['command']}",
        "",
    ]
    machine = machine_line(data)
    if machine:
        lines += [f"Machine: {machine}.", ""]
    lines += [table(header, rows), ""]
    comparisons = dpc_comparisons(data)
    half = len(DPC_METRICS)
    lines += [comparison_table(comparisons[:half]), "", comparison_table(comparisons[half:])]
    return "\n".join(lines + plot_lines(results, data))


# ------------------------------------------------------------------ StudioGAN anomaly AUROC

STUDIOGAN_NAME = "studiogan_anomaly"


def studiogan_comparisons(data: dict[str, Any]) -> list[Comparison]:
    plain, nda = evidence_methods(data)
    found = []
    for key in data["sets"]:
        label = "mean of the corruptions" if key == "mean_corruption_auroc" else key.replace("_", " ")
        found.append(
            Comparison(
                "StudioGAN DCGAN, CIFAR-10: per-image D AUROC",
                f"AUROC clean vs {label}",
                data["summary"][plain][key],
                data["summary"][nda][key],
                data["paired"][key],
                3,
                True,
            )
        )
    return found


def render_studiogan(results: Results, argument: str) -> str:
    data = results.load(STUDIOGAN_NAME)
    plain, nda = evidence_methods(data)
    runs = {(r["method"], r["seed"]): r for r in data["runs"]}
    header = ["OOD set (n = 1000 each)"] + [f"{m} seed {s}" for m in (plain, nda) for s in data["seeds"]]
    rows = []
    for key in data["sets"]:
        label = "mean of the corruptions" if key == "mean_corruption_auroc" else key.replace("_", " ")
        rows.append([label] + [fmt(runs[(m, s)][key], 3) for m in (plain, nda) for s in data["seeds"]])
    return "\n".join(
        [
            f"Artifact: `{RESULTS.as_posix()}/{STUDIOGAN_NAME}.json` (gathered from the runs' `auroc.json`).",
            "",
            table(header, rows),
            "",
            comparison_table(studiogan_comparisons(data)),
        ]
    )


# ------------------------------------------------------------------ numerosity (nda_demo merge)


NUMEROSITY_METRICS = {
    "fraction_target": ("share of samples with exactly the target count (%)", 1, 100.0, True),
    "auroc_heldout": ("D AUROC target vs never-seen counts", 3, 1.0, True),
    "auroc_negatives": ("D AUROC target vs the trained negatives", 3, 1.0, True),
    "mean_count": ("mean dot count of the samples", 2, 1.0, None),
}


def _scaled(s: dict[str, Any], scale: float) -> dict[str, Any]:
    return {
        **s,
        **{k: s[k] * scale for k in ("mean", "std", "min", "max") if k in s},
        **({"differences": [d * scale for d in s["differences"]]} if "differences" in s else {}),
        **({"values": [v * scale for v in s["values"]]} if "values" in s else {}),
    }


def _demo_paired(block: dict[str, Any]) -> dict[str, Any]:
    """nda_demo's per-measure statistics (``nda_demo.paired.paired_statistics``) in the keys of the
    evidence scripts' ``paired`` block."""
    difference = block["difference"]
    return {
        "differences": difference["values"],
        "mean": difference["mean"],
        "std": difference["std"] or 0.0,
        "n": difference["seeds"],
        "nda_higher": difference["nda_higher"],
        "t_test_p": block["paired_t_test"]["pvalue"],
        "wilcoxon_p": block["wilcoxon"]["pvalue"],
    }


def _demo_spread(block: dict[str, Any]) -> dict[str, Any]:
    return {"values": block["values"], "mean": block["mean"], "std": block["std"] or 0.0}


def numerosity_comparisons(data: dict[str, Any], experiment: str) -> list[Comparison]:
    """Comparisons of a merged ``nda demo`` JSON, from the ``statistics`` block its merge computed."""
    if "statistics" not in data:
        raise ReportError(
            "the numerosity artifact has no 'statistics' block; write it with `nda demo` or `nda demo merge`"
        )
    found = []
    for key, (label, digits, scale, higher) in NUMEROSITY_METRICS.items():
        block = data["statistics"].get(key)
        if higher is None or block is None:
            continue
        found.append(
            Comparison(
                experiment,
                label,
                _scaled(_demo_spread(block["plain"]), scale),
                _scaled(_demo_spread(block["NDA"]), scale),
                _scaled(_demo_paired(block), scale),
                digits,
                higher,
            )
        )
    return found


def numerosity_setting(data: dict[str, Any]) -> str:
    config = data["config"]
    return (
        f"target {config['target']} dots, NDA negatives {', '.join(map(str, config['negatives']))}, "
        f"never-seen counts {', '.join(map(str, config['heldout']))}, {config['steps']} generator steps, "
        f"{config['eval_samples']} samples counted per run"
    )


def render_numerosity(results: Results, argument: str) -> str:
    if not results.has(argument):
        return missing(results, argument, "the merged `nda demo` runs")
    data = results.load(argument)
    runs = sorted(data["runs"], key=lambda r: (r["seed"], r["nda"]))
    seeds = sorted({r["seed"] for r in runs})
    rows = []
    for seed in seeds:
        plain = next(r for r in runs if r["seed"] == seed and not r["nda"])
        nda = next(r for r in runs if r["seed"] == seed and r["nda"])
        rows.append(
            [str(seed)]
            + [
                f"{fmt(run[key] * NUMEROSITY_METRICS[key][2], NUMEROSITY_METRICS[key][1])}"
                for key in ("fraction_target", "mean_count", "auroc_heldout")
                for run in (plain, nda)
            ]
        )
    header = ["seed"] + [
        f"{NUMEROSITY_METRICS[key][0]}: {label}"
        for key in ("fraction_target", "mean_count", "auroc_heldout")
        for label in ("plain", "NDA")
    ]
    lines = [f"Artifact: `{RESULTS.as_posix()}/{argument}.json` ({numerosity_setting(data)})."]
    if data.get("command"):
        lines += ["", f"    {data['command']}"]
    machine = machine_line(data)
    if machine:
        lines += ["", f"Machine: {machine}."]
    lines += ["", table(header, rows), "", comparison_table(numerosity_comparisons(data, f"numerosity ({argument})"))]
    return "\n".join(lines)


# ------------------------------------------------------------------ step times


def step_row(results: Results, adapter: str) -> list[str] | None:
    name = f"step_{adapter}"
    if not results.has(name):
        return None
    data = results.load(name)
    s, machine = data["statistics"], data["machine"]
    load = f"{machine['loadavg_start'][0]:.1f} -> {machine['loadavg_end'][0]:.1f}"
    plain = data["times_s"][STEP_PLAIN[adapter]]
    return [
        STEP_ADAPTERS[adapter],
        f"`{data['command']}`",
        f"{s['plain_ms_median']:.1f}",
        f"{s['nda_ms_median']:.1f}",
        f"{s['floor_ms_median']:.1f}",
        f"{max(plain) / min(plain):.2f}",
        f"{s['nda_over_plain_median']:.3f}",
        f"{s['floor_over_plain_median']:.3f}",
        f"{s['nda_over_floor_median']:.3f} ({s['nda_over_floor_q1']:.3f}-{s['nda_over_floor_q3']:.3f})",
        f"{s['rounds']} rounds, {machine['torch_threads']} threads, load {load}",
        step_verdict(s),
    ]


STEP_HEADER = (
    "adapter",
    "command",
    "plain (ms)",
    "NDA (ms)",
    "floor (ms)",
    "plain: slowest / fastest round",
    "NDA / plain",
    "floor / plain",
    "NDA / floor, median (IQR)",
    "rounds, threads, load average start -> end",
    "verdict",
)


def render_steps(results: Results, argument: str) -> str:
    adapters = [argument] if argument else list(STEP_ADAPTERS)
    rows, absent = [], []
    for adapter in adapters:
        row = step_row(results, adapter)
        (rows.append(row) if row else absent.append(adapter))
    lines = [table(STEP_HEADER, rows)] if rows else []
    if absent:
        lines += [
            "",
            "Not rendered (no artifact yet): "
            + ", ".join(f"`{RESULTS.as_posix()}/step_{a}.json`" for a in absent)
            + ".",
        ]
    if rows:
        lines += [
            "",
            "Floors: "
            + "; ".join(
                f"{STEP_ADAPTERS[a]}: {results.load(f'step_{a}')['floor']}" for a in adapters if a not in absent
            )
            + ".",
        ]
        lines += [
            "Times are medians over the rounds; the machine was shared with other jobs, so the load average "
            "at the start and the end of each run is given beside it, and how much the step without NDA "
            "itself varied between the rounds of the run."
        ]
    return "\n".join(lines)


# ------------------------------------------------------------------ transform speed (nda bench)


def render_transforms(results: Results, argument: str) -> str:
    if not results.has("transforms"):
        return missing(results, "transforms", "`nda bench --json docs/results/transforms.json`")
    from nda_core.benchmark import format_table

    data = results.load("transforms")
    settings, machine = data["settings"], data["machine"]
    header = (
        f"`{data['command']}`: {machine['device']} ({machine['device_name']}), torch {machine['torch']}, "
        f"{settings['threads']} threads, clock {settings['clock']}, compile {settings['compile']}, median of "
        f"{settings['rounds']} rounds of >= {settings['min_run_time']:g} s, float32; {machine['cpu_count']} CPU cores "
        f"shared with other jobs, load average {machine['loadavg_start'][0]:.1f} at the start, "
        f"{machine['loadavg_end'][0]:.1f} at the end."
    )
    lines = [header, "", format_table(data["rows"])]
    if data.get("notes"):
        lines += [""] + [f"Note: {note}" for note in data["notes"]]
    if argument == "summary":
        return transforms_summary(data)
    return "\n".join(lines)


def transforms_summary(data: dict[str, Any]) -> str:
    rows = []
    for shape in dict.fromkeys(r["shape"] for r in data["rows"]):
        group = [r for r in data["rows"] if r["shape"] == shape]
        missed = [r["nda"] for r in group if r["vs_clone"] > r["target_vs_clone"]]
        rows.append(
            [
                shape,
                f"{min(r['vs_clone'] for r in group):.2f}-{max(r['vs_clone'] for r in group):.2f}",
                ", ".join(missed) if missed else "none",
            ]
        )
    return table(["batch", "ours / clone over the NDAs", "NDAs above their target"], rows)


# ------------------------------------------------------------------ summary


def render_summary(results: Results, argument: str) -> str:
    comparisons: list[Comparison] = []
    notes = []
    if results.has("numerosity_default"):
        comparisons += numerosity_comparisons(
            results.load("numerosity_default"), "`nda demo` (default): numerosity GAN"
        )
    else:
        notes.append("`nda demo` numerosity: artifact `docs/results/numerosity_default.json` not yet in the repository")
    name = lightly_name(results)
    if results.has(name):
        comparisons += evidence_comparisons(
            results.load(name), "lightly MoCo vs NDA-MoCo (jigsaw), CIFAR-10", ("knn_top1", "relative_jigsaw_distance")
        )
    for name, label in (
        ("moco_evidence_e6", "6 epochs"),
        ("moco_evidence_e12", "12 epochs"),
        ("moco_evidence_e6_5seeds", "6 epochs, 5 seeds"),
    ):
        if results.has(name):
            comparisons += evidence_comparisons(
                results.load(name),
                f"mmselfsup MoCo-v2 vs NDA-MoCo-v2 ({label})",
                ("knn_top1", "relative_jigsaw_distance"),
            )
    if not results.has("moco_evidence_e6") and not results.has("moco_evidence_e12"):
        notes.append("mmselfsup MoCo-v2 evidence: not yet re-run since the configs were restructured")
    if results.has(STUDIOGAN_NAME):
        comparisons += [
            c
            for c in studiogan_comparisons(results.load(STUDIOGAN_NAME))
            if c.measure.endswith(("jigsaw", "corruptions"))
        ]
    for name in ("dpc_evidence_300", "dpc_evidence_600"):
        if results.has(name):
            comparisons += [c for c in dpc_comparisons(results.load(name)) if c.measure.startswith("linear")]
    rows = [c.summary_row() for c in comparisons]
    for adapter, label in STEP_ADAPTERS.items():
        if results.has(f"step_{adapter}"):
            s = results.load(f"step_{adapter}")["statistics"]
            rows.append(
                [
                    f"{label}: step time",
                    "NDA step / floor (median over rounds)",
                    f"our target: <= {s['target']}",
                    f"{s['nda_over_floor_median']:.3f} (IQR "
                    f"{s['nda_over_floor_q1']:.3f}-{s['nda_over_floor_q3']:.3f}), "
                    f"{s['rounds']} rounds",
                    step_verdict(s),
                ]
            )
    text = table(["experiment", "measure", "direction tested", "result", "verdict"], rows)
    if notes:
        text += "\n\nNot in the table: " + "; ".join(notes) + "."
    return text


# ------------------------------------------------------------------ blocks

RENDERERS: dict[str, Callable[[Results, str], str]] = {
    "rule": render_rule,
    "summary": render_summary,
    "numerosity": render_numerosity,
    "lightly": render_lightly,
    "moco": render_moco,
    "studiogan": render_studiogan,
    "dpc": render_dpc,
    "steps": render_steps,
    "transforms": render_transforms,
}


def render(results: Results, name: str) -> str:
    kind, _, argument = name.partition(":")
    if kind not in RENDERERS:
        raise ReportError(f"unknown block <!-- report:{name} -->; known kinds: {sorted(RENDERERS)}")
    return RENDERERS[kind](results, argument)


def rewrite(text: str, results: Results) -> str:
    """``text`` with every block replaced by what its renderer writes now."""

    def block(match: re.Match[str]) -> str:
        name = match.group("name")
        body = render(results, name).strip("\n")
        inline = "\n" not in match.group("body")
        inner = body if inline else f"\n{body}\n"
        return f"<!-- report:{name} -->{inner}<!-- /report:{name} -->"

    opened = re.findall(r"<!-- report:([^ ]+) -->", text)
    closed = re.findall(r"<!-- /report:([^ ]+) -->", text)
    if sorted(opened) != sorted(closed):
        raise ReportError(f"unbalanced report markers: opened {opened}, closed {closed}")
    return MARKER.sub(block, text)


def run(root: Path, check: bool) -> int:
    """Rewrite (or, with ``check``, compare) every document's blocks; the exit status."""
    results = Results(root)
    differing = []
    for document in DOCUMENTS:
        path = root / document
        old = path.read_text()
        new = rewrite(old, results)
        if new == old:
            continue
        differing.append(document)
        if check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"{document} (in the repository)",
                    f"{document} (from docs/results/*.json)",
                )
            )
        else:
            path.write_text(new)
    if check and differing:
        print(
            f"benchmarks.report: {', '.join(map(str, differing))} differ from their JSON artifacts; "
            "run `python -m benchmarks.report` and commit the result.",
            file=sys.stderr,
        )
        return 1
    print(
        f"benchmarks.report: {'checked' if check else 'wrote'} {len(DOCUMENTS)} documents"
        + ("" if check or not differing else f" ({', '.join(map(str, differing))} changed)")
    )
    return 0


# ------------------------------------------------------------------ legacy artifacts


def _relative_to(path: str, base: str) -> str:
    """``path`` relative to the folder ``base`` when it lies inside it, else its name."""
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).name


def legacy(root: Path) -> None:
    """Make the paths of StudioGAN's per-run ``auroc.json`` relative and gather the runs, with their
    paired statistics (scipy.stats, from the recorded AUROCs, numbers unchanged), into one artifact."""
    folder = root / RESULTS
    runs = []
    for auroc in sorted((folder / "studiogan").glob("*/auroc.json")):
        data = json.loads(auroc.read_text())
        run_folder = str(Path(data["checkpoint"]).parents[2])
        if Path(data["checkpoint"]).is_absolute():
            data["checkpoint"] = _relative_to(data["checkpoint"], run_folder)
            data["config"] = Path(data["config"]).name
            data["paths"] = "checkpoint is relative to the training run's -save folder; config is the leaf YAML's name"
            auroc.write_text(json.dumps(data, indent=2) + "\n")
        seed_text, _, config = auroc.parent.name.partition("-")
        runs.append(
            {
                "method": "NDA" if "NDA" in config else "plain",
                "seed": int(seed_text.removeprefix("seed")),
                "run": auroc.parent.relative_to(folder).as_posix(),
                "config": data["config"],
                **{key: value["auroc"] for key, value in data["sets"].items()},
                "mean_corruption_auroc": data["mean_corruption_auroc"],
            }
        )
    if runs:
        seeds = sorted({r["seed"] for r in runs})
        sets = [k for k in runs[0] if k not in ("method", "seed", "run", "config")]

        def aurocs(method: str, key: str) -> list[float]:
            return [next(r[key] for r in runs if r["seed"] == s and r["method"] == method) for s in seeds]

        gathered = {
            "schema": EVIDENCE_SCHEMA,
            "script": "benchmarks/report.py",
            "command": "python benchmarks/report.py --legacy",
            "settings": {
                "methods": {"plain": "plain", "nda": "NDA"},
                "n_clean": 1000,
                "anomaly_seed": 0,
                "training_steps": 121,
            },
            "seeds": seeds,
            "sets": sets,
            "runs": runs,
            "summary": {m: {k: spread(aurocs(m, k)) for k in sets} for m in ("plain", "NDA")},
            "paired": {k: paired_statistics(aurocs("NDA", k), aurocs("plain", k), seeds) for k in sets},
            "statistics_note": (
                "gathered from studiogan_nda.anomaly's auroc.json files; paired statistics computed with "
                "scipy.stats from the per-run AUROCs"
            ),
        }
        (folder / f"{STUDIOGAN_NAME}.json").write_text(json.dumps(gathered, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="compare instead of writing; exit 1 with a diff when a block differs"
    )
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="StudioGAN's auroc.json: relative paths, gathered into studiogan_anomaly.json",
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="repository root holding README.md and docs/ (default: this checkout)"
    )
    args = parser.parse_args(argv)
    if args.check and args.legacy:
        parser.error("--check compares only; run --legacy on its own")
    try:
        if args.legacy:
            legacy(args.root)
        return run(args.root, args.check)
    except (ReportError, OSError, KeyError, json.JSONDecodeError) as error:
        print(f"python -m benchmarks.report: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
