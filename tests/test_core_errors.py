"""Bad input raises ValueError/TypeError naming the argument, the value and the fix."""

from __future__ import annotations

import pytest
import torch

import nda_core
from nda_core import functional as F


@pytest.mark.parametrize("name", ["stitch", "cutmix", "mixup"])
def test_batch_of_one_for_two_image_transforms(name):
    with pytest.raises(ValueError, match=r"batch size 1.*at least 2.*larger batch"):
        nda_core.build(name)(torch.rand(1, 3, 8, 8))


def test_mixture_with_a_two_image_component_rejects_a_batch_of_one():
    t = nda_core.build({"type": "mixture", "transforms": ["jigsaw", "mixup"]})
    with pytest.raises(ValueError, match="batch size 1"):
        t(torch.rand(1, 3, 8, 8))
    assert nda_core.build({"type": "mixture", "transforms": ["jigsaw", "cutout"]})(torch.rand(1, 3, 8, 8)).shape[0] == 1


@pytest.mark.parametrize("size, axis", [((30, 32), "H=30"), ((32, 30), "W=30")])
def test_jigsaw_size_not_divisible_by_k(size, axis):
    with pytest.raises(ValueError, match=rf"{axis} and k=4.*multiple of 4"):
        nda_core.build({"type": "jigsaw", "k": 4})(torch.rand(2, 3, *size))


@pytest.mark.parametrize(
    "k, error",
    [(1, ValueError), (0, ValueError), (-2, ValueError), (2.0, TypeError), ("2", TypeError), (True, TypeError)],
)
def test_jigsaw_bad_k(k, error):
    with pytest.raises(error, match="k must"):
        nda_core.build({"type": "jigsaw", "k": k})


@pytest.mark.parametrize("shape", [(3, 8, 8), (8, 8), (1, 2, 3, 4, 5, 6)])
def test_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*\(B, C, T, H, W\)"):
        nda_core.build("cutout")(torch.rand(shape))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool])
def test_non_float_non_uint8_data(dtype):
    with pytest.raises(TypeError, match="floating-point or uint8"):
        nda_core.build("cutout")(torch.zeros(2, 3, 8, 8, dtype=dtype))


def test_not_a_tensor():
    with pytest.raises(TypeError, match="torch.Tensor"):
        nda_core.build("vflip")([[1.0]])


def test_bad_generator():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        nda_core.build("jigsaw")(torch.rand(2, 3, 8, 8), generator=0)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown NDA 'jigsaw3'.*'cutmix'.*'jigsaw'.*'stitch'"):
        nda_core.build("jigsaw3")
    with pytest.raises(ValueError, match="unknown NDA"):
        nda_core.build({"type": "mixture", "transforms": ["jigsaw", "nope"]})


def test_bad_spec_shapes():
    with pytest.raises(ValueError, match="'type' key"):
        nda_core.build({"k": 2})
    with pytest.raises(TypeError, match="name, a dict"):
        nda_core.build(3)
    with pytest.raises(TypeError, match=r"NDA 'jigsaw' got arguments \['kk'\]; it accepts \['k'\]"):
        nda_core.build({"type": "jigsaw", "kk": 2})


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"type": "mixture", "transforms": []}, "non-empty list"),
        ({"type": "mixture", "transforms": "jigsaw"}, "non-empty list"),
        ({"type": "mixture", "transforms": ["jigsaw", "stitch"], "weights": [1.0]}, "one weight per transform"),
        ({"type": "mixture", "transforms": ["jigsaw", "stitch"], "weights": [1.0, -1.0]}, "non-negative"),
        ({"type": "mixture", "transforms": ["jigsaw", "stitch"], "weights": [0.0, 0.0]}, "sum to more than 0"),
        ({"type": "noisy", "nda": "jigsaw", "p_clean": 1.0}, r"p_clean must lie in \[0, 1\)"),
        ({"type": "noisy", "nda": "jigsaw", "p_clean": -0.1}, "p_clean must lie in"),
        ({"type": "cutout", "min_fraction": 0.6, "max_fraction": 0.5}, "must not exceed max_fraction"),
        ({"type": "cutmix", "max_fraction": 1.5}, r"max_fraction must lie in \(0, 1\]"),
        ({"type": "mixup", "alpha": 0.0}, "alpha must be a finite number > 0"),
        ({"type": "noise", "std": -1.0}, "std must be"),
        ({"type": "stitch", "orientation": "diagonal"}, "orientation must be one of"),
        ({"type": "other_dataset"}, "needs images="),
        ({"type": "other_classes", "images": torch.rand(4, 3, 2, 2), "labels": [0, 1, 0, 1]}, "needs classes="),
        (
            {"type": "other_classes", "images": torch.rand(4, 3, 2, 2), "labels": [0, 0, 0, 0], "classes": [0]},
            "no images",
        ),
    ],
)
def test_bad_construction_arguments(spec, match):
    with pytest.raises(ValueError, match=match):
        nda_core.build(spec)


def test_bank_of_the_wrong_resolution():
    t = nda_core.build({"type": "other_dataset", "images": torch.rand(5, 3, 16, 16)})
    with pytest.raises(ValueError, match=r"bank holds samples of shape \(3, 16, 16\).*\(3, 32, 32\).*resize"):
        t(torch.rand(2, 3, 32, 32))


def test_images_too_small_for_a_box():
    with pytest.raises(ValueError, match="H=1 is too small"):
        nda_core.build("cutout")(torch.rand(2, 3, 1, 8))


def test_functional_checks_parameter_shapes():
    x = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"permutation must have shape \(2, 4\)"):
        F.jigsaw(x, torch.tensor([[0, 1, 2, 3]]), k=2)
    with pytest.raises(ValueError, match=r"partner must have shape \(2,\)"):
        F.mixup(x, torch.tensor([0.5, 0.5]), torch.tensor([1]))
    with pytest.raises(ValueError, match="source must hold samples of the same shape"):
        F.cutmix(x, torch.tensor([[0, 0, 2, 2]] * 2), torch.tensor([0, 1]), source=torch.rand(3, 3, 5, 5))


@pytest.mark.parametrize("name", ["jigsaw", "stitch", "cutout", "cutmix", "mixup", "vflip", "noise"])
def test_a_channels_last_image_batch_is_named_as_such(name):
    with pytest.raises(
        ValueError, match=r"\(8, 32, 32, 3\), which looks channels-last \(B, H, W, C\).*x\.permute\(0, 3, 1, 2\)"
    ):
        nda_core.build(name)(torch.rand(8, 32, 32, 3))


def test_a_channels_last_clip_batch_is_named_as_such():
    with pytest.raises(ValueError, match=r"looks channels-last \(B, T, H, W, C\).*x\.permute\(0, 4, 1, 2, 3\)"):
        nda_core.build("cutmix")(torch.rand(2, 8, 16, 16, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"looks channels-last"):
        F.jigsaw(torch.rand(2, 16, 16, 4), torch.tensor([[1, 0, 3, 2]] * 2), k=2)


def test_a_jigsaw_remainder_on_a_batch_that_may_be_channels_last_says_both():
    """Too small to be sure (2 'channels', 8 x 3 pixels): the error names both readings."""
    with pytest.raises(
        ValueError,
        match=r"looks channels-last.*permute\(0, 3, 1, 2\).*Read as channels-first: jigsaw needs W divisible by k",
    ):
        nda_core.build("jigsaw")(torch.rand(2, 2, 8, 3))


def test_small_channels_first_batches_are_not_taken_for_channels_last():
    for shape in [(2, 2, 8, 3), (2, 3, 32, 3), (2, 1, 8, 4), (2, 4, 4, 4), (2, 3, 5, 2, 3)]:
        assert nda_core.build("cutmix")(torch.rand(shape), generator=torch.Generator().manual_seed(0)).shape == shape


# --- the one usage error ----------------------------------------------------------------------


def test_every_check_raises_the_one_usage_error_class() -> None:
    """A CLI catches only UsageError: a check that raised a plain ValueError/TypeError would escape it."""
    from nda_core import _checks
    from nda_core.errors import UsageError, UsageTypeError

    cases = [
        lambda: _checks.check_int(1.5, "steps"),
        lambda: _checks.check_int(0, "steps", 1),
        lambda: _checks.check_int(9, "steps", 1, 8),
        lambda: _checks.check_number("x", "lr"),
        lambda: _checks.check_number(2.0, "p", 0.0, 1.0),
        lambda: _checks.check_choice("z", "mode", ["a"]),
        lambda: _checks.check_tensor([1], "x"),
        lambda: _checks.check_batch(torch.zeros(2, 3), "x"),
        lambda: nda_core.build("no-such-nda"),
    ]
    for case in cases:
        with pytest.raises(UsageError):
            case()
    with pytest.raises(TypeError):  # a wrong type is still a TypeError for callers that catch that
        _checks.check_int("3", "steps")
    assert issubclass(UsageTypeError, UsageError) and issubclass(UsageError, ValueError)


def test_check_int_and_check_number_share_one_signature() -> None:
    """(value, name, low, high, *, hint): a hint passed where a bound goes is refused, not compared."""
    from nda_core._checks import check_int, check_number

    assert check_int(5, "n", 1, 8) == 5 and check_number(0.5, "p", 0.0, 1.0) == 0.5
    with pytest.raises(ValueError, match="n must be <= 8, got 9. use fewer"):
        check_int(9, "n", 1, 8, hint="use fewer")
    with pytest.raises(TypeError):
        check_int(5, "n", 1, 8, "hint given by position")  # keyword-only: never taken as a bound


def test_parse_nda_argument_reads_names_json_specs_and_none() -> None:
    import argparse

    from nda_core.errors import parse_nda_argument

    assert parse_nda_argument("jigsaw") == "jigsaw"
    assert parse_nda_argument(" None ") is None
    assert parse_nda_argument('{"type": "jigsaw", "k": 2}') == {"type": "jigsaw", "k": 2}
    with pytest.raises(argparse.ArgumentTypeError, match="not valid JSON"):
        parse_nda_argument("{type: jigsaw}")


def test_report_usage_error_prints_one_line_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    from nda_core.errors import EXIT_USAGE, UsageError, report_usage_error

    assert report_usage_error("nda show", UsageError("--images must be <= 10, got 12.")) == EXIT_USAGE == 2
    assert capsys.readouterr().err == "nda show: error: --images must be <= 10, got 12.\n"
