"""Per-rank NDA under each framework's own DDP, on 2 CPU ranks (gloo): with identical inputs on both
ranks the NDA draws differ (one stream per rank), and the loss receives only the local batch's NDA
features (never gathered across ranks).

One pair of spawned processes joins a gloo group once and runs, in turn, mmengine's real Runner
(mmselfsup_nda's NDAMoCo), Lightning's DDP strategy (lightly_nda's NDAMoCo) and Lightning's DDP
strategy for NDA-DPC (video_dpc), a few real steps each; after training every rank makes NDA
images of the same probe through the adapter's own NDA path. StudioGAN's ``-DDP`` is in
``tests/test_studiogan_ddp.py`` (its ranks are spawned by StudioGAN itself).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmselfsup")
pytest.importorskip("lightly")
from dist_helpers import free_port, spawn_ranks  # noqa: E402
from mmselfsup_helpers import BATCH as MM_BATCH  # noqa: E402
from mmselfsup_helpers import FEAT_DIM, MMSELFSUP_CPU_NDA, tiny_config, write_subset

WORLD_SIZE = 2
MM_PER_CLASS = 4  # 40 images: 2 iterations of 2 ranks x 8
LIGHTLY_BATCH, LIGHTLY_PER_CLASS, LIGHTLY_STEPS, LIGHTLY_DIM = 8, 4, 2, 16
VIDEO_STEPS = 2
PROBE_SHAPE = (4, 3, 32, 32)
VIDEO_CFG = Path(__file__).resolve().parents[1] / "plugins" / "video_dpc" / "cpu" / "nda-dpc-jigsaw_moving-mnist.yaml"
VIDEO_TINY = [  # as tests/test_video_train.py: a tiny model on 64 px moving-MNIST
    "--model.depth=10",
    "--model.width=4",
    "--model.num_seq=4",
    "--model.seq_len=2",
    "--data.frames=12",
    "--data.train_videos=16",
    "--data.test_videos=4",
    "--data.batch_size=4",
]
TIMEOUT_S = 600


def _probe() -> torch.Tensor:
    """The same real-valued images on every rank."""
    return torch.linspace(0, 1, int(torch.tensor(PROBE_SHAPE).prod())).reshape(PROBE_SHAPE)


def _record(seen: dict, **values: object) -> None:
    """Append what a forward hook saw (and return None, which keeps the module's output)."""
    for name, value in values.items():
        seen[name].append(value)


def _quiet() -> None:
    torch.set_num_threads(1)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "mmengine"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def _mmselfsup(rank: int, work: Path, ann_file: str) -> dict:
    from mmengine.runner import Runner

    import mmselfsup_nda  # noqa: F401  (registers NDAMoCo and the CPU DDP wrapper)

    cfg = tiny_config(MMSELFSUP_CPU_NDA, work / "mm", Path(ann_file), max_epochs=1)
    cfg.launcher = "pytorch"
    cfg.model_wrapper_cfg = dict(type="CPUAwareDistributedDataParallel")
    cfg.randomness = dict(seed=0)  # mmengine's default diff_rank_seed=False: every rank seeded alike
    torch.set_num_threads(1)
    runner = Runner.from_cfg(cfg)
    model = runner.model.module
    seen: dict = {"nda": [], "queries": []}
    model.head.register_forward_hook(lambda _, args, out: _record(seen, queries=args[0].shape[0], nda=args[3].shape))
    runner.train()
    probe = _probe()
    seen.update(iters=runner.iter, probe_nda=model.make_nda_images(probe, probe), queue_ptr=int(model.queue_ptr))
    return seen


def _lightly(rank: int, cifar_root: str) -> dict:
    import pytorch_lightning as pl
    import torchvision.transforms as T
    from lightly.transforms.multi_view_transform import MultiViewTransform
    from pytorch_lightning.strategies import DDPStrategy

    from lightly_nda import NDAMoCo, cifar_resnet
    from lightly_nda.data import image_folder

    pl.seed_everything(0, verbose=False)  # Lightning seeds every rank alike
    backbone, feature_dim = cifar_resnet("resnet-9", width=0.125)
    model = NDAMoCo(
        backbone,
        feature_dim,
        nda="jigsaw",
        memory_bank_size=(64, LIGHTLY_DIM),
        hidden_dim=32,
        projection_dim=LIGHTLY_DIM,
        gather_distributed=True,
    )
    seen: dict = {"nda": [], "batch": []}
    model.criterion.register_forward_hook(
        lambda _, args, kwargs, out: _record(seen, batch=args[0].shape[0], nda=kwargs["nda"].shape),
        with_kwargs=True,
    )
    views = MultiViewTransform([T.ToTensor(), T.ToTensor()])
    loader = torch.utils.data.DataLoader(
        image_folder(Path(cifar_root) / "train", views, LIGHTLY_PER_CLASS),
        batch_size=LIGHTLY_BATCH,
        shuffle=True,
        drop_last=True,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=WORLD_SIZE,
        strategy=DDPStrategy(process_group_backend="gloo"),
        max_steps=LIGHTLY_STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    probe = _probe()
    seen.update(steps=trainer.global_step, probe_nda=model.nda_images([probe, probe]))
    return seen


def _video(rank: int, work: Path) -> dict:
    import pytorch_lightning as pl
    from pytorch_lightning.strategies import DDPStrategy

    from video_dpc.cli import build

    cli = build("pretrain", ["--config", str(VIDEO_CFG), *VIDEO_TINY], instantiate=False)  # the command's parse
    pl.seed_everything(0, verbose=False)
    built = cli.parser.instantiate_classes(cli.config)  # its model and data module (our own Trainer below)
    module, model = built.model, built.model.hparams
    seen: dict = {"nda": [], "batch": []}
    module.negatives.register_forward_hook(lambda _, args, out: _record(seen, batch=args[1].shape[0], nda=out.shape))
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=WORLD_SIZE,
        strategy=DDPStrategy(process_group_backend="gloo"),
        max_steps=VIDEO_STEPS,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=built.data)
    size = model["input_size"] if isinstance(model["input_size"], int) else model["input_size"][0]
    layout = (4, model["num_seq"], model["in_channels"], model["seq_len"], size, size)  # (B, N, C, T, H, W)
    blocks = torch.linspace(0, 1, int(torch.tensor(layout).prod())).reshape(layout)
    pred_step = model["pred_step"]
    checkpoint = work / "video.ckpt"
    trainer.save_checkpoint(checkpoint)  # rank 0 writes it (with rank 0's NDA stream)
    seen["probe_nda"] = module.negatives.make_clips(blocks, pred_step, module.generator)
    torch.distributed.barrier()
    module.on_load_checkpoint(torch.load(checkpoint, weights_only=True))  # what a resumed run does on every rank
    seen["probe_nda_resumed"] = module.negatives.make_clips(blocks, pred_step, module.generator)
    seen["steps"] = trainer.global_step
    return seen


def _worker(rank: int, port: int, work: str, ann_file: str, cifar_root: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(WORLD_SIZE),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        NODE_RANK="0",
    )
    _quiet()
    torch.distributed.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    results = {
        "mmselfsup": _mmselfsup(rank, Path(work), ann_file),
        "lightly": _lightly(rank, cifar_root),
        "video": _video(rank, Path(work)),
    }
    torch.save(results, Path(work) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory, cifar_root) -> list[dict]:
    work = tmp_path_factory.mktemp("per_rank")
    ann_file = write_subset(work / "train_40.txt", per_class=MM_PER_CLASS)
    spawn_ranks(_worker, (free_port(), str(work), str(ann_file), str(cifar_root)), WORLD_SIZE, TIMEOUT_S)
    return [torch.load(work / f"rank{rank}.pt", weights_only=False) for rank in range(WORLD_SIZE)]


def test_rank_generator_is_the_global_rng_in_one_process():
    from nda_core.random import RankGenerator

    assert RankGenerator()("cpu") is None  # single-process training keeps its global-RNG draws (and torch.compile)


def test_mmselfsup_ranks_draw_their_own_nda_and_keep_it_local(ranks):
    results = [r["mmselfsup"] for r in ranks]
    for result in results:
        assert result["iters"] == 2 and len(result["nda"]) == 2
        # the head gets (local batch, 2 NDA views, D): this rank's NDA features only, never gathered
        assert all(shape == (MM_BATCH, 2, FEAT_DIM) for shape in result["nda"]) and result["queries"] == [MM_BATCH] * 2
        assert result["queue_ptr"] == 2 * WORLD_SIZE * MM_BATCH % 32  # the queue holds both ranks' keys, not NDA
    # same seed on both ranks (diff_rank_seed=False), same probe: different NDA images
    assert results[0]["probe_nda"].shape == (2 * PROBE_SHAPE[0], *PROBE_SHAPE[1:])
    assert not torch.equal(results[0]["probe_nda"], results[1]["probe_nda"])


def test_lightly_ranks_draw_their_own_nda_and_keep_it_local(ranks):
    results = [r["lightly"] for r in ranks]
    for result in results:
        assert result["steps"] == LIGHTLY_STEPS
        assert result["batch"] == [LIGHTLY_BATCH] * LIGHTLY_STEPS
        assert all(shape == (LIGHTLY_BATCH, 2, LIGHTLY_DIM) for shape in result["nda"])  # local, not gathered
    assert not torch.equal(results[0]["probe_nda"], results[1]["probe_nda"])  # seed_everything(0) on both ranks


def test_video_dpc_ranks_draw_their_own_nda_also_after_resume(ranks):
    results = [r["video"] for r in ranks]
    for result in results:
        assert result["steps"] == VIDEO_STEPS
        assert (
            all(shape[0] == b for shape, b in zip(result["nda"], result["batch"])) and len(result["nda"]) == VIDEO_STEPS
        )
    assert not torch.equal(results[0]["probe_nda"], results[1]["probe_nda"])
    # the checkpoint holds rank 0's stream: rank 0 continues it exactly, rank 1 forks its own from it
    assert torch.equal(results[0]["probe_nda_resumed"], results[0]["probe_nda"])
    assert not torch.equal(results[1]["probe_nda_resumed"], results[0]["probe_nda_resumed"])
