"""The same NDA components registered into mmpretrain 1.2 train with its real Runner."""

from __future__ import annotations

import pytest

pytest.importorskip("mmpretrain")
from mmengine.runner import Runner  # noqa: E402
from mmselfsup_helpers import BATCH, FEAT_DIM, MMPRETRAIN_CPU_NDA, QUEUE_LEN, tiny_config, write_subset  # noqa: E402

import mmselfsup_nda  # noqa: E402,F401
from nda_core.losses import nda_info_nce  # noqa: E402

ITERS = 2


def test_mmpretrain_runner_trains_nda_moco(tmp_path):
    ann_file = write_subset(tmp_path / "train_20.txt")
    runner = Runner.from_cfg(tiny_config(MMPRETRAIN_CPU_NDA, tmp_path / "work", ann_file))
    model = runner.model
    assert type(model).__module__ == "mmselfsup_nda.mmpretrain_models"
    seen = []
    model.head.register_forward_hook(lambda module, args, out: seen.append((args, out)))
    runner.train()
    assert runner.iter == ITERS and (tmp_path / "work" / "epoch_1.pth").is_file()
    (q, k, queue, nda), out = seen[-1]
    assert nda.shape == (BATCH, 2, FEAT_DIM) and queue.shape == (QUEUE_LEN, FEAT_DIM)
    assert out["loss"].item() == pytest.approx(nda_info_nce(q, k, queue, nda, 0.07).item(), rel=1e-5)
    assert int(model.queue_ptr) == ITERS * BATCH % QUEUE_LEN
