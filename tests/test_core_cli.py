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
