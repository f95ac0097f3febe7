"""The `nda demo` command line: options before a command, help texts, printed summaries, light import."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import nda_demo.cli as cli
from nda_demo.cli import build_parser, describe_jigsaw_run, main, parse_args

COMMANDS = ("numerosity", "jigsaw", "merge")


@pytest.mark.parametrize("command, default", [("jigsaw", 1000), ("numerosity", 3000)])
def test_options_before_a_command_apply_to_it(command, default):
    assert parse_args([command]).steps == default
    assert parse_args(["--steps", "20", command]).steps == 20
    assert parse_args(["--steps", "20", command, "--steps", "30"]).steps == 30  # the later one wins
    args = parse_args(["--lam", "0.5", "--no-progress", "--out", "elsewhere", command])
    assert (args.lam, args.no_progress, args.out) == (0.5, True, Path("elsewhere"))
    assert parse_args(["--threads", "1", "merge", "a", "--out", "b"]).threads == 1
    assert parse_args(["--steps", "20"]).steps == 20 and parse_args([]).steps == cli.DEMO_STEPS


def test_options_a_command_does_not_have_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--target", "5", "--samples", "10", "jigsaw"])
    assert exit_info.value.code == 2
    assert "--target, --samples do not apply to `nda demo jigsaw`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--steps", "20", "merge", "a", "--out", "b"])
    assert "--steps does not apply to `nda demo merge`" in capsys.readouterr().err
    # a list option swallows the words after it; a command among them gets a hint, not "invalid int"
    with pytest.raises(SystemExit):
        parse_args(["--seeds", "0", "1", "jigsaw"])
    assert "'jigsaw' is a command, not a number" in capsys.readouterr().err


def _parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return {"nda demo": parser, **{f"nda demo {name}": p for name, p in cli._subparsers(parser).items()}}


def test_every_command_has_a_description_and_every_option_its_default(capsys):
    parsers = _parsers()
    assert set(parsers) == {"nda demo"} | {f"nda demo {c}" for c in COMMANDS}
    for name, parser in parsers.items():
        assert parser.description and len(parser.description) > 60, name
        for action in parser._actions:
            if (
                action.dest == "help"
                or action.help == argparse.SUPPRESS
                or action.required
                or not action.option_strings
            ):
                continue
            assert "%(default)s" in action.help, f"{name} {action.option_strings[0]} shows no default"
    with pytest.raises(SystemExit):
        main(["jigsaw", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "jigsaw (K=2) images of each real batch as NDA negatives" in text
    for shown in (
        "--steps STEPS generator updates per run (default: 1000)",
        "(default: 250)",
        "(default: 50)",
        "(default: 0.25, the paper's value)",
        "(default: None)",
    ):
        assert shown in text


def test_summaries_print_no_spread_for_one_seed():
    assert cli._spread([0.25]) == "0.250 (1 seed)"
    assert cli._spread([0.2, 0.4]) == "0.300 +- 0.141 (2 seeds, min 0.200, max 0.400)"


def test_a_jigsaw_run_is_one_readable_line():
    summary = {
        "nda": True,
        "seed": 0,
        "separation": {"mean": 0.4213, "std": 1.0, "median": 0.3, "fraction_positive": 0.914, "auroc": 0.71},
        "anomaly_auroc": {"jigsaw": 0.71, "stitch": 0.6042},
        "fidkid": {"fid": 123.45, "kid_mean": 0.01234, "kid_std": 0.00111, "n_real": 500, "n_fake": 250},
        "seconds": 61.7,
    }
    line = describe_jigsaw_run(summary, held_out=500)
    assert line == (
        "D(x) > D(jigsaw(x)) for 91% of 500 held-out images (mean gap +0.421); anomaly AUROC "
        "jigsaw 0.710, stitch 0.604; KID 0.0123 +- 0.0011, FID 123.5 (N=250 vs 500) (62 s)"
    )
    assert describe_jigsaw_run({**summary, "fidkid": None}, 500).endswith("stitch 0.604 (62 s)")


def test_importing_the_command_loads_no_training_stack():
    code = (
        "import sys, nda_demo.cli as c; print(c.main.__doc__.splitlines()[0]); "
        "print(sorted(m for m in ('pytorch_lightning', 'matplotlib', 'scipy', 'torchmetrics') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[1] == "[]"
    assert "plain and with NDA" in out[0]  # the line `nda --help` shows next to `demo`


@pytest.mark.parametrize(
    "module, name",
    [("pytorch_lightning", "PyTorch Lightning"), ("scipy.ndimage", "scipy"), ("matplotlib", "matplotlib")],
)
def test_a_missing_extra_names_the_install_command(monkeypatch, capsys, module, name):
    monkeypatch.setitem(sys.modules, module, None)  # import of it fails as if it were not installed
    assert main(["--steps", "1", "--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nda demo: error: nda demo needs ") and name in err
    assert err.endswith(": pip install 'nda-plugins[eval]'")


def test_device_cuda_without_cuda_is_a_one_line_usage_error(monkeypatch, capsys, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a machine that has a GPU
    out = tmp_path / "out"
    assert main(["--device", "cuda", "--steps", "1", "--seeds", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nda demo: error: --device 'cuda': torch sees no CUDA device here")
    assert "--device cpu" in err and not out.exists()
    with pytest.raises(SystemExit):
        parse_args(["--device", "tpu"])
    assert "argument --device: invalid choice: 'tpu'" in capsys.readouterr().err


def test_device_auto_is_resolved_and_recorded_in_the_command(monkeypatch):
    import torch

    from nda_demo.config import NumerosityConfig, resolve_device

    assert parse_args([]).device == "cpu" and parse_args(["jigsaw", "--device", "auto"]).device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda") == "cuda"
    with pytest.raises(cli.UsageError, match=r"device must be one of \['cpu', 'cuda', 'auto'\], got 'gpu'"):
        resolve_device("gpu")
    plain = cli.numerosity_command(NumerosityConfig(), [0], 1, "out")
    on_gpu = cli.numerosity_command(NumerosityConfig(device="cuda"), [0], 1, "out")
    assert "--device" not in plain and on_gpu == plain.replace("--threads 1", "--device cuda --threads 1")


def test_only_usage_errors_become_one_line_others_keep_their_traceback(monkeypatch, capsys, tmp_path):
    import nda_demo.numerosity

    def broken(*args, **kwargs):
        raise ValueError("a bug inside training")

    monkeypatch.setattr(nda_demo.numerosity, "run_numerosity", broken)
    with pytest.raises(ValueError, match="a bug inside training"):  # used to be printed as a usage error, exit 2
        main(["--steps", "1", "--seeds", "0", "--no-progress", "--out", str(tmp_path / "out")])
    from nda_core.errors import UsageError
    from nda_demo.config import NumerosityConfig, validate_numerosity

    with pytest.raises(UsageError, match="include the target count 6"):
        validate_numerosity(NumerosityConfig(negatives=(4, 6)))
