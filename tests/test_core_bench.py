"""``nda bench``: a tiny run through the ``nda`` host prints a row per NDA whose ratios are the
quotients of the times it saved; each per-sample loop it times makes the same NDA as ours."""

from __future__ import annotations

import json
import math
import random
import re

import numpy as np
import pytest
import torch

import nda_core
from nda_core import benchmark
from nda_core.cli import main
from nda_core.transforms import NOISE_STD

TINY = ["--shapes", "4x3x8x8", "--rounds", "1", "--min-run-time", "0.001", "--threads", "1"]


def _rows(out: str) -> list[list[str]]:
    lines = [line for line in out.splitlines() if line.startswith("| 4x3x8x8 |")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _ratio(cell: str) -> float:
    return float(re.match(r"\s*([-+0-9.einfa]+)", cell).group(1))


def test_a_tiny_run_prints_and_saves_the_ratios_of_its_own_times(capsys, tmp_path):
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
    saved = json.loads(report.read_text())["rows"]
    assert [r["nda"] for r in saved] == list(benchmark.NAMES)
    for row, r in zip(rows, saved):
        times = [r["ours_ms"], r["clone_ms"], r["compiled_ms"], r["loop_ms"]]
        assert all(math.isfinite(t) and t > 0 for t in times), r
        # each ratio is the quotient of the saved times, and the table prints the saved numbers
        assert r["vs_clone"] == pytest.approx(r["ours_ms"] / r["clone_ms"], rel=1e-9), r
        assert r["compiled_vs_clone"] == pytest.approx(r["compiled_ms"] / r["clone_ms"], rel=1e-9), r
        assert r["speedup_vs_loop"] == pytest.approx(r["loop_ms"] / r["ours_ms"], rel=1e-9), r
        assert r["target_vs_clone"] == benchmark.target_vs_clone((4, 3, 8, 8), r["nda"])
        assert float(row[2]) == pytest.approx(r["ours_ms"], abs=6e-4) and float(row[3]) == pytest.approx(
            r["clone_ms"], abs=6e-4
        )
        assert _ratio(row[4]) == pytest.approx(r["vs_clone"], abs=6e-3) and _ratio(row[5]) == pytest.approx(
            r["compiled_vs_clone"], abs=6e-3
        )
        assert _ratio(row[6].rstrip("x")) == pytest.approx(r["speedup_vs_loop"], abs=0.06)
        assert ("ok" in row[4]) == (r["vs_clone"] <= r["target_vs_clone"])


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
    for option in (
        "--device",
        "--shapes",
        "--nda",
        "--threads",
        "--rounds",
        "--min-run-time",
        "--compile",
        "--clock",
        "--json",
    ):
        assert option in text
    assert "(default: cpu)" in text and "(default: inductor)" in text and "256x3x32x32" in text


@pytest.mark.parametrize(
    "bad", [["--shapes", "3x32x32"], ["--shapes", "1x3x8x8"], ["--rounds", "0"], ["--clock", "cpu", "--device", "meta"]]
)
def test_bad_options_are_refused(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *bad])
    assert exit_info.value.code == 2
    assert "nda bench: error" in capsys.readouterr().err


# ---------------------------------------------- the per-sample loops make the NDA that ours makes
HALF = 4  # 8 x 8 images: jigsaw k=2 moves 4 x 4 quadrants, stitch joins 4-pixel halves


def _quadrants(image: torch.Tensor) -> list[torch.Tensor]:
    return [image[..., r : r + HALF, c : c + HALF] for r in (0, HALF) for c in (0, HALF)]


def _changed_box(before: torch.Tensor, after: torch.Tensor) -> tuple[slice, slice]:
    """The bounding box of the pixels that changed; everything outside it must be unchanged."""
    rows, cols = (before != after).any(0).nonzero(as_tuple=True)
    box = slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1)
    outside = torch.ones(before.shape[-2:], dtype=torch.bool)
    outside[box] = False
    assert torch.equal(before[:, outside], after[:, outside])
    height, width = before.shape[-2:]
    assert (
        height // 3 <= box[0].stop - box[0].start <= height // 2
        and width // 3 <= box[1].stop - box[1].start <= width // 2
    )
    return box


def _others(x: torch.Tensor, i: int) -> list[torch.Tensor]:
    return [x[j] for j in range(len(x)) if j != i]


def _is_jigsaw(image, out):
    before, after = _quadrants(image), _quadrants(out)
    order = [next(k for k, q in enumerate(before) if torch.equal(q, p)) for p in after]
    return sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]


def _is_stitch(image, out, others):
    halves = [
        (..., slice(None), slice(HALF, None)),
        (..., slice(None), slice(0, HALF)),
        (..., slice(HALF, None), slice(None)),
        (..., slice(0, HALF), slice(None)),
    ]
    for half in halves:
        own = torch.ones_like(image, dtype=torch.bool)
        own[half] = False
        if torch.equal(out[own], image[own]) and any(torch.equal(out[half], other[half]) for other in others):
            return True
    return False


def _is_cutout(image, out, others):
    box = _changed_box(image, out)
    fill = image[:, box[0], box[1]].mean(dim=(-2, -1), keepdim=True)
    return torch.allclose(out[:, box[0], box[1]], fill.expand_as(out[:, box[0], box[1]]), atol=1e-6)


def _is_cutmix(image, out, others):
    box = _changed_box(image, out)
    return any(torch.equal(out[:, box[0], box[1]], other[:, box[0], box[1]]) for other in others)


def _is_mixup(image, out, others):
    for other in others:  # out = g * image + (1 - g) * other for one other image and g in (0, 1)
        g = float(((out - other) * (image - other)).sum() / ((image - other) ** 2).sum())
        if 0 < g < 1 and torch.allclose(out, g * image + (1 - g) * other, atol=1e-5):
            return True
    return False


CHECKS = {
    "jigsaw": lambda image, out, others: _is_jigsaw(image, out),
    "stitch": _is_stitch,
    "cutout": _is_cutout,
    "cutmix": _is_cutmix,
    "mixup": _is_mixup,
    "vflip": lambda image, out, others: torch.equal(out, image.flip(-2)),
}


@pytest.mark.parametrize("name", benchmark.NAMES)
def test_each_per_sample_loop_makes_the_same_nda_as_ours(name):
    assert set(benchmark.LOOPS) == set(benchmark.NAMES)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    x = torch.rand(6, 3, 2 * HALF, 2 * HALF)
    outputs = {"loop": benchmark.LOOPS[name](x), "ours": nda_core.build(name)(x)}
    for label, out in outputs.items():
        assert out.shape == x.shape and out.dtype == x.dtype, label
        if name == "noise":  # N(0, NOISE_STD) added to every pixel (ours: one field per image, as the loop)
            residual = out - x
            assert residual.std().item() == pytest.approx(NOISE_STD, rel=0.15) and abs(residual.mean().item()) < 0.05, (
                label
            )
            continue
        for i in range(len(x)):
            assert CHECKS[name](x[i], out[i], _others(x, i)), (label, i)


def _step_json(path, adapter: str, plain_ms: float) -> str:
    record = {"schema": "nda-step/1", "adapter": adapter, "statistics": {"plain_ms_median": plain_ms}}
    path.write_text(json.dumps(record))
    return str(path)


def test_32x32_batches_are_set_beside_every_adapters_step(capsys, tmp_path):
    steps = [_step_json(tmp_path / "a.json", "fast", 2.0), _step_json(tmp_path / "b.json", "slow", 50.0)]
    report = tmp_path / "bench.json"
    argv = [
        "bench",
        "--shapes",
        "4x3x32x32",
        "4x3x8x8",
        "--rounds",
        "1",
        "--min-run-time",
        "0.001",
        "--threads",
        "1",
        "--compile",
        "none",
        "--no-libraries",
        "--nda",
        "jigsaw",
        "cutout",
        "--steps",
        *steps,
        "--json",
        str(report),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = json.loads(report.read_text())["rows"]
    small = [r for r in rows if r["shape"] == "4x3x32x32"]
    assert all("step_share" not in r for r in rows if r["shape"] == "4x3x8x8")  # no step trains on 8x8 images
    for r in small:
        assert r["step_share"] == pytest.approx({"fast": r["ours_ms"] / 2.0, "slow": r["ours_ms"] / 50.0}, rel=1e-9)
        assert r["step_share_max"] == r["step_share"]["fast"]
    worst = max(small, key=lambda r: r["step_share_max"])
    line = next(line for line in out.splitlines() if line.startswith("step share at 4x3x32x32"))
    assert f"({worst['nda']}, " in line and "fast step (2.0 ms" in line
    assert line.endswith("met" if worst["step_share_max"] < benchmark.STEP_SHARE_TARGET else "missed")
    assert "step share at 4x3x8x8" not in out


def test_a_file_that_is_not_a_step_json_is_refused(capsys, tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "nda-bench/1"}))
    for bad in (str(other), str(tmp_path / "missing.json")):
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", *TINY, "--steps", bad])
        assert exit_info.value.code == 2
        assert "nda bench: error: --steps" in capsys.readouterr().err
