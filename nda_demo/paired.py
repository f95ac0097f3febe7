"""Paired statistics of plain vs NDA runs over seeds, and the one rule that says whether an effect shows.

Each seed trains one plain and one NDA run with the same data, initial weights and budget, so a
measure is compared through its per-seed differences ``NDA - plain``: their mean and sample
standard deviation, the seeds where NDA is higher, a paired t-test and a Wilcoxon signed-rank
test (both ``scipy.stats``, two-sided). :data:`EFFECT_RULE` turns them into one verdict.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from typing import Any

from scipy import stats

from nda_core import stats as stats_rule
from nda_core.errors import UsageError

__all__ = [
    "SIGNIFICANCE_LEVEL",
    "MIN_SEEDS",
    "EFFECT_RULE",
    "SEEN",
    "SUGGESTIVE",
    "NOT_SEEN",
    "UNTESTED",
    "describe",
    "paired_statistics",
    "verdict_text",
]

#: The one verdict rule of every published comparison (``nda_core.stats``), applied to the demo's measures.
SIGNIFICANCE_LEVEL, MIN_SEEDS, EFFECT_RULE = stats_rule.SIGNIFICANCE, stats_rule.MIN_SEEDS, stats_rule.VERDICT_RULE
SEEN, SUGGESTIVE, NOT_SEEN, UNTESTED = stats_rule.SEEN, stats_rule.SUGGESTIVE, stats_rule.NOT_SEEN, stats_rule.UNTESTED


def _finite(value: Any) -> float | None:
    """A float for JSON, or None where scipy gives nan or an infinite statistic."""
    value = float(value)
    return value if math.isfinite(value) else None


def describe(values: Sequence[float]) -> dict[str, Any]:
    """Every value, their mean and sample standard deviation (None for one value)."""
    values = [float(v) for v in values]
    return {
        "values": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
    }


def paired_statistics(plain: Sequence[float], nda: Sequence[float]) -> dict[str, Any]:
    """Statistics of per-seed pairs (``plain[i]``, ``nda[i]`` of seed i) and the verdict of :data:`EFFECT_RULE`."""
    if len(plain) != len(nda) or not plain:
        raise UsageError(f"plain and nda must hold one value per seed each, got {len(plain)} and {len(nda)} values.")
    differences = [float(n) - float(p) for p, n in zip(plain, nda)]
    with warnings.catch_warnings():  # one pair or equal differences: scipy warns and returns nan
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        t_test = stats.ttest_rel(nda, plain)
        wilcoxon = stats.wilcoxon(nda, plain) if any(differences) else None
    result = {
        "plain": describe(plain),
        "NDA": describe(nda),
        "difference": {
            **describe(differences),
            "nda_higher": sum(d > 0 for d in differences),
            "seeds": len(differences),
        },
        "paired_t_test": {
            "call": "scipy.stats.ttest_rel(NDA, plain)",
            "statistic": _finite(t_test.statistic),
            "pvalue": _finite(t_test.pvalue),
            "df": int(t_test.df),
        },
        "wilcoxon": {
            "call": "scipy.stats.wilcoxon(NDA, plain)",
            "statistic": None if wilcoxon is None else _finite(wilcoxon.statistic),
            "pvalue": None if wilcoxon is None else _finite(wilcoxon.pvalue),
        },
    }
    result["effect"] = _verdict(result)
    return result


def _verdict(result: dict[str, Any]) -> str:
    difference = result["difference"]
    return stats_rule.verdict(difference["mean"], result["paired_t_test"]["pvalue"], difference["seeds"])


def verdict_text(result: dict[str, Any], what: str, digits: int = 3) -> str:
    """One line: what was measured, both means, the paired differences, the test and the verdict in words."""
    difference, pvalue = result["difference"], result["paired_t_test"]["pvalue"]
    spread = f" +- {difference['std']:.{digits}f}" if difference["std"] is not None else ""
    line = (
        f"{what}: NDA {result['NDA']['mean']:.{digits}f} vs plain {result['plain']['mean']:.{digits}f}, "
        f"NDA - plain {difference['mean']:+.{digits}f}{spread}, NDA higher in {difference['nda_higher']}/"
        f"{difference['seeds']} seeds"
    )
    if pvalue is not None:
        line += f", paired t-test p = {pvalue:.3g}"
    endings = {
        SEEN: " -> SEEN",
        SUGGESTIVE: f" -> SUGGESTIVE: NDA higher on average, but not at p < {SIGNIFICANCE_LEVEL} in these runs",
        NOT_SEEN: " -> NOT SEEN: NDA is not higher on average in these runs",
        UNTESTED: f" -> UNTESTED: {difference['seeds']} seed; the rule needs at least {MIN_SEEDS}",
    }
    return line + endings[result["effect"]]
