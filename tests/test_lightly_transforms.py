"""NDA views in lightly's transform pipelines (PIL and tensors) and the batch path, on real CIFAR-10 images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("lightly")
from lightly.transforms import MoCoV2Transform  # noqa: E402
from lightly.transforms.multi_view_transform import MultiViewTransform  # noqa: E402
from PIL import Image  # noqa: E402
from test_lightly_loss import one_thread  # noqa: E402,F401  (autouse fixture)
from torchvision.transforms import ToTensor  # noqa: E402

from lightly_nda import NDAView, add_nda_views, nda_embeddings  # noqa: E402
from nda_core.errors import UsageError  # noqa: E402
from nda_core.transforms import build_entry, nda_views  # noqa: E402

HALF = 16  # CIFAR-10 images are 32 x 32: jigsaw k=2 moves 16 x 16 quadrants


def _quadrants(array: np.ndarray) -> list[bytes]:
    return [array[r : r + HALF, c : c + HALF].tobytes() for r in (0, HALF) for c in (0, HALF)]


def _is_jigsaw_of(out: np.ndarray, image: np.ndarray) -> bool:
    """Same four quadrants in a different order (distinct quadrants make the order observable)."""
    before, after = _quadrants(image), _quadrants(out)
    return sorted(before) == sorted(after) and before != after


@pytest.fixture(scope="module")
def pil_images(cifar_batch) -> list[Image.Image]:
    images, _ = cifar_batch
    return [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in images[:8]]


def test_nda_view_on_pil_images_is_a_jigsaw(pil_images):
    view = NDAView({"type": "jigsaw", "k": 2})
    for image in pil_images:
        out = view(image)
        assert isinstance(out, Image.Image) and out.size == image.size and out.mode == "RGB"
        assert _is_jigsaw_of(np.asarray(out), np.asarray(image))
    gray = pil_images[0].convert("L")
    out = view(gray)
    assert out.mode == "L" and _is_jigsaw_of(np.asarray(out), np.asarray(gray))


def test_nda_view_on_tensors_keeps_shape_dtype_and_type(cifar_batch):
    images, _ = cifar_batch
    view = NDAView("jigsaw", generator=torch.Generator().manual_seed(0))
    single = view(images[0])
    assert single.shape == images[0].shape and single.dtype == torch.uint8
    assert _is_jigsaw_of(single.permute(1, 2, 0).numpy(), images[0].permute(1, 2, 0).numpy())
    floats = images[:4].float() / 255
    batch = NDAView("cutout")(floats)
    assert batch.shape == floats.shape and batch.dtype == torch.float32 and not torch.equal(batch, floats)
    with pytest.raises(TypeError, match="NDAView expects a PIL image or a tensor"):
        view(np.zeros((32, 32, 3), dtype=np.uint8))


@pytest.mark.parametrize("spec", ["stitch", "cutmix", "mixup", {"type": "mixture", "transforms": ["jigsaw", "stitch"]}])
def test_two_image_ndas_in_the_pipeline_point_to_the_batch_path(spec):
    with pytest.raises(ValueError, match=r"two-image NDA.*batch path.*NDAMoCo\(nda="):
        NDAView(spec)


def test_single_image_mixture_is_a_valid_view(pil_images):
    out = NDAView({"type": "mixture", "transforms": ["jigsaw", "vflip", "cutout"]})(pil_images[0])
    assert out.size == (32, 32)


def test_add_nda_views_appends_nda_of_an_augmented_view(pil_images):
    transform = add_nda_views(MoCoV2Transform(input_size=32, gaussian_blur=0.0), "jigsaw", num_views=2)
    views = transform(pil_images[0])
    assert len(views) == 4 and all(v.shape == (3, 32, 32) for v in views)
    # with a deterministic source view the NDA view is exactly a jigsaw of it
    plain = MultiViewTransform([ToTensor(), ToTensor()])
    query, key, negative = add_nda_views(plain, "jigsaw")(pil_images[1])
    assert torch.equal(query, key)
    assert _is_jigsaw_of(negative.permute(1, 2, 0).numpy(), query.permute(1, 2, 0).numpy())
    with pytest.raises(TypeError, match="MultiViewTransform"):
        add_nda_views(ToTensor())
    with pytest.raises(ValueError, match="source must be <= 1"):
        add_nda_views(plain, source=2)


def test_nda_views_alternate_query_and_key_views(cifar_float):
    x_query, x_key = cifar_float[:8], cifar_float[8:16]
    images = nda_views(build_entry("vflip"), [x_query, x_key], num_views=3)
    assert images.shape == (24, 3, 32, 32)
    assert torch.equal(images[:8], x_query.flip(2))
    assert torch.equal(images[8:16], x_key.flip(2))
    assert torch.equal(images[16:], x_query.flip(2))
    # two-image NDAs and mixtures work on the batch
    mixture = build_entry({"type": "mixture", "transforms": ["jigsaw", "stitch", "cutmix", "mixup"]})
    assert nda_views(mixture, [x_query, x_key]).shape == (16, 3, 32, 32)
    with pytest.raises(ValueError, match=r"nda=Stitch.*cannot be applied to the batch of shape \(1, 3, 32, 32\)"):
        nda_views(build_entry("stitch"), [x_query[:1], x_key[:1]])


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """An encoder that sees everything an NDA changes: the flattened pixels."""
    return images.flatten(start_dim=1)


def test_nda_embeddings_are_the_nda_of_each_samples_own_views(cifar_float):
    x_query, x_key = cifar_float[:8], cifar_float[8:16]
    extra = cifar_float[16:24]
    embeddings = nda_embeddings(_pixels, x_query, x_key, "vflip", num_views=2, extra_views=[extra])
    assert embeddings.shape == (8, 3, 3 * 32 * 32)
    for i in range(8):
        assert torch.equal(embeddings[i, 0], x_query[i].flip(-2).flatten())
        assert torch.equal(embeddings[i, 1], x_key[i].flip(-2).flatten())
        assert torch.equal(embeddings[i, 2], extra[i].flatten())
    with pytest.raises(ValueError, match="extra_views\\[0\\] has batch size 4 but x_query has 8"):
        nda_embeddings(_pixels, x_query, x_key, extra_views=[extra[:4]])
    with pytest.raises(ValueError, match="not a valid NDA"):
        nda_embeddings(_pixels, x_query, x_key, nda="jigsw")


def test_nda_embeddings_name_two_views_of_different_batch_sizes_before_encoding(cifar_float):
    calls = []

    def encode(images):
        calls.append(images.shape)
        return images.flatten(start_dim=1)

    with pytest.raises(
        UsageError, match=r"x_key has batch size 3 but x_query has 6: pass the two views of the same samples"
    ):
        nda_embeddings(encode, cifar_float[:6], cifar_float[:3])
    assert calls == []  # checked before any NDA image is made or encoded


@pytest.mark.parametrize(
    "spec", ["jigsaw", "stitch", "cutout", {"type": "mixture", "transforms": ["jigsaw", "cutmix", "mixup"]}]
)
def test_nda_embeddings_replay_the_seeded_nda_draws(cifar_float, spec):
    """A random NDA with a seeded generator: the embeddings are those of the NDA drawn with the same
    seed on the query view, then on the key view (3 views: query, key, query)."""
    x_query, x_key = cifar_float[:8], cifar_float[8:16]
    embeddings = nda_embeddings(_pixels, x_query, x_key, spec, num_views=3, generator=torch.Generator().manual_seed(4))
    nda, generator = build_entry(spec), torch.Generator().manual_seed(4)
    replayed = [nda(view, generator=generator) for view in (x_query, x_key, x_query)]
    for i in range(8):
        for view in range(3):
            assert torch.equal(embeddings[i, view], replayed[view][i].flatten()), (i, view)
    clean = torch.stack([x_query.flatten(1), x_key.flatten(1), x_query.flatten(1)], 1)
    assert (embeddings != clean).any(-1).all()  # the NDA was applied to every image
