"""Numerosity images: exact counts from the generator, an exact counter, clear errors."""

from __future__ import annotations

import pytest
import torch

from nda_demo.dots import (
    DotsConfig,
    component_sizes,
    count_dots,
    label_components,
    make_count_mixture,
    make_dots,
    max_dots,
)
from nda_demo.numerosity import NumerosityConfig, validate_numerosity


def test_every_count_is_exact_up_to_capacity():
    config = DotsConfig()
    generator = torch.Generator().manual_seed(0)
    for count in range(config.capacity + 1):
        images = make_dots(count, 50, config, generator)
        assert images.shape == (50, 1, 32, 32)
        assert torch.equal(count_dots(images), torch.full((50,), count))


def test_dots_are_discs_of_the_configured_radius_and_never_touch():
    config = DotsConfig(size=32, radius=2.5)
    images = make_dots(9, 20, config, torch.Generator().manual_seed(1))
    assert set(images.unique().tolist()) == {-1.0, 1.0}
    sizes = torch.cat(component_sizes(images[:, 0] > 0))
    # a disc of radius 2.5 on the pixel grid covers 21 pixel centres (pi r^2 = 19.6)
    assert sizes.numel() == 9 * 20
    assert sizes.min() >= 19 and sizes.max() <= 25


def test_counter_on_hand_drawn_masks():
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 0, 0:3] = True  # a bar
    mask[0, 1, 3] = True  # diagonal neighbour of the bar's end: same 8-connected component
    mask[0, 5:7, 5:7] = True  # a square
    mask[0, 7, 0] = True  # a single pixel
    labels = label_components(mask)
    assert len(labels[0].unique()) == 4  # background + 3 components
    assert sorted(component_sizes(mask)[0].tolist()) == [1, 4, 4]
    images = mask.float().unsqueeze(1) * 2 - 1
    assert count_dots(images, min_pixels=1).tolist() == [3]
    assert count_dots(images, min_pixels=4).tolist() == [2]  # the speckle is not a dot


def test_counter_on_generated_like_grey_images():
    images = make_dots(5, 10, generator=torch.Generator().manual_seed(2)) * 0.8
    images = images + 0.1 * torch.randn(images.shape, generator=torch.Generator().manual_seed(3))
    assert count_dots(images).tolist() == [5] * 10


def test_count_mixture_labels_match_counts():
    images, labels = make_count_mixture([4, 5, 7], 90, generator=torch.Generator().manual_seed(4))
    assert set(labels.tolist()) == {4, 5, 7}
    assert torch.equal(count_dots(images), labels)


def test_same_seed_same_images():
    a = make_dots(6, 8, generator=torch.Generator().manual_seed(5))
    b = make_dots(6, 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_capacity_of_other_geometries():
    assert max_dots(32, 2.5) == 16
    assert max_dots(64, 2.5) == 81
    images = make_dots(20, 4, DotsConfig(64, 3.0), torch.Generator().manual_seed(6))
    assert count_dots(images).tolist() == [20] * 4


def test_count_that_cannot_fit_is_a_value_error():
    with pytest.raises(ValueError, match=r"count holds 17, but at most 16 dots"):
        make_dots(17, 1)
    with pytest.raises(ValueError, match="at most 16 dots"):
        validate_numerosity(NumerosityConfig(target=6, negatives=(4, 5, 20)))
    with pytest.raises(ValueError, match="at most 16 dots"):
        validate_numerosity(NumerosityConfig(target=30))


def test_negatives_including_the_target_is_a_value_error():
    with pytest.raises(ValueError, match=r"negatives \[4, 5, 6, 7\] include the target count 6"):
        validate_numerosity(NumerosityConfig(target=6, negatives=(4, 5, 6, 7)))
    with pytest.raises(ValueError, match="heldout"):
        validate_numerosity(NumerosityConfig(target=6, heldout=(3, 6)))


def test_components_are_numbered_per_image_and_never_cross_images():
    # the same mask in every image: a 3-D labelling would join each pixel with its copies in
    # the neighbouring images; each image must count its own components, numbered from 1
    mask = torch.zeros(3, 6, 6, dtype=torch.bool)
    mask[:, 0, 0:2] = True
    mask[:, 4:6, 4] = True
    labels = label_components(mask)
    assert [sorted(image.unique().tolist()) for image in labels] == [[0, 1, 2]] * 3
    assert [s.tolist() for s in component_sizes(mask)] == [[2, 2]] * 3
    assert count_dots(mask.float().unsqueeze(1) * 2 - 1, min_pixels=1).tolist() == [2, 2, 2]
    empty = torch.zeros(2, 4, 4, dtype=torch.bool)
    assert count_dots(empty.float() - 1).tolist() == [0, 0]
    assert [s.numel() for s in component_sizes(empty)] == [0, 0]
    assert component_sizes(torch.zeros(0, 4, 4, dtype=torch.bool)) == []


def test_counts_given_as_a_tensor_are_accepted():
    images, labels = make_count_mixture(torch.tensor([4, 5]), 20, generator=torch.Generator().manual_seed(7))
    assert set(labels.tolist()) == {4, 5}
    assert torch.equal(count_dots(images), labels)


def test_other_bad_input():
    with pytest.raises(ValueError, match="negatives is empty"):
        validate_numerosity(NumerosityConfig(negatives=()))
    with pytest.raises(ValueError, match=r"target must be >= 1, got 0\."):
        validate_numerosity(NumerosityConfig(target=0))
    with pytest.raises(TypeError, match=r"count must be an int, got 2.5 \(float\)"):
        make_dots(2.5, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"counts\[1\] must be an int, got True \(bool\)"):
        make_count_mixture([4, True], 1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"n must be >= 0, got -1\."):
        make_dots(6, -1)
    with pytest.raises(ValueError, match=r"radius must lie in \[0.5, 16\], got 20.0"):
        DotsConfig(32, 20.0)
    with pytest.raises(TypeError, match="size must be an int"):
        DotsConfig(True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one channel"):
        count_dots(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"min_pixels must be >= 1, got 0\."):
        count_dots(torch.zeros(2, 1, 8, 8), min_pixels=0)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        label_components(torch.zeros(2, 8, 8))
