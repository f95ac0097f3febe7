"""NDAMoCo / NDASimCLR trained by a real Lightning Trainer on real CIFAR-10 images on the CPU.

* With ``nda=None`` they train exactly like MoCo / SimCLR built from lightly's components and its
  ``NTXentLoss`` (lightly's examples), step by step, including the memory bank.
* With NDA they log the loss, the mean positive / negative / NDA logits and the online linear
  accuracy, keep NDA embeddings out of the memory bank, and resume from a checkpoint with the
  step count and the bank.
"""

from __future__ import annotations

import copy
import csv

import pytest
import torch

pytest.importorskip("lightly")
import pytorch_lightning as pl  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from lightly.loss import NTXentLoss  # noqa: E402
from lightly.models.modules import MoCoProjectionHead, SimCLRProjectionHead  # noqa: E402
from lightly.models.utils import batch_shuffle, batch_unshuffle, deactivate_requires_grad, update_momentum  # noqa: E402
from lightly.transforms import MoCoV2Transform, SimCLRTransform  # noqa: E402
from lightly.utils.scheduler import cosine_schedule  # noqa: E402
from pytorch_lightning.callbacks import Callback, ModelCheckpoint  # noqa: E402
from pytorch_lightning.loggers import CSVLogger  # noqa: E402
from test_lightly_loss import one_thread  # noqa: E402,F401  (autouse fixture)
from torchvision import transforms as T  # noqa: E402

from lightly_nda import NDAMoCo, NDASimCLR, add_nda_views, cifar_resnet  # noqa: E402
from lightly_nda.data import image_folder  # noqa: E402
from nda_core.errors import UsageError  # noqa: E402

BATCH = 8
PER_CLASS = 4  # 40 real CIFAR-10 training images: 5 batches of 8 per epoch
BANK = (64, 16)
HEAD = {"hidden_dim": 32, "projection_dim": 16}
LR, WEIGHT_DECAY, MOMENTUM = 0.06, 5e-4, 0.99


pytestmark = pytest.mark.usefixtures("quiet_lightning")


def _backbone(seed: int = 0):
    torch.manual_seed(seed)
    return cifar_resnet("resnet-9", width=0.125)  # 8-channel stem, 64-d features


def _loader(cifar_root, transform, split: str = "train", shuffle: bool = True, per_class: int = PER_CLASS):
    dataset = image_folder(cifar_root / split, transform, per_class)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=shuffle,
        drop_last=shuffle,
        num_workers=0,
        generator=torch.Generator().manual_seed(0),
    )


def _trainer(max_steps: int, **kwargs) -> pl.Trainer:
    options = dict(logger=False, enable_checkpointing=False)
    options.update(kwargs)
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **options,
    )


def _record(module) -> list[dict]:
    """Every call of the module's criterion: its inputs and its loss (a forward hook, no mock)."""
    calls: list[dict] = []

    def hook(_, args, kwargs, output):
        nda = kwargs.get("nda")
        calls.append(
            {
                "out0": args[0].detach(),
                "out1": args[1].detach(),
                "nda": None if nda is None else nda.detach(),
                "nda_requires_grad": nda is not None and nda.requires_grad,
                "loss": output.detach(),
            }
        )

    module.criterion.register_forward_hook(hook, with_kwargs=True)
    return calls


def _optimizers(module: pl.LightningModule, params) -> dict:
    optimizer = torch.optim.SGD(params, lr=LR, momentum=0.9, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=module.trainer.max_steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class LightlyMoCo(pl.LightningModule):
    """MoCo-v2 from lightly's parts as its example and ImageNet benchmark build it, lightly's NTXentLoss."""

    def __init__(self, backbone, feature_dim):
        super().__init__()
        self.backbone = backbone
        self.projection_head = MoCoProjectionHead(feature_dim, HEAD["hidden_dim"], HEAD["projection_dim"])
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)
        self.criterion = NTXentLoss(temperature=0.1, memory_bank_size=BANK)

    def training_step(self, batch, batch_idx):
        (x_query, x_key), _ = batch
        query = self.projection_head(self.backbone(x_query).flatten(start_dim=1))
        momentum = cosine_schedule(self.global_step, self.trainer.max_steps, MOMENTUM, 1.0)
        update_momentum(self.backbone, self.backbone_momentum, m=momentum)
        update_momentum(self.projection_head, self.projection_head_momentum, m=momentum)
        shuffled, shuffle = batch_shuffle(x_key)
        key = self.projection_head_momentum(self.backbone_momentum(shuffled).flatten(start_dim=1))
        return self.criterion(query, batch_unshuffle(key, shuffle).detach())

    def configure_optimizers(self):
        return _optimizers(self, list(self.backbone.parameters()) + list(self.projection_head.parameters()))


class LightlySimCLR(pl.LightningModule):
    """SimCLR from lightly's parts as its example builds it, lightly's NTXentLoss."""

    def __init__(self, backbone, feature_dim):
        super().__init__()
        self.backbone = backbone
        self.projection_head = SimCLRProjectionHead(feature_dim, HEAD["hidden_dim"], HEAD["projection_dim"])
        self.criterion = NTXentLoss()

    def training_step(self, batch, batch_idx):
        (x0, x1), _ = batch
        z0 = self.projection_head(self.backbone(x0).flatten(start_dim=1))
        z1 = self.projection_head(self.backbone(x1).flatten(start_dim=1))
        return self.criterion(z0, z1)

    def configure_optimizers(self):
        return _optimizers(self, list(self.backbone.parameters()) + list(self.projection_head.parameters()))


def _fit(module, loader, steps: int) -> list[dict]:
    calls = _record(module)
    pl.seed_everything(0, verbose=False)
    _trainer(steps).fit(module, loader)
    return calls


@pytest.mark.parametrize("method", ["moco", "simclr"])
def test_without_nda_trains_exactly_like_lightly(cifar_root, method):
    steps = 4
    transform = (
        MoCoV2Transform(input_size=32, gaussian_blur=0.0)
        if method == "moco"
        else SimCLRTransform(input_size=32, gaussian_blur=0.0)
    )
    reference_cls, ours_cls = (LightlyMoCo, NDAMoCo) if method == "moco" else (LightlySimCLR, NDASimCLR)
    options = {"memory_bank_size": BANK, "momentum": MOMENTUM, "temperature": 0.1} if method == "moco" else {}
    backbone, dim = _backbone()
    torch.manual_seed(1)
    reference = reference_cls(copy.deepcopy(backbone), dim)
    torch.manual_seed(1)
    ours = ours_cls(copy.deepcopy(backbone), dim, nda=None, lr=LR, weight_decay=WEIGHT_DECAY, **HEAD, **options)
    assert all(
        torch.equal(a, b) for a, b in zip(reference.projection_head.parameters(), ours.projection_head.parameters())
    )
    if method == "moco":
        assert torch.equal(reference.criterion.memory_bank.bank, ours.criterion.memory_bank.bank)
    expected = _fit(reference, _loader(cifar_root, transform), steps)  # a fresh loader: the same order
    got = _fit(ours, _loader(cifar_root, transform), steps)
    assert len(got) == len(expected) == steps
    for step, (a, b) in enumerate(zip(expected, got)):
        assert torch.equal(a["loss"], b["loss"]), step
        assert b["nda"] is None
    for a, b in zip(reference.backbone.parameters(), ours.backbone.parameters()):
        assert torch.equal(a, b)
    if method == "moco":
        assert torch.equal(reference.criterion.memory_bank.bank, ours.criterion.memory_bank.bank)
        assert int(ours.criterion.memory_bank.bank_ptr) == steps * BATCH


def _snapshot(module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _assert_trained(module, before: dict[str, torch.Tensor], calls: list[dict], frozen: tuple[str, ...] = ()) -> None:
    """Every trained parameter moved (the SGD steps reached them) and every loss was finite."""
    after = dict(module.named_parameters())
    for name, value in before.items():
        if name.startswith(frozen):
            continue
        assert not torch.equal(after[name].detach(), value), f"{name} did not change"
    assert calls and all(torch.isfinite(call["loss"]) for call in calls)


def _metrics(logger: CSVLogger) -> dict[str, list[float]]:
    with open(f"{logger.log_dir}/metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(r[key]) for r in rows if r.get(key)] for key in rows[0]}


def test_nda_moco_logs_trains_and_keeps_nda_out_of_the_bank(cifar_root, tmp_path):
    steps = 3
    # one NDA view from the pipeline (jigsaw) plus two made on the batch (stitch): M = 3
    transform = add_nda_views(MoCoV2Transform(input_size=32, gaussian_blur=0.0), "jigsaw")
    backbone, dim = _backbone()
    model = NDAMoCo(backbone, dim, nda="stitch", num_nda_views=2, memory_bank_size=BANK, num_classes=10, **HEAD)
    calls = _record(model)
    before = _snapshot(model)
    logger = CSVLogger(tmp_path, name="csv")
    trainer = _trainer(steps, logger=logger, log_every_n_steps=1)
    trainer.fit(model, _loader(cifar_root, transform))
    assert trainer.global_step == steps and len(calls) == steps
    # trained: the query encoder and the online classifier by SGD, the key encoder by the momentum update
    _assert_trained(model, before, calls)
    for call in calls:
        assert call["nda"].shape == (BATCH, 3, HEAD["projection_dim"])
        assert not call["nda_requires_grad"]  # momentum encoder, no gradient (the paper's cost)
    metrics = _metrics(logger)
    for key in ("train_loss", "logit_pos", "logit_neg", "logit_nda", "train_online_cls_top1", "momentum"):
        assert len(metrics[key]) == steps, key
    assert all(torch.isfinite(torch.tensor(metrics["train_loss"])))
    # the bank holds exactly the normalised keys, in order, and none of the NDA embeddings
    bank = model.criterion.memory_bank.bank
    keys = torch.cat([F.normalize(call["out1"], dim=1) for call in calls])
    assert torch.equal(bank[: steps * BATCH], keys)
    ndas = F.normalize(torch.cat([call["nda"].reshape(-1, HEAD["projection_dim"]) for call in calls]), dim=1)
    assert (bank @ ndas.t()).max() < 1 - 1e-4
    assert int(model.criterion.memory_bank.bank_ptr) == steps * BATCH
    # online linear accuracy on held-out images: the trained classifier's top-1 on the backbone's features
    eval_transform = T.Compose([T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    val_loader = _loader(cifar_root, eval_transform, "test", shuffle=False)
    result = trainer.validate(model, val_loader, verbose=False)
    model.eval()  # validate() puts the model back in training mode
    with torch.no_grad():
        hits = [model.online_classifier(model.backbone(x).flatten(start_dim=1)).argmax(1) == y for x, y in val_loader]
    assert result[0]["val_online_cls_top1"] == pytest.approx(float(torch.cat(hits).float().mean()))


class _StateAtStart(Callback):
    def __init__(self):
        self.seen: dict = {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if not self.seen:
            self.seen = {
                "global_step": trainer.global_step,
                "bank": module.criterion.memory_bank.bank.clone(),
                "ptr": int(module.criterion.memory_bank.bank_ptr),
                "momentum": module.current_momentum(),
            }


def test_checkpoint_resume_continues_step_count_and_bank(cifar_root, tmp_path):
    transform = MoCoV2Transform(input_size=32, gaussian_blur=0.0)
    backbone, dim = _backbone()
    first = NDAMoCo(backbone, dim, nda="jigsaw", memory_bank_size=BANK, **HEAD)

    def run(max_steps: int, callbacks: list) -> pl.Trainer:
        checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=2)
        return _trainer(max_steps, enable_checkpointing=True, callbacks=[checkpoint, *callbacks])

    loader = _loader(cifar_root, transform, per_class=2)  # 20 images: an epoch of 2 steps, saved at its end
    run(2, []).fit(first, loader)
    saved_bank = first.criterion.memory_bank.bank.clone()
    assert int(first.criterion.memory_bank.bank_ptr) == 2 * BATCH

    backbone, dim = _backbone(seed=5)
    resumed = NDAMoCo(backbone, dim, nda="jigsaw", memory_bank_size=BANK, **HEAD)  # fresh weights and bank
    assert not torch.equal(resumed.criterion.memory_bank.bank, saved_bank)
    start = _StateAtStart()
    trainer = run(4, [start])
    trainer.fit(
        resumed, _loader(cifar_root, transform, per_class=2), ckpt_path=str(tmp_path / "last.ckpt"), weights_only=True
    )
    assert start.seen["global_step"] == 2 and start.seen["ptr"] == 2 * BATCH
    assert torch.equal(start.seen["bank"], saved_bank)
    assert start.seen["momentum"] > MOMENTUM  # the momentum schedule continues at step 2 of 4
    assert trainer.global_step == 4
    bank = resumed.criterion.memory_bank.bank
    assert torch.equal(bank[: 2 * BATCH], saved_bank[: 2 * BATCH])
    assert not torch.equal(bank[2 * BATCH : 4 * BATCH], saved_bank[2 * BATCH : 4 * BATCH])
    assert int(resumed.criterion.memory_bank.bank_ptr) == 4 * BATCH
    for a, b in zip(first.backbone.parameters(), resumed.backbone.parameters()):
        assert not torch.equal(a, b)  # trained on from the checkpoint, not from the fresh weights


@pytest.mark.parametrize("nda_encoder", ["no_grad", "query"])
def test_nda_simclr_trains_with_batch_ndas(cifar_root, tmp_path, nda_encoder):
    transform = SimCLRTransform(input_size=32, gaussian_blur=0.0)
    backbone, dim = _backbone()
    mixture = {"type": "mixture", "transforms": ["jigsaw", "stitch", "cutmix"]}
    model = NDASimCLR(backbone, dim, nda=mixture, nda_encoder=nda_encoder, num_classes=10, **HEAD)
    calls = _record(model)
    before = _snapshot(model)
    trainer = _trainer(2)
    trainer.fit(model, _loader(cifar_root, transform))
    assert trainer.global_step == 2 and len(calls) == 2
    _assert_trained(model, before, calls)
    assert all(call["nda"].shape == (BATCH, 2, HEAD["projection_dim"]) for call in calls)
    assert all(call["nda_requires_grad"] == (nda_encoder == "query") for call in calls)
    assert {"train_loss", "logit_pos", "logit_neg", "logit_nda", "train_online_cls_top1"} <= set(
        trainer.callback_metrics
    )


def test_module_errors_name_the_argument_and_the_fix(cifar_float):
    backbone, dim = _backbone()
    with pytest.raises(ValueError, match=r"nda_encoder must be one of \['key', 'query'\]"):
        NDAMoCo(backbone, dim, nda_encoder="momentum")
    with pytest.raises(
        ValueError,
        match=r"memory_bank_size=\(64, 16\) stores 16-d keys but projection_dim=32; use memory_bank_size=\(64, 32\)",
    ):
        NDAMoCo(backbone, dim, memory_bank_size=(64, 16), projection_dim=32)
    # an integer is the number of negatives: NDAMoCo knows the keys' size (projection_dim), the loss alone does not
    assert tuple(NDAMoCo(backbone, dim, memory_bank_size=64, **HEAD).criterion.memory_bank.size) == (
        64,
        HEAD["projection_dim"],
    )
    # what LightningCLI passes: a backbone's name (lightly's CIFAR ResNet) and the --nda words
    named = NDAMoCo("resnet-9", nda="none", width=0.125, memory_bank_size=64, **HEAD)
    assert named.feature_dim == dim and named.nda is None and named.hparams["backbone"] == "resnet-9"
    assert NDAMoCo(backbone, dim, nda='{"type": "jigsaw", "k": 3}', **HEAD).nda.k == 3
    with pytest.raises(UsageError, match="width=0.5 applies to a named backbone"):
        NDAMoCo(backbone, dim, width=0.5)
    with pytest.raises(ValueError, match="NDAMoCo nda='jigsw' is not a valid NDA"):
        NDAMoCo(backbone, dim, nda="jigsw")
    with pytest.raises(ValueError, match="num_nda_views=0 with nda='jigsaw'"):
        NDASimCLR(backbone, dim, num_nda_views=0)
    model = NDASimCLR(backbone, dim, **HEAD)
    with pytest.raises(
        ValueError, match=r"needs batch\[0\] to be a list of at least 2 image batches .*MultiViewTransform"
    ):
        model.training_step((cifar_float[:4], torch.zeros(4, dtype=torch.long)), 0)
