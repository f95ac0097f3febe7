"""video_dpc against the official DPC code (TengdaHan/DPC 1592e5f, vendored in ../shared/vendor).

The vendored ``dpc/model_3d.py`` is imported on the CPU with ``.cuda()`` made a no-op from
outside (the file hard-codes it). With the official model's weights copied into ours, both give
the same score matrix, and ``dpc_loss(pred, target)`` equals the loss that ``dpc/main.py``
computes from the official score and mask (its ``process_output`` / argmax / cross-entropy
steps, re-derived below line by line).
"""

from __future__ import annotations

import sys
import tarfile

import pytest
import torch
import torch.nn.functional as F

from nda_core.data import shared_data_dir
from video_dpc import DPC, dpc_logits, dpc_loss

ARCHIVE = shared_data_dir().parent / "vendor" / "DPC-1592e5f.tar.xz"
BATCH, NUM_SEQ, SEQ_LEN, PRED_STEP, SIZE = 3, 3, 2, 2, 64


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The vendored DPC modules (model_3d, resnet_2d3d), importable on a CPU-only machine."""
    if not ARCHIVE.is_file():
        pytest.fail(f"vendored DPC sources missing: {ARCHIVE} (see ../shared/vendor/README.md)")
    root = tmp_path_factory.mktemp("dpc")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(root, filter="data")
    paths = [str(root / "DPC" / "dpc"), str(root / "DPC" / "backbone")]
    patch = pytest.MonkeyPatch()
    patch.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)  # DPC calls .cuda() on new tensors
    patch.setattr(torch.cuda, "manual_seed", lambda seed: None)
    patch.syspath_prepend(paths[1])
    patch.syspath_prepend(paths[0])
    import model_3d
    import resnet_2d3d

    yield model_3d, resnet_2d3d
    patch.undo()
    for name in ("model_3d", "resnet_2d3d", "select_backbone", "convrnn"):
        sys.modules.pop(name, None)


def _copy_official_weights(reference: torch.nn.Module, ours: DPC) -> None:
    """Copy DPC_RNN's parameters into ours: same order except the GRU, whose reset and update
    gate convolutions we hold as one convolution."""
    theirs = dict(reference.named_parameters())
    ours_named = [(n, p) for n, p in ours.named_parameters() if not n.startswith("agg.")]
    theirs_named = [(n, p) for n, p in reference.named_parameters() if not n.startswith("agg.")]
    assert len(ours_named) == len(theirs_named)
    cell = ours.agg.cells[0]
    prefix = next(n for n in theirs if n.endswith("reset_gate.weight")).rsplit("reset_gate", 1)[0]
    with torch.no_grad():
        for (name, mine), (their_name, their) in zip(ours_named, theirs_named):
            assert mine.shape == their.shape, (name, their_name)
            mine.copy_(their)
        for part in ("weight", "bias"):
            getattr(cell.gates, part).copy_(
                torch.cat([theirs[f"{prefix}reset_gate.{part}"], theirs[f"{prefix}update_gate.{part}"]])
            )
            getattr(cell.candidate, part).copy_(theirs[f"{prefix}out_gate.{part}"])


def _official_loss(score: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dpc/main.py's train(): process_output(mask), flatten score and target, argmax, cross-entropy, top-1.

    main.py flattens the target with .view(); the mask is a permuted view, and today's PyTorch keeps
    that layout in ``mask == 1`` (the PyTorch of 2019 returned a contiguous tensor), so .reshape()."""
    (B, NP, SQ, B2, NS, _) = mask.size()
    target = mask == 1
    score_flattened = score.view(B * NP * SQ, B2 * NS * SQ)
    target_flattened = target.reshape(B * NP * SQ, B2 * NS * SQ).to(int).argmax(dim=1)
    loss = torch.nn.CrossEntropyLoss()(score_flattened, target_flattened)
    top1 = (score_flattened.argmax(1) == target_flattened).float().mean()
    return loss, top1


def _official_score(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """model_3d.py's score: pred and target flattened (B * P * S^2, D), a plain matrix product."""
    B, P, D, S, _ = pred.shape
    pred = pred.permute(0, 1, 3, 4, 2).contiguous().view(B * P * S**2, D)
    target = target.permute(0, 1, 3, 4, 2).contiguous().view(B * P * S**2, D).transpose(0, 1)
    return torch.matmul(pred, target).view(B, P, S**2, B, P, S**2)


class _Zeros(torch.nn.Module):
    """Stands in for the official backbone: zero features (B*N, 256, 1, side, side)."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        return blocks.new_zeros(blocks.shape[0], 256, 1, self.side, self.side)


@pytest.fixture(scope="module")
def official_pair(official):
    model_3d, _ = official
    torch.manual_seed(0)
    reference = model_3d.DPC_RNN(
        sample_size=SIZE, num_seq=NUM_SEQ, seq_len=SEQ_LEN, pred_step=PRED_STEP, network="resnet18"
    )
    ours = DPC(depth=18, width=64, input_size=SIZE, num_seq=NUM_SEQ, seq_len=SEQ_LEN, pred_step=PRED_STEP)
    _copy_official_weights(reference, ours)
    reference.agg.dropout_layer.p = 0.0  # the GRU's dropout draws differ; everything else is deterministic
    ours.agg.dropout.p = 0.0
    return reference, ours


def test_model_gives_the_official_scores_and_loss(official_pair):
    reference, ours = official_pair
    blocks = torch.randn(BATCH, NUM_SEQ, 3, SEQ_LEN, SIZE, SIZE)
    with torch.no_grad():
        score, mask = reference(blocks)
        pred, target = ours(blocks)
    assert pred.shape == target.shape == (BATCH, PRED_STEP, 256, 2, 2)
    torch.testing.assert_close(_official_score(pred, target), score, rtol=1e-4, atol=1e-4)
    loss, top1 = dpc_loss(pred, target)
    official_loss, official_top1 = _official_loss(score, mask)
    torch.testing.assert_close(loss, official_loss, rtol=1e-4, atol=1e-5)
    assert float(top1) == pytest.approx(float(official_top1))


def test_backbone_equals_resnet18_2d3d_full(official, official_pair):
    """Our ResNet2d3d holds the same layers as resnet18_2d3d_full and computes the same features."""
    reference, ours = official_pair
    clips = torch.randn(4, 3, SEQ_LEN, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(ours.backbone(clips), reference.backbone(clips), rtol=1e-4, atol=1e-4)
    assert sum(p.numel() for p in ours.backbone.parameters()) == sum(p.numel() for p in reference.backbone.parameters())


@pytest.mark.parametrize("batch, pred_step, side", [(2, 3, 4), (4, 1, 2), (3, 2, 1)])
def test_loss_equals_the_official_computation_on_random_tensors(official, batch, pred_step, side):
    """dpc_loss(nda=None) on random (pred, target) equals model_3d.py's score and mask fed through
    main.py's loss; the mask comes from the official forward (it depends only on B, P and S)."""
    model_3d, _ = official
    torch.manual_seed(1)
    reference = model_3d.DPC_RNN(
        sample_size=32 * side, num_seq=pred_step + 1, seq_len=1, pred_step=pred_step, network="resnet18"
    )
    reference.backbone = _Zeros(side)  # the mask needs no real features: skip the ResNet's compute
    with torch.no_grad():
        _, mask = reference(torch.zeros(batch, pred_step + 1, 3, 1, 32 * side, 32 * side))
    pred = torch.randn(batch, pred_step, 16, side, side, dtype=torch.float64)
    target = torch.randn(batch, pred_step, 16, side, side, dtype=torch.float64)
    loss, top1 = dpc_loss(pred, target)
    official_loss, official_top1 = _official_loss(_official_score(pred, target), mask)
    torch.testing.assert_close(loss, official_loss)
    assert float(top1) == pytest.approx(float(official_top1))
    # the mask's positives are exactly the diagonal that dpc_logits' labels point at
    logits, labels = dpc_logits(pred, target)
    positives = (mask == 1).reshape(logits.shape).nonzero()
    assert torch.equal(positives[:, 1], labels) and torch.equal(positives[:, 0], labels)
    # every other entry is a negative of the same softmax, whatever the mask calls it
    assert set((mask.reshape(logits.shape)[~torch.eye(len(labels), dtype=torch.bool)]).unique().tolist()) <= {-3, -1, 0}
    assert F.cross_entropy(logits, labels).item() == pytest.approx(loss.item())
