"""The thin ``nda`` console command."""

from __future__ import annotations

import pytest

from nda_core.cli import main


def test_list_names_every_nda(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("jigsaw", "stitch", "cutout", "cutmix", "mixup", "mixture", "noisy", "other_classes"):
        assert f"\n{name} " in f"\n{out}"


def test_show_writes_a_grid_of_real_images(tmp_path, cifar_root, capsys):
    out = tmp_path / "grid.png"
    assert main(["show", "jigsaw", "stitch", "--data", str(cifar_root), "--out", str(out), "--images", "4"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "2 NDAs x 4 images" in capsys.readouterr().out


def test_show_unknown_name_fails_with_the_known_names(capsys):
    assert main(["show", "jigsaw3", "--out", "unused.png"]) == 2
    assert "known NDAs" in capsys.readouterr().err


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit):
        main(["frobnicate"])


def _show_parser():
    from nda_core.cli import build_parser

    parser = build_parser({})
    return next(action for action in parser._actions if hasattr(action, "choices") and action.choices)


def test_show_and_data_help_describe_them_and_say_what_data_means(capsys):
    commands = _show_parser().choices
    assert "save the grid" in commands["show"].description  # `nda show --help` had no description
    with pytest.raises(SystemExit):
        main(["show", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--data DATA dataset root holding test/<class>/<image>" in text and "JSON spec" in text
    with pytest.raises(SystemExit):
        main(["data", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "dataset root holding the split folders train/<class>/<image> and test/<class>/<image>" in text
    assert "--from" in text and "dataset root holding train/ and test/" in text


def test_show_refuses_more_images_than_one_per_class(tmp_path, cifar_root, capsys):
    out = tmp_path / "grid.png"
    assert main(["show", "jigsaw", "--data", str(cifar_root), "--out", str(out), "--images", "12"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("nda show: error: --images must be <= 10, got 12.") and "\n" not in error
    assert not out.exists()  # it used to draw 10 images silently
    assert main(["show", "jigsaw", "--data", str(cifar_root), "--out", str(out), "--images", "0"]) == 2
    assert "--images must be >= 1, got 0." in capsys.readouterr().err


def test_show_takes_json_specs_as_every_nda_option_does(tmp_path, cifar_root, capsys):
    out = tmp_path / "grid.png"
    argv = [
        "show",
        '{"type": "jigsaw", "k": 4}',
        "cutout",
        "--data",
        str(cifar_root),
        "--out",
        str(out),
        "--images",
        "2",
    ]
    assert main(argv) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and "2 NDAs x 2 images" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # argparse's own error
        main(["show", '{"type": "jigsaw"', "--out", str(out)])
    assert exit_info.value.code == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert main(["show", "none", "--out", str(out)]) == 2
    assert "'none' shows no NDA" in capsys.readouterr().err


def test_show_data_is_a_dataset_root_holding_test(tmp_path, cifar_root, capsys):
    root = tmp_path / "only-test"
    root.mkdir()
    (root / "test").symlink_to(cifar_root / "test", target_is_directory=True)
    assert main(["show", "vflip", "--data", str(root), "--out", str(tmp_path / "g.png"), "--images", "2"]) == 0
    assert f"from {root / 'test'}" in capsys.readouterr().out


def test_data_from_a_missing_path_names_the_option(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NDA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NDA_CIFAR10_ROOT", raising=False)
    assert main(["data", "cifar10", "--from", str(tmp_path / "nowhere")]) == 2
    captured = capsys.readouterr()
    assert "ready" not in captured.out
    assert captured.err.startswith(f"nda data: error: --from '{tmp_path / 'nowhere'}' does not exist; expected ")
    assert "a dataset root holding train/ and test/" in captured.err
    assert not (tmp_path / "cache").exists()  # refused before anything was written


def test_a_plugin_command_leaves_sys_argv_as_it_found_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`nda <plugin>` names itself in sys.argv[0] while it runs; an in-process caller gets its argv back."""
    import sys

    from nda_core import cli

    seen: list[list[str]] = []

    class Entry:
        value = "tests:fake"

        def load(self):
            return lambda argv: seen.append(list(sys.argv)) or 0

    monkeypatch.setattr(sys, "argv", ["caller", "--x"])
    assert cli._run_plugin("fake", Entry(), ["a", "b"]) == 0
    assert seen == [["nda fake", "a", "b"]] and sys.argv == ["caller", "--x"]
