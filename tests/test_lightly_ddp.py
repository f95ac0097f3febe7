"""Two CPU ranks (gloo) with ``gather_distributed=True``: Lightning's DDP strategy trains NDAMoCo on
real CIFAR-10 (distributed batch shuffle, keys of both ranks enqueued, NDA never enqueued), and the
SimCLR-mode NDA loss gathers in-batch negatives across ranks while NDA embeddings stay with their
own sample (value and gradient against a reference from the equation)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightly")
from dist_helpers import free_port, spawn_ranks  # noqa: E402
from test_core_losses import ref_nt_xent  # noqa: E402

WORLD_SIZE = 2
BATCH = 8  # per rank
PER_CLASS = 4  # 40 images: 2 steps x 2 ranks x 8, remainder dropped
STEPS = 2
BANK = (64, 16)
DIM = 16
SIMCLR_BATCH, SIMCLR_VIEWS, TEMPERATURE = 4, 2, 0.5
TIMEOUT_S = 300


def _simclr_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gathered views (N = 2 x 4 pairs) and every rank's NDA embeddings, the same on all ranks."""
    generator = torch.Generator().manual_seed(7)
    total = WORLD_SIZE * SIMCLR_BATCH
    z0 = torch.randn(total, DIM, generator=generator, dtype=torch.float64)
    z1 = torch.randn(total, DIM, generator=generator, dtype=torch.float64)
    nda = torch.randn(total, SIMCLR_VIEWS, DIM, generator=generator, dtype=torch.float64)
    return z0, z1, nda


def _worker(rank: int, port: int, cifar_root: str, out: str) -> None:
    """One rank: Lightning launches nothing (LOCAL_RANK is set), it joins the gloo group."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(WORLD_SIZE),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        NODE_RANK="0",
    )
    torch.set_num_threads(1)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import pytorch_lightning as pl
    import torch.distributed as dist
    import torch.nn.functional as F
    from lightly.transforms import MoCoV2Transform
    from pytorch_lightning.strategies import DDPStrategy

    from lightly_nda import NDAMoCo, NDANTXentLoss, cifar_resnet
    from lightly_nda.data import image_folder

    pl.seed_everything(0, verbose=False)
    backbone, feature_dim = cifar_resnet("resnet-9", width=0.125)
    model = NDAMoCo(
        backbone,
        feature_dim,
        nda="jigsaw",
        memory_bank_size=BANK,
        hidden_dim=32,
        projection_dim=DIM,
        gather_distributed=True,
        num_classes=10,
    )
    calls: list[dict] = []
    model.criterion.register_forward_hook(
        lambda _, args, kwargs, output: calls.append(
            {"key": F.normalize(args[1].detach(), dim=1), "nda": kwargs["nda"].detach()}
        ),
        with_kwargs=True,
    )
    dataset = image_folder(Path(cifar_root) / "train", MoCoV2Transform(input_size=32, gaussian_blur=0.0), PER_CLASS)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, drop_last=True)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=WORLD_SIZE,
        strategy=DDPStrategy(process_group_backend="gloo"),
        max_steps=STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    result = {
        "world_size": dist.get_world_size(),
        "global_step": trainer.global_step,
        "keys": [c["key"] for c in calls],
        "nda": [c["nda"] for c in calls],
        "bank": model.criterion.memory_bank.bank.clone(),
        "bank_ptr": int(model.criterion.memory_bank.bank_ptr),
        "backbone": [p.detach().clone() for p in model.backbone.parameters()],
    }

    # SimCLR mode, gather_distributed=True: this rank's 4 pairs against all 8 gathered pairs
    z0, z1, nda = _simclr_inputs()
    local = slice(rank * SIMCLR_BATCH, (rank + 1) * SIMCLR_BATCH)
    loss_fn = NDANTXentLoss(TEMPERATURE, 0, gather_distributed=True)
    out0, out1 = z0[local].clone().requires_grad_(), z1[local].clone().requires_grad_()
    loss = loss_fn(out0, out1, nda=nda[local])
    loss.backward()
    result.update(simclr_loss=loss.detach(), simclr_grad0=out0.grad, simclr_grad1=out1.grad)
    # rank 1 changes its NDA embeddings: rank 0's loss must not move
    changed = nda[local] if rank == 0 else -nda[local]
    result["simclr_loss_after_rank1_change"] = loss_fn(z0[local], z1[local], nda=changed).detach()
    torch.save(result, out.format(rank))


def test_two_gloo_ranks_gather_negatives_but_keep_nda_local(cifar_root, tmp_path):
    out = str(tmp_path / "rank{}.pt")
    spawn_ranks(_worker, (free_port(), str(cifar_root), out), WORLD_SIZE, TIMEOUT_S)
    results = [torch.load(out.format(rank), weights_only=True) for rank in range(WORLD_SIZE)]

    # DDP trained both replicas identically for STEPS steps
    for result in results:
        assert result["world_size"] == WORLD_SIZE and result["global_step"] == STEPS
        assert len(result["keys"]) == STEPS and result["nda"][0].shape == (BATCH, 2, DIM)
    for a, b in zip(results[0]["backbone"], results[1]["backbone"]):
        torch.testing.assert_close(a, b)
    # gather_distributed: every step enqueues the keys of rank 0 then rank 1, on both ranks
    expected = torch.cat([torch.cat([results[0]["keys"][s], results[1]["keys"][s]]) for s in range(STEPS)])
    for result in results:
        assert result["bank_ptr"] == STEPS * WORLD_SIZE * BATCH
        torch.testing.assert_close(result["bank"][: STEPS * WORLD_SIZE * BATCH], expected)
        ndas = torch.nn.functional.normalize(torch.cat([n.reshape(-1, DIM) for r in results for n in r["nda"]]), dim=1)
        assert (result["bank"] @ ndas.t()).max() < 1 - 1e-4  # no rank's NDA embedding was enqueued anywhere

    # SimCLR mode: each rank's loss is the equation over the gathered batch with its own NDA only
    z0, z1, nda = _simclr_inputs()
    total = torch.zeros((), dtype=torch.float64)
    z0_ref, z1_ref = z0.clone().requires_grad_(), z1.clone().requires_grad_()
    from nda_core.losses import nda_nt_xent

    for rank, result in enumerate(results):
        local = slice(rank * SIMCLR_BATCH, (rank + 1) * SIMCLR_BATCH)
        reference = ref_nt_xent(z0.tolist(), z1.tolist(), nda[local].tolist(), TEMPERATURE, first=rank * SIMCLR_BATCH)
        assert float(result["simclr_loss"]) == pytest.approx(reference, rel=1e-10)
        total = total + nda_nt_xent(
            z0_ref[local], z1_ref[local], nda[local], TEMPERATURE, z0_ref, z1_ref, rank * SIMCLR_BATCH
        )
    # gradients through lightly's GatherLayer: each rank's views get d(sum of all ranks' losses)
    total.backward()
    for rank, result in enumerate(results):
        local = slice(rank * SIMCLR_BATCH, (rank + 1) * SIMCLR_BATCH)
        torch.testing.assert_close(result["simclr_grad0"], z0_ref.grad[local])
        torch.testing.assert_close(result["simclr_grad1"], z1_ref.grad[local])
    assert torch.equal(results[0]["simclr_loss_after_rank1_change"], results[0]["simclr_loss"])
    assert not torch.equal(results[1]["simclr_loss_after_rank1_change"], results[1]["simclr_loss"])
