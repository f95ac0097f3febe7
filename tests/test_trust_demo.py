"""Trusting `nda demo`'s numbers: merge arithmetic checked by hand, refusals of mix-ups, publishable results
files, evidence lines that say when an effect is absent, and no silent replacement of an earlier run.

Per-seed folders are hand-written in the on-disk layout today's main writes (``config``, ``seeds``,
``runs``, ``difference_fraction_target``; no ``format`` key), so the merge is also checked against
folders made before this layout grew its statistics.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
import scipy
import torch

from nda_demo.cli import main, numerosity_comparison, parse_args
from nda_demo.numerosity import NumerosityConfig

#: The config block of a numerosity results.json as today's main writes it (2 steps, 10 samples).
NUMEROSITY_CONFIG = {
    "steps": 2,
    "batch_size": 8,
    "lam": 0.25,
    "d_steps": 1,
    "kind": "hinge",
    "width": 16,
    "target": 6,
    "negatives": [4, 5, 7, 8],
    "heldout": [3, 9],
    "size": 32,
    "radius": 2.5,
    "eval_samples": 10,
    "train_images": 20000,
    "negative_bank": 20000,
    "score_images": 1000,
}
JIGSAW_CONFIG = {
    "steps": 2,
    "batch_size": 8,
    "lam": 0.25,
    "d_steps": 1,
    "kind": "hinge",
    "width": 16,
    "train_per_class": 4,
    "eval_per_class": 2,
    "fid_samples": 0,
    "data": None,
}
#: Per seed: (plain, NDA) of histogram of 10 samples, AUROC vs trained negatives, AUROC vs held-out counts.
NUMEROSITY_SEEDS = {
    0: (({5: 3, 6: 2, 7: 5}, 0.6, 0.50), ({6: 5, 7: 5}, 0.9, 1.00)),
    1: (({6: 4, 7: 6}, 0.5, 0.52), ({5: 2, 6: 3, 8: 5}, 1.0, 0.98)),
    2: (({6: 1, 9: 9}, 0.7, 0.48), ({6: 6, 7: 4}, 0.8, 1.00)),
}
TINY = dict(steps=1, batch_size=8, width=8, eval_samples=16, train_images=64, negative_bank=64, score_images=16)


def _numerosity_run(nda: bool, seed: int, histogram: dict[int, int], auroc_negatives: float, auroc_heldout: float):
    samples = sum(histogram.values())
    return {
        "nda": nda,
        "seed": seed,
        "histogram": {str(k): v for k, v in histogram.items()},
        "fraction_target": histogram.get(6, 0) / samples,
        "mean_count": sum(k * v for k, v in histogram.items()) / samples,
        "auroc_negatives": auroc_negatives,
        "auroc_heldout": auroc_heldout,
        "seconds": 1.5,
        "cpu_seconds": 1.2,
    }


def _numerosity_folder(root: Path, name: str, seeds, config=NUMEROSITY_CONFIG) -> Path:
    """A per-seed folder as today's main writes it; NDA listed before plain (order must not matter)."""
    runs = [_numerosity_run(nda, seed, *NUMEROSITY_SEEDS[seed][nda]) for seed in seeds for nda in (True, False)]
    by = {(r["seed"], r["nda"]): r for r in runs}
    data = {
        "config": config,
        "seeds": list(seeds),
        "runs": runs,
        "difference_fraction_target": [by[s, True]["fraction_target"] - by[s, False]["fraction_target"] for s in seeds],
    }
    (root / name).mkdir()
    (root / name / "results.json").write_text(json.dumps(data, indent=2))
    return root / name


def _jigsaw_folder(root: Path, name: str, seed: int, plain_share: float, nda_share: float) -> Path:
    def run(nda: bool, share: float) -> dict:
        return {
            "nda": nda,
            "seed": seed,
            "separation": {"mean": share - 0.5, "std": 0.1, "median": 0.0, "fraction_positive": share, "auroc": share},
            "anomaly_auroc": {"jigsaw": share, "noise": 0.8},
            "fidkid": None,
            "seconds": 1.0,
        }

    (root / name).mkdir()
    data = {"config": JIGSAW_CONFIG, "seeds": [seed], "runs": [run(False, plain_share), run(True, nda_share)]}
    (root / name / "cifar_results.json").write_text(json.dumps(data, indent=2))
    return root / name


def _p_two_sided_df2(t: float) -> float:
    """Two-sided p of Student's t with 2 degrees of freedom (closed form: 1 - t / sqrt(t^2 + 2))."""
    return 1 - abs(t) / math.sqrt(t * t + 2)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _error_line(capsys, prefix: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"{prefix}: error: ") and err.count("\n") == 1, err
    return err


def test_merge_pools_every_number_as_computed_by_hand(tmp_path, capsys):
    folders = [
        _numerosity_folder(tmp_path, "s2", [2]),
        _numerosity_folder(tmp_path, "s0", [0]),
        _numerosity_folder(tmp_path, "s1", [1]),
    ]
    out = tmp_path / "merged"
    assert main(["merge", *map(str, folders), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    assert data["seeds"] == [0, 1, 2]
    assert [(r["seed"], r["nda"]) for r in data["runs"]] == [(s, n) for s in (0, 1, 2) for n in (False, True)]
    share = data["statistics"]["fraction_target"]
    # plain 0.2 / 0.4 / 0.1, NDA 0.5 / 0.3 / 0.6 (seeds 0 / 1 / 2): differences +0.3, -0.1, +0.5
    assert share["plain"]["values"] == pytest.approx([0.2, 0.4, 0.1])
    assert share["NDA"]["values"] == pytest.approx([0.5, 0.3, 0.6])
    assert share["plain"]["mean"] == pytest.approx(0.7 / 3) and share["NDA"]["mean"] == pytest.approx(1.4 / 3)
    # sample std (n - 1): sqrt((1/30^2 + 5/30^2 ... )) = sqrt(0.0466667 / 2) = 0.152753, both runs
    assert share["plain"]["std"] == pytest.approx(0.152753, abs=1e-6)
    assert share["NDA"]["std"] == pytest.approx(0.152753, abs=1e-6)
    assert share["difference"]["values"] == pytest.approx([0.3, -0.1, 0.5])
    assert data["difference_fraction_target"] == pytest.approx([0.3, -0.1, 0.5])
    assert share["difference"]["mean"] == pytest.approx(0.7 / 3)
    assert share["difference"]["std"] == pytest.approx(0.305505, abs=1e-6)  # sqrt(0.186667 / 2)
    assert (share["difference"]["nda_higher"], share["difference"]["seeds"]) == (2, 3)
    t = (0.7 / 3) / (0.305505 / math.sqrt(3))  # 1.32288
    assert share["paired_t_test"]["statistic"] == pytest.approx(t, rel=1e-5)
    assert share["paired_t_test"]["df"] == 2
    assert share["paired_t_test"]["pvalue"] == pytest.approx(_p_two_sided_df2(t), rel=1e-5)  # 0.31687
    # Wilcoxon: |d| ranks 2, 1, 3; the negative one has rank 1 -> W = 1; exact p = 2 * 2/8
    assert share["wilcoxon"]["statistic"] == 1 and share["wilcoxon"]["pvalue"] == pytest.approx(0.5)
    assert share["effect"] == "suggestive"  # NDA higher on average, p = 0.317
    heldout = data["statistics"]["auroc_heldout"]
    assert heldout["plain"]["mean"] == pytest.approx(0.5) and heldout["NDA"]["mean"] == pytest.approx(2.98 / 3)
    assert heldout["plain"]["std"] == pytest.approx(0.02) and heldout["NDA"]["std"] == pytest.approx(0.011547, abs=1e-6)
    assert heldout["difference"]["values"] == pytest.approx([0.5, 0.46, 0.52])
    assert heldout["difference"]["std"] == pytest.approx(0.0305505, abs=1e-7)
    assert heldout["difference"]["nda_higher"] == 3
    t = (1.48 / 3) / (0.0305505 / math.sqrt(3))  # 27.969
    assert heldout["paired_t_test"]["pvalue"] == pytest.approx(_p_two_sided_df2(t), rel=1e-4)  # 0.001276
    assert heldout["wilcoxon"]["statistic"] == 0 and heldout["wilcoxon"]["pvalue"] == pytest.approx(0.25)
    assert heldout["effect"] == "seen"
    negatives = data["statistics"]["auroc_negatives"]  # differences +0.3, +0.5, +0.1: mean 0.3, std 0.2
    assert negatives["difference"]["mean"] == pytest.approx(0.3) and negatives["difference"]["std"] == pytest.approx(
        0.2
    )
    assert negatives["paired_t_test"]["pvalue"] == pytest.approx(_p_two_sided_df2(0.3 / (0.2 / math.sqrt(3))), rel=1e-5)
    # the evidence lines state what was measured and say plainly which effect is absent
    count_line = next(line for line in printed.splitlines() if "evidence, count effect" in line)
    assert "share of generated samples with exactly 6 dots" in count_line and "NDA higher in 2/3 seeds" in count_line
    assert count_line.endswith("SUGGESTIVE: NDA higher on average, but not at p < 0.05 in these runs")
    d_line = next(line for line in printed.splitlines() if "evidence, discriminator effect" in line)
    assert "vs never-seen counts [3, 9]" in d_line and d_line.endswith("-> SEEN")
    assert "evidence rule: a comparison over seeds uses the per-seed differences NDA - plain" in printed
    # the merge records where its numbers came from, relative to its own folder
    assert [s["folder"] for s in data["sources"]] == ["../s2", "../s0", "../s1"]
    assert [s["seeds"] for s in data["sources"]] == [[2], [0], [1]]
    # outside the repository, the command runs from the folder holding them all (no machine path above it)
    assert data["command"] == "python -m nda_demo merge s2 s0 s1 --out merged"
    assert sorted(data["files"]) == sorted(p.name for p in out.iterdir())


def test_merge_of_jigsaw_folders_tests_the_paired_differences(tmp_path, capsys):
    folders = [_jigsaw_folder(tmp_path, "c0", 0, 0.5, 0.99), _jigsaw_folder(tmp_path, "c1", 1, 0.6, 0.97)]
    assert main(["merge", *map(str, folders), "--out", str(tmp_path / "cifar")]) == 0
    printed = capsys.readouterr().out
    share = json.loads((tmp_path / "cifar" / "cifar_results.json").read_text())["statistics"][
        "separation.fraction_positive"
    ]
    assert share["difference"]["values"] == pytest.approx([0.49, 0.37])
    t = 0.43 / (math.sqrt(0.0072) / math.sqrt(2))  # 7.1667; one degree of freedom: p = 1 - 2 atan(t) / pi
    assert share["paired_t_test"]["pvalue"] == pytest.approx(1 - 2 * math.atan(t) / math.pi, rel=1e-5)
    assert share["effect"] == "suggestive"  # higher in 2/2 seeds, but p = 0.088
    assert "evidence, Fig. 4: share of 20 held-out images with D(x) > D(jigsaw(x))" in printed


def test_merge_refuses_duplicates_and_mixtures_before_writing(tmp_path, capsys):
    s0 = _numerosity_folder(tmp_path, "s0", [0])
    again = _numerosity_folder(tmp_path, "again", [0])  # the same seed, another folder
    s1_longer = _numerosity_folder(tmp_path, "s1_longer", [1], {**NUMEROSITY_CONFIG, "steps": 3})
    s1_other = _numerosity_folder(tmp_path, "s1_other", [1], {**NUMEROSITY_CONFIG, "negatives": [4, 5, 7]})
    cifar = _jigsaw_folder(tmp_path, "cifar", 1, 0.5, 0.9)
    out = tmp_path / "merged"
    cases = {
        (str(s0), str(s0)): "is given twice",
        (str(s0), str(tmp_path / "." / "s0")): "is given twice",
        (str(s0), str(again)): f"seed 0 is in both {s0} and {again}",
        (str(s0), str(cifar)): "different experiments",
        (str(s0), str(s1_longer)): "steps 3 vs 2",
        (str(s0), str(s1_other)): "negatives [4, 5, 7] vs [4, 5, 7, 8]",
    }
    for folders, message in cases.items():
        assert main(["merge", *folders, "--out", str(out)]) == 2, folders
        err = _error_line(capsys, "nda demo merge")
        assert message in err, err
        assert "does not exist" not in err
    assert not out.exists()  # nothing written by a refused merge
    assert main(["merge", str(s0), str(tmp_path / "s1_longer"), "--out", str(s0)]) == 2
    assert "is one of the merged folders" in _error_line(capsys, "nda demo merge")


def test_merge_refuses_folders_whose_runs_did_nothing_or_lack_a_pair(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "results.json").write_text(json.dumps({"config": NUMEROSITY_CONFIG, "seeds": [], "runs": []}))
    assert main(["merge", str(empty), "--out", str(tmp_path / "m1")]) == 2
    assert "holds no runs" in _error_line(capsys, "nda demo merge")
    half = _numerosity_folder(tmp_path, "half", [0])
    data = json.loads((half / "results.json").read_text())
    data["runs"] = [r for r in data["runs"] if not r["nda"]]
    (half / "results.json").write_text(json.dumps(data))
    assert main(["merge", str(half), "--out", str(tmp_path / "m2")]) == 2
    assert "1 plain and 0 NDA runs of seed 0" in _error_line(capsys, "nda demo merge")
    assert not (tmp_path / "m1").exists() and not (tmp_path / "m2").exists()


def test_a_run_writes_a_publishable_results_file_and_is_never_replaced_silently(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the working folder is not the repository root: the command must not care
    out = tmp_path / "run"
    argv = [
        "--steps",
        "2",
        "--seeds",
        "0",
        "--samples",
        "16",
        "--batch-size",
        "8",
        "--heldout",
        "3",
        "9",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    threads = torch.get_num_threads()
    try:
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "-> UNTESTED: 1 seed; the rule needs at least 2" in printed
    text = (out / "results.json").read_text()
    data = json.loads(text)
    assert str(tmp_path) not in text and not any(s.startswith("/") for s in _strings(data))
    words = shlex.split(data["command"])
    assert words[:3] == ["python", "-m", "nda_demo"]
    again = parse_args(words[3:])
    assert again.out == Path("run")  # out lies outside the repository: the command runs from its parent
    from nda_demo.cli import numerosity_command
    from nda_demo.outputs import repository_root

    inside = numerosity_command(NumerosityConfig(), [0, 1], 1, repository_root() / "out" / "s0")
    assert inside.endswith("--samples 2000 --threads 1 --out out/s0")  # inside: from the repository root
    config = data["config"]
    assert (again.steps, again.seeds, again.samples, again.batch_size, again.threads, again.lam) == (
        config["steps"],
        [0],
        config["eval_samples"],
        config["batch_size"],
        1,
        config["lam"],
    )
    assert (again.target, again.negatives, again.heldout) == (config["target"], config["negatives"], config["heldout"])
    assert data["software"]["scipy"] == scipy.__version__
    runs = {r["nda"]: r for r in data["runs"]}
    for name in ("fraction_target", "auroc_negatives", "auroc_heldout"):
        measure = data["statistics"][name]
        assert measure["plain"]["values"] == [runs[False][name]] and measure["NDA"]["values"] == [runs[True][name]]
        assert {"statistic", "pvalue"} <= set(measure["paired_t_test"]) and "pvalue" in measure["wilcoxon"]
    assert sorted(data["files"]) == sorted(p.name for p in out.iterdir())
    # the same --out again: refused before training, with the fix named, nothing touched
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(argv) == 2
    err = _error_line(capsys, "nda demo")
    assert "already holds a finished numerosity run" in err and "new --out" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_replaces_only_what_the_demo_wrote(tmp_path, capsys):
    config = replace(NumerosityConfig(**TINY), heldout=(3, 9))
    out = tmp_path / "run"
    numerosity_comparison(config, [0], out, progress=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="already holds a finished numerosity run"):
        numerosity_comparison(config, [1], out, progress=False)
    numerosity_comparison(config, [1], out, progress=False, overwrite=True)
    names = {p.name for p in out.iterdir()}
    assert "notes.txt" in names and (out / "notes.txt").read_text() == "mine"
    assert "samples_plain_seed1.png" in names and "samples_plain_seed0.png" not in names  # no stale seed-0 grids
    assert json.loads((out / "results.json").read_text())["seeds"] == [1]
    # a file of the demo's names that no finished run lists is never replaced, --overwrite or not
    other = tmp_path / "other"
    other.mkdir()
    (other / "counts.png").write_bytes(b"someone's plot")
    with pytest.raises(ValueError, match="already holds counts.png, which no finished nda demo numerosity run"):
        numerosity_comparison(config, [0], other, progress=False, overwrite=True)
    assert (other / "counts.png").read_bytes() == b"someone's plot" and len(list(other.iterdir())) == 1
    # a results file that lists no files (today's main) or files outside its folder cannot be overwritten
    legacy = _numerosity_folder(tmp_path, "legacy", [0])
    with pytest.raises(ValueError, match="did not list its files"):
        numerosity_comparison(config, [0], legacy, progress=False, overwrite=True)
    data = json.loads((out / "results.json").read_text())
    (out / "results.json").write_text(json.dumps({**data, "files": [*data["files"], "../notes.txt"]}))
    with pytest.raises(ValueError, match="lists files nda demo does not write"):
        numerosity_comparison(config, [0], out, progress=False, overwrite=True)
    assert (out / "notes.txt").exists() and (out / "samples_plain_seed1.png").exists()


def test_runs_that_would_do_nothing_or_count_twice_are_errors(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "--steps",
                "1",
                "--samples",
                "2",
                "--seeds",
                "0",
                "0",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "repeat [0]" in _error_line(capsys, "nda demo")
    assert main(["jigsaw", "--steps", "1", "--seeds", "3", "3", "--fid-samples", "0", "--out", str(out)]) == 2
    assert "repeat [3]" in _error_line(capsys, "nda demo jigsaw")
    # lam 1 gives the NDA images no weight: the "NDA" run would be the plain run again
    assert (
        main(
            [
                "--steps",
                "1",
                "--samples",
                "2",
                "--seeds",
                "0",
                "--lam",
                "1",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "lam must lie in (0, 1)" in _error_line(capsys, "nda demo")
    assert main(["--steps", "0", "--out", str(out)]) == 2
    assert "steps must be >= 1, got 0." in _error_line(capsys, "nda demo")
    assert not out.exists()
    # no held-out counts: the run reports what it has instead of failing after training
    summary = numerosity_comparison(replace(NumerosityConfig(**TINY), heldout=()), [0], out, progress=False)
    assert "auroc_heldout" not in summary["statistics"] and not (out / "auroc_heldout.png").exists()
    assert "vs held-out" not in capsys.readouterr().out
