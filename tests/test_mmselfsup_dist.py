"""Two CPU ranks with gloo: mmengine's real Runner, DDP, MoCo's cross-rank batch shuffle and
all-gathered enqueue, with NDA negatives."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmselfsup")
from dist_helpers import free_port, spawn_ranks  # noqa: E402
from mmselfsup_helpers import BATCH, FEAT_DIM, MMSELFSUP_CPU_NDA, QUEUE_LEN, gloo_worker, write_subset  # noqa: E402

WORLD_SIZE = 2
IMAGES_PER_CLASS = 4  # 40 images: 2 ranks x 2 iterations x batch 8 (+ remainder dropped)
ITERS = 2
JOIN_TIMEOUT_S = 600


def test_two_gloo_ranks_train_in_sync(tmp_path):
    ann_file = write_subset(tmp_path / "train_40.txt", per_class=IMAGES_PER_CLASS)
    outs = [tmp_path / f"rank{rank}.pt" for rank in range(WORLD_SIZE)]
    args = (
        WORLD_SIZE,
        free_port(),
        str(MMSELFSUP_CPU_NDA),
        str(tmp_path / "work"),
        str(ann_file),
        str(tmp_path / "rank{}.pt"),
    )
    spawn_ranks(gloo_worker, args, WORLD_SIZE, JOIN_TIMEOUT_S)
    results = [torch.load(str(tmp_path / "rank{}.pt").format(rank), weights_only=False) for rank in range(WORLD_SIZE)]
    for _rank, result in enumerate(results):
        assert result["iters"] == ITERS
        # each rank enqueues the keys of both ranks (all-gather): 2 x batch per step
        assert [keys.shape for keys in result["keys"]] == [(BATCH, FEAT_DIM)] * ITERS
        assert result["queue_ptr"] == ITERS * WORLD_SIZE * BATCH % QUEUE_LEN
    # DDP keeps the replicas identical and the gathered queues agree across ranks
    for a, b in zip(results[0]["backbone"], results[1]["backbone"]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(results[0]["queue"], results[1]["queue"])
    gathered = torch.cat([results[0]["keys"][-1], results[1]["keys"][-1]])
    last = (ITERS - 1) * WORLD_SIZE * BATCH
    torch.testing.assert_close(results[0]["queue"][:, last : last + WORLD_SIZE * BATCH].t(), gathered)
    assert all(path.is_file() for path in outs)
