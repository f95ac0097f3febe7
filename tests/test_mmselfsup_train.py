"""mmengine's real Runner trains NDAMoCo (and stock MoCo) from the plugin's CPU configs on real
CIFAR-10 images: NDA logits enter the loss, NDA features never reach the queue, resume works."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmselfsup")
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmselfsup_helpers import (  # noqa: E402
    BATCH,
    FEAT_DIM,
    MMSELFSUP_CPU_MOCO,
    MMSELFSUP_CPU_NDA,
    QUEUE_LEN,
    record_head_and_queue,
    tiny_config,
    write_subset,
)

import mmselfsup_nda  # noqa: E402,F401
from nda_core.losses import nda_info_nce  # noqa: E402

ITERS_PER_EPOCH = 2
NDA_VIEWS = 2


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory) -> Path:
    return write_subset(tmp_path_factory.mktemp("cifar10") / "train_20.txt")


def _scalars(work_dir: Path) -> list[dict]:
    files = sorted(work_dir.glob("*/vis_data/scalars.json"))
    assert files, f"no scalars.json under {work_dir}"
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


def test_runner_trains_nda_moco_and_nda_logits_enter_the_loss(nda_moco_run):
    """The session's 1-epoch run (conftest.nda_moco_run), observed while it trained."""
    model, queue_before, seen, work_dir = (
        nda_moco_run.model,
        nda_moco_run.queue_before,
        nda_moco_run.seen,
        nda_moco_run.work_dir,
    )

    assert nda_moco_run.iters == ITERS_PER_EPOCH
    assert (work_dir / "epoch_1.pth").is_file()
    assert len(seen["head"]) == ITERS_PER_EPOCH
    (q, k, queue, nda), out = seen["head"][-1]
    # every query gets NDA(query image) and NDA(key image) as extra negatives beside the queue
    assert nda.shape == (BATCH, NDA_VIEWS, FEAT_DIM) and queue.shape == (QUEUE_LEN, FEAT_DIM)
    logits = model.head.logits(q, k, queue, nda)
    assert logits.shape == (BATCH, 1 + QUEUE_LEN + NDA_VIEWS)
    assert out["loss"].item() == pytest.approx(nda_info_nce(q, k, queue, nda, 0.07).item(), rel=1e-5)
    assert out["loss"].item() != pytest.approx(nda_info_nce(q, k, queue, None, 0.07).item(), rel=1e-3)
    assert out["logit_nda"].item() == pytest.approx(logits[:, 1 + QUEUE_LEN :].mean().item(), rel=1e-5)

    # only the positive keys were enqueued: pointer moved by B per step, columns hold k
    assert [keys.shape for keys in seen["enqueued"]] == [(BATCH, FEAT_DIM)] * ITERS_PER_EPOCH
    assert int(model.queue_ptr) == ITERS_PER_EPOCH * BATCH % QUEUE_LEN
    for step, keys in enumerate(seen["enqueued"]):
        columns = model.queue[:, step * BATCH : (step + 1) * BATCH].t()
        torch.testing.assert_close(columns, keys)
        for nda_features in seen["head"][step][0][3].unbind(1):
            assert not torch.allclose(columns, nda_features, atol=1e-4)
    torch.testing.assert_close(model.queue[:, ITERS_PER_EPOCH * BATCH :], queue_before[:, ITERS_PER_EPOCH * BATCH :])

    logged = [row for row in _scalars(work_dir) if "loss" in row]
    assert logged and all({"logit_pos", "logit_queue", "logit_nda"} <= set(row) for row in logged)


def test_stock_mmselfsup_moco_trains_once_mmselfsup_nda_is_imported(tmp_path, ann_file):
    """The plain baseline uses mmselfsup's own MoCo and ContrastiveHead: it needs the workarounds."""
    runner = Runner.from_cfg(tiny_config(MMSELFSUP_CPU_MOCO, tmp_path, ann_file))
    assert type(runner.model).__name__ == "MoCo"
    runner.train()
    assert runner.iter == ITERS_PER_EPOCH and (tmp_path / "epoch_1.pth").is_file()


def test_pipeline_nda_view_adds_a_negative(tmp_path, ann_file):
    """NDAView in a third MultiView branch: its image is one more NDA negative per query."""
    cfg = tiny_config(MMSELFSUP_CPU_NDA, tmp_path, ann_file, **{"model.num_nda_views": 1})
    view_pipeline = cfg.view_pipeline
    cfg.train_dataloader.dataset.pipeline[1] = dict(
        type="MultiView",
        num_views=[2, 1],
        transforms=[view_pipeline, view_pipeline + [dict(type="NDAView", nda=dict(type="cutout"))]],
    )
    runner = Runner.from_cfg(cfg)
    seen = record_head_and_queue(runner.model)
    runner.train()
    (q, k, queue, nda), _ = seen["head"][-1]
    assert nda.shape == (BATCH, 2, FEAT_DIM)  # 1 batch NDA view + 1 pipeline NDA view


def test_resume_continues_training_and_queue(tmp_path, nda_moco_run):
    """The session's 1-epoch run (its work folder copied) resumed to epoch 2."""
    first, ann_file = nda_moco_run.model, nda_moco_run.ann_file
    shutil.copytree(nda_moco_run.work_dir, tmp_path, dirs_exist_ok=True)
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "epoch_1.pth"))  # mmengine's pointer, to the copy
    saved_queue, saved_ptr = first.queue.clone(), int(first.queue_ptr)
    saved_backbone = [p.detach().clone() for p in first.backbone.parameters()]

    cfg = tiny_config(MMSELFSUP_CPU_NDA, tmp_path, ann_file, max_epochs=2, resume=True)
    second = Runner.from_cfg(cfg)
    seen: dict = {}

    def before_train(runner) -> None:
        seen.update(
            iter=runner.iter,
            epoch=runner.epoch,
            queue=runner.model.queue.clone(),
            ptr=int(runner.model.queue_ptr),
            backbone=[p.detach().clone() for p in runner.model.backbone.parameters()],
        )

    hook = Hook()
    hook.before_train = before_train
    second.register_hook(hook, priority="LOWEST")
    second.train()

    assert seen["iter"] == ITERS_PER_EPOCH and seen["epoch"] == 1
    torch.testing.assert_close(seen["queue"], saved_queue)
    assert seen["ptr"] == saved_ptr
    for resumed, saved in zip(seen["backbone"], saved_backbone):
        torch.testing.assert_close(resumed, saved)
    assert second.iter == 2 * ITERS_PER_EPOCH and (tmp_path / "epoch_2.pth").is_file()
    assert int(second.model.queue_ptr) == 2 * ITERS_PER_EPOCH * BATCH % QUEUE_LEN
