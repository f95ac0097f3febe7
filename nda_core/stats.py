"""Paired comparisons over seeds (plain vs NDA) and the one verdict rule every published result uses.

Each seed trains one plain and one NDA run with the same data, initial weights and budget, so a
measure is compared through its per-seed differences ``NDA - plain``. ``scipy.stats`` computes the
tests; it is imported inside the functions (``pip install scipy``), so ``nda_core`` keeps needing
only torch and numpy at import time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from nda_core.errors import UsageError

__all__ = [
    "SIGNIFICANCE",
    "MIN_SEEDS",
    "SEEN",
    "SUGGESTIVE",
    "NOT_SEEN",
    "UNTESTED",
    "VERDICT_RULE",
    "spread",
    "paired",
    "verdict",
]

#: Two-sided p of the paired t-test below which a difference in the tested direction is "seen".
SIGNIFICANCE = 0.05
#: Fewest seeds (pairs) the rule judges: one pair has no spread to test against.
MIN_SEEDS = 2
SEEN, SUGGESTIVE, NOT_SEEN, UNTESTED = "seen", "suggestive", "not seen", "untested"
VERDICT_RULE = (
    f"a comparison over seeds uses the per-seed differences NDA - plain; it is {SEEN} when their mean lies in "
    f"the direction tested and the two-sided paired t-test (scipy.stats.ttest_rel) gives p < {SIGNIFICANCE}, "
    f"{SUGGESTIVE} when the mean lies in that direction but p is larger (or undefined), {NOT_SEEN} when the "
    f"mean is zero or against that direction, and {UNTESTED} with fewer than {MIN_SEEDS} seeds"
)


def _finite(value: Any) -> float | None:
    """A float for JSON, or None where scipy gives nan (one pair, or equal differences)."""
    return None if value is None or math.isnan(float(value)) else float(value)


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one value), min, max, n and the values themselves."""
    values = [float(v) for v in values]
    if not values:
        raise UsageError("spread: values is empty; pass at least one value.")
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": values,
    }


def paired(nda: Sequence[float], plain: Sequence[float], seeds: Sequence[int]) -> dict[str, Any]:
    """Per-seed ``nda - plain`` differences with their spread, the seeds where NDA is higher, the
    paired t-test p (``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank p (``scipy.stats.wilcoxon``,
    exact for few seeds); a p is ``None`` where undefined (one seed, equal or all-zero differences)."""
    from scipy import stats

    if not len(nda) == len(plain) == len(seeds) or not seeds:
        raise UsageError(
            f"paired: nda ({len(nda)}), plain ({len(plain)}) and seeds ({len(seeds)}) must hold one "
            "value per seed each, for at least one seed."
        )
    differences = [float(a) - float(b) for a, b in zip(nda, plain)]
    result: dict[str, Any] = {
        "seeds": list(seeds),
        **spread(differences),
        "nda_higher": sum(d > 0 for d in differences),
        "t_test_p": None,
        "wilcoxon_p": None,
    }
    del result["values"]
    result["differences"] = differences
    if len(differences) > 1:
        if any(d != differences[0] for d in differences):
            result["t_test_p"] = _finite(stats.ttest_rel(nda, plain).pvalue)
        if any(d != 0 for d in differences):
            result["wilcoxon_p"] = _finite(stats.wilcoxon(differences).pvalue)
    return result


def verdict(mean_difference: float, t_test_p: float | None, seeds: int, higher_is_predicted: bool = True) -> str:
    """The verdict of :data:`VERDICT_RULE` for a mean NDA - plain difference over ``seeds`` seeds."""
    if seeds < MIN_SEEDS:
        return UNTESTED
    if not (mean_difference if higher_is_predicted else -mean_difference) > 0:
        return NOT_SEEN
    return SEEN if t_test_p is not None and t_test_p < SIGNIFICANCE else SUGGESTIVE
