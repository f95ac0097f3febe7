"""Shared helpers of the mmselfsup_nda tests: tiny real-data configs and a gloo rank worker."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
MMSELFSUP_CPU_NDA = ROOT / "plugins/mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"
MMSELFSUP_CPU_MOCO = ROOT / "plugins/mmselfsup/cpu/mocov2_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"
MMPRETRAIN_CPU_NDA = ROOT / "plugins/mmpretrain/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"

BATCH = 8
WIDTH = 8  # ResNet-18 base channels: output features WIDTH * 8
FEAT_DIM = 16
QUEUE_LEN = 32  # a multiple of the global batch on 1 and 2 ranks
IMAGES_PER_CLASS = 2  # 20 images: 2 iterations of 8 per epoch (drop_last)
THREADS = 2


def write_subset(path: Path, split: str = "train", per_class: int = IMAGES_PER_CLASS) -> Path:
    """An mmcls ann file with the first ``per_class`` real CIFAR-10 images of each class."""
    from mmselfsup_nda.data import write_ann_file
    from nda_core.data import cifar10_root

    return write_ann_file(cifar10_root() / split, per_class, path)


def tiny_config(config: Path, work_dir: Path, ann_file: Path, max_epochs: int = 1, **options: Any):
    """Load ``config`` and shrink it to a few real iterations: batch 8, width 8, queue 32."""
    from mmengine.config import Config

    from nda_core.data import cifar10_root

    torch.set_num_threads(THREADS)
    cfg = Config.fromfile(str(config))
    momentum = {"mmpretrain": 0.01}.get(cfg.default_scope, 0.99)
    cfg.merge_from_dict(
        {
            "work_dir": str(work_dir),
            "experiment_name": f"test_{uuid.uuid4().hex[:8]}",
            "model.queue_len": QUEUE_LEN,
            "model.feat_dim": FEAT_DIM,
            "model.momentum": momentum,
            "model.backbone.stem_channels": WIDTH,
            "model.backbone.base_channels": WIDTH,
            "model.neck.in_channels": WIDTH * 8,
            "model.neck.hid_channels": FEAT_DIM,
            "model.neck.out_channels": FEAT_DIM,
            "train_dataloader.batch_size": BATCH,
            "train_dataloader.dataset.data_root": str(cifar10_root()),
            "train_dataloader.dataset.ann_file": str(ann_file),
            "train_cfg.max_epochs": max_epochs,
            "param_scheduler": [dict(type="ConstantLR", factor=1.0, by_epoch=True)],
            "default_hooks.logger.interval": 1,
            "default_hooks.checkpoint.interval": 1,
            "log_processor.window_size": 1,
            **options,
        }
    )
    return cfg


def record_head_and_queue(model) -> dict:
    """Observe (not replace) the head's inputs/outputs and every batch of enqueued keys."""
    seen: dict = {"head": [], "enqueued": []}
    model.head.register_forward_hook(
        lambda module, args, out: seen["head"].append(
            ([a.detach().clone() if a is not None else None for a in args], out)
        )
    )
    original = model._dequeue_and_enqueue

    def record(keys):
        seen["enqueued"].append(keys.detach().clone())
        original(keys)

    model._dequeue_and_enqueue = record
    return seen


def gloo_worker(rank: int, world_size: int, port: int, config: str, work_dir: str, ann_file: str, out: str) -> None:
    """One CPU rank: join a gloo group, train with mmengine's real Runner, save what it saw."""
    import torch.distributed as dist
    from mmengine.runner import Runner

    import mmselfsup_nda  # noqa: F401  (registers NDAMoCo and the CPU DDP wrapper)

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    cfg = tiny_config(Path(config), Path(work_dir), Path(ann_file), max_epochs=1)
    cfg.launcher = "pytorch"
    cfg.model_wrapper_cfg = dict(type="CPUAwareDistributedDataParallel")
    runner = Runner.from_cfg(cfg)
    model = runner.model.module
    seen: dict[str, Any] = {"keys": []}
    original = model._dequeue_and_enqueue

    def record_keys(keys: torch.Tensor) -> None:
        seen["keys"].append(keys.detach().clone())
        original(keys)

    model._dequeue_and_enqueue = record_keys
    runner.train()
    seen.update(
        rank=rank,
        iters=runner.iter,
        queue=model.queue.detach().clone(),
        queue_ptr=int(model.queue_ptr),
        backbone=[p.detach().clone() for p in model.backbone.parameters()],
    )
    torch.save(seen, out.format(rank))
    dist.destroy_process_group()


def tiny_nda_moco(**overrides: Any) -> torch.nn.Module:
    """An ``NDAMoCo`` with a 4-channel CIFAR ResNet-18, built by mmselfsup's registry (jigsaw unless overridden)."""
    from mmselfsup.registry import MODELS

    import mmselfsup_nda  # noqa: F401  (registers NDAMoCo)

    cfg = dict(
        type="NDAMoCo",
        queue_len=16,
        feat_dim=8,
        backbone=dict(type="mmcls.ResNet_CIFAR", depth=18, stem_channels=4, base_channels=4, out_indices=[3]),
        neck=dict(type="MoCoV2Neck", in_channels=32, hid_channels=8, out_channels=8, with_avg_pool=True),
        head=dict(type="NDAContrastiveHead", temperature=0.07),
        nda=dict(type="jigsaw", k=2),
    )
    cfg.update(overrides)
    return MODELS.build(cfg)
