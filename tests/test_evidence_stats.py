"""The statistics and paths the evidence scripts write (benchmarks/_evidence.py), and the JSONs in
docs/results that carry the evidence schema: their statistics agree with their own per-seed values."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _evidence  # noqa: E402

EVIDENCE_JSONS = sorted(
    p for p in (ROOT / "docs" / "results").glob("*.json") if json.loads(p.read_text()).get("schema") == _evidence.SCHEMA
)


def test_paired_is_nda_minus_plain_with_sample_std_and_textbook_p_values():
    from scipy import stats

    nda, plain = [26.0, 25.0, 24.5], [24.0, 24.5, 22.0]
    result = _evidence.paired(nda, plain, [0, 1, 2])
    differences = [2.0, 0.5, 2.5]
    assert result["differences"] == differences  # NDA - plain, not plain - NDA
    assert result["std"] == pytest.approx(statistics.stdev(differences))  # sample (n - 1), not population
    t = statistics.mean(differences) / (statistics.stdev(differences) / math.sqrt(3))
    assert result["t_test_p"] == pytest.approx(2 * stats.t.sf(abs(t), df=2))  # paired t == one-sample t of differences
    assert result["wilcoxon_p"] == pytest.approx(0.25)  # exact: 2 of the 2**3 sign patterns are this extreme
    assert result["nda_higher"] == 3


def test_paired_gives_none_where_a_test_is_undefined_and_refuses_unpaired_input():
    constant = _evidence.paired([3.0, 4.0], [1.0, 2.0], [0, 1])
    assert constant["t_test_p"] is None and constant["wilcoxon_p"] == pytest.approx(0.5)
    zero = _evidence.paired([1.0, 2.0], [1.0, 2.0], [0, 1])
    assert zero["t_test_p"] is None and zero["wilcoxon_p"] is None
    with pytest.raises(ValueError, match="one value per seed"):
        _evidence.paired([1.0, 2.0], [1.0], [0, 1])


def test_recorded_paths_are_never_absolute(tmp_path, monkeypatch):
    assert _evidence.relative(ROOT / "docs" / "results") == "docs/results"
    assert _evidence.relative(tmp_path / "out") == "<outside>/out"
    monkeypatch.setattr(sys, "argv", ["moco_evidence.py", "--out", str(tmp_path / "x"), "--epochs", "6"])
    assert _evidence.command("moco_evidence.py") == "python benchmarks/moco_evidence.py --out '<outside>/x' --epochs 6"


@pytest.mark.parametrize("path", EVIDENCE_JSONS, ids=[p.name for p in EVIDENCE_JSONS])
def test_evidence_json_statistics_match_its_per_seed_values(path):
    text = path.read_text()
    assert str(ROOT) not in text and "/work/" not in text and "/tmp/" not in text
    document = json.loads(text)
    assert document["command"].startswith(f"python {document['script']}")
    methods = document["settings"]["methods"]
    for metric, recorded in document["paired"].items():

        def per_seed(method: str, metric: str = metric) -> list[float]:
            return [
                next(r[metric] for r in document["runs"] if r["method"] == method and r["seed"] == seed)
                for seed in document["seeds"]
            ]

        expected = _evidence.paired(per_seed(methods["nda"]), per_seed(methods["plain"]), document["seeds"])
        assert recorded["differences"] == pytest.approx(expected["differences"])
        for key in ("mean", "std", "t_test_p", "wilcoxon_p"):
            assert recorded[key] == pytest.approx(expected[key], nan_ok=True), (metric, key)
