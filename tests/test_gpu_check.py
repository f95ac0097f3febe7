"""``benchmarks/gpu_check.sh --smoke``: the one GPU check runs every part on the CPU, so it cannot rot unseen.

The GPU check is run once, on a lent GPU, with no time to debug it there. Its smoke mode runs the
same parts with the same flags on the CPU, each shrunk to seconds; this test runs it and reads what
it wrote: the summary, each part's JSON, the pytest part's report of its (skipped) GPU tests, and
that nothing was written into docs/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
PARTS = ("data", "pytest_gpu", "bench", "step_moco", "step_lightly", "step_studiogan", "step_dpc", "demo")
STEP_ADAPTERS = {"step_moco": "moco", "step_lightly": "lightly", "step_studiogan": "studiogan", "step_dpc": "dpc"}
SMOKE_SEEDS = 2
SMOKE_TIMEOUT_S = 1200  # the script's own limits (7 x 120 s in a row) end every part before this


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S
    )


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict, dict]:
    out = tmp_path_factory.mktemp("gpu_check") / "out"
    docs_before = _files(ROOT / "docs")
    result = _run("--smoke", str(out))
    return out, result, docs_before, _files(ROOT / "docs")


def _json(path: Path) -> dict:
    assert path.is_file(), f"{path} was not written"
    return json.loads(path.read_text())


def test_smoke_runs_every_part_and_passes(smoke):
    out, result, _, _ = smoke
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    summary = _json(out / "summary.json")
    assert summary["schema"] == "nda-gpu-check/1" and summary["mode"] == "smoke" and summary["device"] == "cpu"
    assert list(summary["parts"]) == list(PARTS)
    for name, part in summary["parts"].items():
        assert part["status"] == 0 and part["passed"] and not part["timed_out"], (
            name,
            (out / part["log"]).read_text()[-3000:],
        )
        assert 0 < part["seconds"] <= part["limit_s"] + 1, (name, part)
    assert summary["passed"]


def test_smoke_pytest_part_collected_the_gpu_tests_and_reported_their_skips(smoke):
    out, _, _, _ = smoke
    report = _json(out / "pytest_gpu" / "pytest.json")
    assert "tests/test_gpu_sync.py" in report["files"]
    assert report["tests"] > 0 and report["failed"] == report["errors"] == 0
    assert report["skipped"] == report["tests"] and report["passed"] == 0  # no CUDA on a smoke machine
    assert report["skip_reasons"] and all("gpu_check.sh" in reason for reason in report["skip_reasons"])


def test_smoke_bench_and_step_parts_wrote_their_json(smoke):
    out, _, _, _ = smoke
    assert Path(_json(out / "data" / "data.json")["cifar10_root"], "train").is_dir()
    bench = _json(out / "bench" / "transforms_cpu.json")
    assert bench["schema"] == "nda-bench/1" and bench["settings"]["device"] == "cpu" and bench["rows"]
    for row in bench["rows"]:
        assert row["compiled_ms"] is not None and row["vs_clone"] > 0  # eager and compiled both timed
        assert "kornia" in row["libraries"]  # the libraries are timed beside ours
    for part, adapter in STEP_ADAPTERS.items():
        record = _json(out / part / f"{part}_cpu.json")
        assert record["schema"] == "nda-step/1" and record["adapter"] == adapter
        assert record["settings"]["autocast"] == "bf16" and record["machine"]["device"] == "cpu"
        assert (
            record["statistics"]["verdict"] in ("met", "missed") and record["statistics"]["nda_over_floor_median"] > 0
        )


def test_smoke_demo_merged_plain_and_nda_runs_of_every_seed(smoke):
    out, _, _, _ = smoke
    merged = _json(out / "demo" / "merged" / "results.json")
    runs = {(run["seed"], bool(run["nda"])) for run in merged["runs"]}
    assert runs == {(seed, nda) for seed in range(SMOKE_SEEDS) for nda in (False, True)}


def test_smoke_writes_nothing_into_docs(smoke):
    _, _, docs_before, docs_after = smoke
    assert docs_after == docs_before


def test_parts_reruns_only_the_named_parts(tmp_path):
    result = _run("--smoke", "--parts", "step_dpc", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _json(tmp_path / "out" / "summary.json")
    assert list(summary["parts"]) == ["step_dpc"] and summary["passed"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["step_dpc", "summary.json"]


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give the folder to write into"),
        (("--parts", "nonsense", "OUT"), "unknown part 'nonsense'"),
        (("--fast", "OUT"), "unknown option --fast"),
    ],
)
def test_usage_errors_exit_2(args, message, tmp_path):
    result = _run(*(str(tmp_path / a) if a == "OUT" else a for a in args))
    assert result.returncode == 2 and "gpu_check.sh: error: " + message in result.stderr


def test_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "keep.txt").write_text("not the script's")
    result = _run("--smoke", str(tmp_path))
    assert result.returncode == 2 and "not empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"] and (
        tmp_path / "keep.txt"
    ).read_text() == "not the script's"


def test_under_autocast_runs_every_call_in_bfloat16_and_off_leaves_them_alone():
    import torch

    from nda_core.benchmark import under_autocast

    a = torch.rand(4, 4)
    calls = {"plain": lambda: (a @ a).dtype, "nda": lambda: torch.is_autocast_enabled("cpu")}
    wrapped = under_autocast(calls, "cpu", "bf16")
    assert wrapped["plain"]() == torch.bfloat16 and wrapped["nda"]() is True
    assert under_autocast(calls, "cpu", "off") is calls and calls["plain"]() == torch.float32
    with pytest.raises(ValueError, match="autocast='fp8'"):
        under_autocast(calls, "cpu", "fp8")


def test_bench_compile_mode_needs_inductor(capsys):
    from nda_core.benchmark import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--compile", "eager", "--compile-mode", "reduce-overhead"])
    assert (
        exit_info.value.code == 2
        and "--compile-mode reduce-overhead is a mode of the inductor backend" in capsys.readouterr().err
    )
