"""``nda bench``: a tiny run through the ``nda`` host prints a row per NDA with finite ratios."""

from __future__ import annotations

import json
import math
import re

import pytest

from nda_core import benchmark
from nda_core.cli import main

TINY = ["--shapes", "4x3x8x8", "--rounds", "1", "--min-run-time", "0.001", "--threads", "1"]


def _rows(out: str) -> list[list[str]]:
    lines = [line for line in out.splitlines() if line.startswith("| 4x3x8x8 |")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _ratio(cell: str) -> float:
    return float(re.match(r"\s*([-+0-9.einfa]+)", cell).group(1))


def test_a_tiny_run_prints_a_row_per_nda_with_finite_ratios(capsys, tmp_path):
    report = tmp_path / "bench.json"
    assert main(["bench", *TINY, "--compile", "eager", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("device: cpu") and "threads 1" in out and "compile eager" in out
    header = next(line for line in out.splitlines() if line.startswith("| batch |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[:6] == ["batch", "NDA", "ours (ms)", "clone (ms)", "ours / clone (target)", "compiled / clone"]
    rows = _rows(out)
    assert [row[1] for row in rows] == list(benchmark.NAMES)
    for row in rows:
        for cell in (row[4], row[5], row[6].rstrip("x")):
            assert math.isfinite(_ratio(cell)) and _ratio(cell) > 0, row
    saved = json.loads(report.read_text())
    assert [r["nda"] for r in saved] == list(benchmark.NAMES)
    assert all(math.isfinite(r["compiled_vs_clone"]) and math.isfinite(r["vs_clone"]) for r in saved)


def test_options_select_ndas_and_skip_compile_and_libraries(capsys):
    assert main(["bench", *TINY, "--nda", "jigsaw", "mixup", "--compile", "none", "--no-libraries"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [row[1] for row in rows] == ["jigsaw", "mixup"]
    assert all(row[5] == "n/a" and row[7] == "n/a" and row[8] == "n/a" for row in rows)


def test_help_names_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: nda bench")
    for option in ("--device", "--shapes", "--nda", "--threads", "--rounds", "--min-run-time", "--compile", "--clock", "--json"):
        assert option in text
    assert "(default: cpu)" in text and "(default: inductor)" in text and "256x3x32x32" in text


@pytest.mark.parametrize("bad", [["--shapes", "3x32x32"], ["--shapes", "1x3x8x8"], ["--rounds", "0"], ["--clock", "cpu", "--device", "meta"]])
def test_bad_options_are_refused(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *bad])
    assert exit_info.value.code == 2
    assert "nda bench: error" in capsys.readouterr().err
