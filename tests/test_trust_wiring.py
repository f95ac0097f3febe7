"""Row i of the ``nda`` that the loss receives is the encoding of NDA images of sample i's OWN views.

For lightly_nda's ``NDAMoCo`` / ``NDASimCLR`` (a real Lightning Trainer step on real CIFAR-10
images) and mmselfsup_nda's ``NDAMoCo`` (the registered model's ``loss()``), with a deterministic
NDA (``vflip``) and encoders that see a flip: what the criterion / head is handed is compared
with the encoder applied to the flipped query and key views, sample by sample (and with the
pipeline's NDA views, which come after them). Catches NDA rows given to another sample (a roll
of the batch), the NDA not applied (clean views encoded), the query and key views swapped, and
the wrong encoder.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

NDA_VIEWS = 2  # NDA(query view), NDA(key view): the paper's setting
BATCH = 8
IMAGE = (3, 32, 32)
HEAD = {"hidden_dim": 32, "projection_dim": 16}
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # batch norm over the same images in another order


def expected_rows(encoded: torch.Tensor, batch: int) -> torch.Tensor:
    """(B, M, D) from (M * B, D) features of M stacked view batches, written out index by index."""
    views = encoded.shape[0] // batch
    return torch.stack([torch.stack([encoded[v * batch + i] for v in range(views)]) for i in range(batch)])


def own_nda_images(views: list[torch.Tensor]) -> torch.Tensor:
    """vflip of the query view, vflip of the key view, then the pipeline's NDA views (if any)."""
    return torch.cat([views[0].flip(-2), views[1].flip(-2), *views[2:]])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is faster on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- lightly_nda
def _lightly_step(cifar_root, method: str, nda_encoder: str) -> list[dict]:
    """Two Trainer steps; per step: what the criterion got as ``nda`` and what it should be."""
    pl = pytest.importorskip("pytorch_lightning")
    pytest.importorskip("lightly")
    from lightly.transforms import MoCoV2Transform, SimCLRTransform
    from pytorch_lightning.callbacks import Callback

    from lightly_nda import NDAMoCo, NDASimCLR, add_nda_views
    from lightly_nda.data import image_folder

    torch.manual_seed(0)
    dim = 64  # a linear map of the pixels: a flip, a roll or a clean view all show
    backbone = nn.Sequential(nn.Flatten(), nn.Linear(IMAGE[0] * IMAGE[1] * IMAGE[2], dim))
    if method == "moco":
        model = NDAMoCo(
            backbone,
            dim,
            nda="vflip",
            num_nda_views=NDA_VIEWS,
            nda_encoder=nda_encoder,
            memory_bank_size=(32, 16),
            **HEAD,
        )
        base = MoCoV2Transform(input_size=32, gaussian_blur=0.0)
    else:
        model = NDASimCLR(backbone, dim, nda="vflip", num_nda_views=NDA_VIEWS, nda_encoder=nda_encoder, **HEAD)
        base = SimCLRTransform(input_size=32, gaussian_blur=0.0)
    transform = add_nda_views(base, "jigsaw")  # one NDA view per sample from the pipeline: M = 3

    def encode(images: torch.Tensor) -> torch.Tensor:
        if method == "moco" and nda_encoder == "key":
            return model.projection_head_momentum(model.backbone_momentum(images).flatten(start_dim=1))
        return model.projection_head(model.backbone(images).flatten(start_dim=1))

    seen: list[dict] = []

    class Batches(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen.append({"views": [v.clone() for v in batch[0]]})

    def hook(_, args, kwargs, output):
        with torch.no_grad():
            expected = expected_rows(encode(own_nda_images(seen[-1]["views"])), BATCH)
        seen[-1].update(nda=kwargs["nda"].detach().clone(), expected=expected, out0=args[0].detach())

    model.criterion.register_forward_hook(hook, with_kwargs=True)
    dataset = image_folder(cifar_root / "train", transform, 2)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=BATCH, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(0)
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Batches()],
    )
    trainer.fit(model, loader)
    assert len(seen) == 2
    return seen


@pytest.mark.parametrize(
    "method, nda_encoder", [("moco", "key"), ("moco", "query"), ("simclr", "no_grad"), ("simclr", "query")]
)
def test_lightly_loss_gets_the_nda_of_each_samples_own_views(cifar_root, quiet_lightning, method, nda_encoder):
    for step in _lightly_step(cifar_root, method, nda_encoder):
        nda, expected = step["nda"], step["expected"]
        assert nda.shape == (BATCH, NDA_VIEWS + 1, HEAD["projection_dim"])
        torch.testing.assert_close(nda, expected, **TOLERANCE)
        # and not those of the neighbouring sample: the test can tell the rows apart
        assert not torch.allclose(nda, expected.roll(1, dims=0), **TOLERANCE)


# ----------------------------------------------------------------------------- mmselfsup_nda
def _mmselfsup_model(nda_encoder: str):
    pytest.importorskip("mmselfsup")
    from mmselfsup_helpers import tiny_nda_moco

    torch.manual_seed(0)
    return tiny_nda_moco(nda=dict(type="vflip"), nda_encoder=nda_encoder, num_nda_views=NDA_VIEWS)


@pytest.mark.parametrize("nda_encoder", ["key", "query"])
def test_mmselfsup_head_gets_the_nda_of_each_samples_own_views(cifar_float, nda_encoder):
    model = _mmselfsup_model(nda_encoder)
    images = (cifar_float - 0.5) / 0.25
    # query, key and one pipeline NDA view (inputs after the first two): three different image sets
    inputs = [images[:BATCH], images[BATCH : 2 * BATCH], images[2 * BATCH : 3 * BATCH].flip(-1)]

    def encode(x: torch.Tensor) -> torch.Tensor:
        if nda_encoder == "key":
            return F.normalize(model.encoder_k(x)[0], dim=1)
        return F.normalize(model.neck(model.backbone(x))[0], dim=1)

    seen: dict = {}

    def hook(_, args, output):
        with torch.no_grad():
            seen["expected"] = expected_rows(encode(own_nda_images(inputs)), BATCH)
        seen["nda"] = args[3].detach().clone()

    model.head.register_forward_hook(hook)
    for _ in range(2):  # the second step runs after a momentum update and an enqueue
        loss = model.loss(inputs, [])["loss"]
        assert torch.isfinite(loss)
        assert seen["nda"].shape == (BATCH, NDA_VIEWS + 1, 8)
        torch.testing.assert_close(seen["nda"], seen["expected"], **TOLERANCE)
        assert not torch.allclose(seen["nda"], seen["expected"].roll(1, dims=0), **TOLERANCE)
