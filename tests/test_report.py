"""benchmarks.report: the docs' generated blocks equal what their JSON artifacts give, a number
changed by hand fails ``--check``, and the renderers apply the one verdict rule to the JSON's values."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from benchmarks import report
from nda_core.benchmark import STEP_TARGET, step_statistics

ROOT = Path(__file__).resolve().parents[1]


def _copy_checkout(dest: Path) -> Path:
    """The documents and the artifacts of this checkout under ``dest`` (what --root reads)."""
    for document in report.DOCUMENTS:
        (dest / document).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / document, dest / document)
    shutil.copytree(ROOT / report.RESULTS, dest / report.RESULTS, ignore=shutil.ignore_patterns("*.png"))
    return dest


def test_the_docs_in_the_repository_match_their_artifacts(capsys):
    assert report.main(["--check"]) == 0, capsys.readouterr().out


def test_one_number_changed_by_hand_fails_the_check_and_the_diff_shows_it(tmp_path, capsys):
    root = _copy_checkout(tmp_path)
    results = root / "docs" / "results.md"
    text = results.read_text()
    start = text.index("<!-- report:lightly -->")
    row = text.index("\n| kNN top-1 (%) |", start) + 1  # the lightly kNN comparison row of its generated block
    line = text[row : text.index("\n", row)]
    mean = re.search(r"\| (\d+\.\d+) \+- ", line)
    changed_value = f"{float(mean.group(1)) + 0.01:.2f}"
    changed = line[: mean.start(1)] + changed_value + line[mean.end(1) :]
    results.write_text(text[:row] + changed + text[row + len(line) :])
    assert report.main(["--check", "--root", str(root)]) == 1
    out = capsys.readouterr()
    assert f"-{changed}" in out.out.splitlines() and f"+{line}" in out.out.splitlines()
    assert "docs/results.md" in out.err
    # writing restores the block, after which the check passes again
    assert report.main(["--root", str(root)]) == 0
    assert report.main(["--check", "--root", str(root)]) == 0
    assert results.read_text() == (ROOT / "docs" / "results.md").read_text()


def test_an_unknown_block_is_a_usage_error(tmp_path, capsys):
    root = _copy_checkout(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text() + "\n<!-- report:no_such_table -->\n<!-- /report:no_such_table -->\n")
    assert report.main(["--check", "--root", str(root)]) == 2
    assert "no_such_table" in capsys.readouterr().err


def _evidence(plain: list[float], nda: list[float], t_test_p: float | None) -> dict:
    """A hand-made nda-evidence/1 artifact of one measure over three seeds."""
    seeds = [0, 1, 2]
    differences = [n - p for n, p in zip(nda, plain)]
    return {
        "schema": report.EVIDENCE_SCHEMA,
        "command": "python benchmarks/lightly_evidence.py --seeds 0 1 2",
        "settings": {"methods": {"plain": "MoCo", "nda": "NDA-MoCo"}},
        "seeds": seeds,
        "runs": [
            {"method": m, "seed": s, "knn_top1": v}
            for s, a, b in zip(seeds, plain, nda)
            for m, v in (("MoCo", a), ("NDA-MoCo", b))
        ],
        "summary": {"MoCo": {"knn_top1": report.spread(plain)}, "NDA-MoCo": {"knn_top1": report.spread(nda)}},
        "paired": {
            "knn_top1": {
                "seeds": seeds,
                **report.spread(differences),
                "differences": differences,
                "nda_higher": sum(d > 0 for d in differences),
                "t_test_p": t_test_p,
                "wilcoxon_p": 0.25,
            }
        },
    }


@pytest.mark.parametrize(
    ("plain", "nda", "p", "words"),
    [
        ([20.0, 22.0, 24.0], [21.0, 24.0, 27.0], 0.074, "suggestive"),  # paper's direction, p above 0.05
        ([20.0, 22.0, 24.0], [21.0, 24.0, 27.0], 0.010, "seen"),
        ([21.0, 24.0, 27.0], [20.0, 22.0, 24.0], 0.010, "not seen"),  # small p, but NDA lower
    ],
)
def test_the_evidence_renderer_writes_the_json_values_in_their_columns_and_the_rule_verdict(
    tmp_path, plain, nda, p, words
):
    (tmp_path / report.RESULTS).mkdir(parents=True)
    (tmp_path / report.RESULTS / "lightly_results.json").write_text(json.dumps(_evidence(plain, nda, p)))
    text = report.render(report.Results(tmp_path), "lightly")
    lines = text.splitlines()
    assert "    python benchmarks/lightly_evidence.py --seeds 0 1 2" in lines
    # per seed: plain then NDA, in seed order
    assert f"| 1 | MoCo | {plain[1]:.2f} |" in lines and "| 1 | NDA-MoCo | " + f"{nda[1]:.2f} |" in lines
    comparison = next(line for line in lines if line.startswith("| kNN top-1 (%) |"))
    cells = [cell.strip() for cell in comparison.strip("|").split("|")]
    assert cells[2] == f"{sum(plain) / 3:.2f} +- {report.spread(plain)['std']:.2f}"  # plain column holds plain
    assert cells[3] == f"{sum(nda) / 3:.2f} +- {report.spread(nda)['std']:.2f}"
    assert cells[4] == ", ".join(f"{n - q:+.2f}" for n, q in zip(nda, plain))
    assert cells[6] == f"{p:.3f}" and cells[8] == f"**{words}**"


def test_paired_statistics_match_the_t_distribution_written_out():
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3); with 2 degrees of freedom the two-sided p is 1 - t / sqrt(2 + t^2)
    result = report.paired_statistics([11.0, 14.0, 17.0], [10.0, 12.0, 14.0], [0, 1, 2])
    t = 2 / (1 / math.sqrt(3))
    assert result["differences"] == [1.0, 2.0, 3.0] and result["nda_higher"] == 3
    assert result["t_test_p"] == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)
    assert result["wilcoxon_p"] == pytest.approx(0.25)  # exact: 1 of the 8 sign patterns is all positive, two-sided
    assert report.paired_statistics([1.0, 1.0], [1.0, 1.0], [0, 1])["t_test_p"] is None


def test_the_step_statistic_is_the_median_of_per_round_ratios():
    # per round NDA / floor = 1.0, 2.0, 0.75 -> median 1.0 (met); medians of the times would give 2.0 / 1.0
    stats = step_statistics(nda=[1.0, 2.0, 3.0], floor=[1.0, 1.0, 4.0], plain=[0.5, 0.5, 2.0])
    assert stats["nda_over_floor_per_round"] == [1.0, 2.0, 0.75]
    assert stats["nda_over_floor_median"] == 1.0 and stats["verdict"] == "met"
    assert (stats["nda_over_floor_q1"], stats["nda_over_floor_q3"]) == (0.875, 1.5)
    assert step_statistics([1.1], [1.0], [1.0])["verdict"] == ("met" if 1.1 <= STEP_TARGET else "missed") == "missed"
    with pytest.raises(ValueError, match="one time per round"):
        step_statistics([1.0, 2.0], [1.0], [1.0])


def test_the_numerosity_renderer_reads_nda_demo_statistics_with_plain_and_nda_in_their_columns(tmp_path):
    # the layout `nda demo` / `nda demo merge` write (nda_demo.paired.paired_statistics per measure)
    def block(plain: list[float], nda: list[float], p: float) -> dict:
        differences = [n - q for n, q in zip(nda, plain)]
        return {
            "plain": report.spread(plain),
            "NDA": report.spread(nda),
            "difference": {
                "values": differences,
                "mean": sum(differences) / 2,
                "std": 0.01,
                "nda_higher": sum(d > 0 for d in differences),
                "seeds": 2,
            },
            "paired_t_test": {"pvalue": p},
            "wilcoxon": {"pvalue": 0.5},
        }

    runs = [
        {"seed": s, "nda": nda, "fraction_target": f, "mean_count": c, "auroc_heldout": a, "auroc_negatives": a}
        for s, nda, f, c, a in (
            (0, False, 0.20, 6.5, 0.51),
            (0, True, 0.30, 6.1, 1.0),
            (1, False, 0.22, 6.6, 0.49),
            (1, True, 0.25, 6.2, 1.0),
        )
    ]
    data = {
        "command": "python -m nda_demo --seeds 0 1 --out OUT",
        "threads": 2,
        "seeds": [0, 1],
        "runs": runs,
        "config": {"target": 6, "negatives": [4, 5, 7, 8], "heldout": [3, 9], "steps": 1000, "eval_samples": 2000},
        "statistics": {
            "fraction_target": block([0.20, 0.22], [0.30, 0.25], 0.2),
            "auroc_heldout": block([0.51, 0.49], [1.0, 1.0], 0.01),
            "auroc_negatives": block([0.51, 0.49], [1.0, 1.0], 0.01),
        },
    }
    (tmp_path / report.RESULTS).mkdir(parents=True)
    (tmp_path / report.RESULTS / "numerosity_default.json").write_text(json.dumps(data))
    lines = report.render(report.Results(tmp_path), "numerosity:numerosity_default").splitlines()
    assert "| 0 | 20.0 | 30.0 | 6.50 | 6.10 | 0.510 | 1.000 |" in lines  # share in %, plain before NDA
    share = next(line for line in lines if line.startswith("| share of samples"))
    assert "| 21.0 +- 1.4 | 27.5 +- 3.5 | +10.0, +3.0 | 2/2 | 0.200 |" in share and share.endswith("**suggestive** |")
    auroc = next(line for line in lines if line.startswith("| D AUROC target vs never-seen"))
    assert "| 0.500 +- 0.014 | 1.000 +- 0.000 |" in auroc and auroc.endswith("**seen** |")
