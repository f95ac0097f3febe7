"""NDA clips for DPC: one nda_core draw for all frames of a clip, partners from other videos,
the block/clip/vector options, features that only ever become negatives, clear errors."""

from __future__ import annotations

import pytest
import torch

from video_dpc import DPC, DPCNegatives, dpc_logits

B, N, C, T, H, W = 4, 5, 3, 2, 32, 32
PRED = 2


def _blocks(seed: int = 0) -> torch.Tensor:
    """Videos whose every frame differs (so a per-frame draw would show)."""
    return torch.rand(B, N, C, T, H, W, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "spec", ["jigsaw", "cutout", "cutmix", "stitch", "mixup", {"type": "mixture", "transforms": ["jigsaw", "cutmix"]}]
)
def test_one_draw_for_every_frame_of_a_clip(spec):
    negatives = DPCNegatives(spec, blocks="all")
    blocks = _blocks()
    clips, params = negatives.make_clips(blocks, PRED, torch.Generator().manual_seed(1), return_params=True)
    assert clips.shape == blocks.shape
    # every frame of every block equals the same draw replayed on that frame alone (an image batch)
    for n in range(N):
        for t in range(T):
            frames = blocks[:, n, :, t]
            torch.testing.assert_close(clips[:, n, :, t], negatives.transform.replay(frames, params[0], frames))


def test_two_image_ndas_pair_each_video_with_another_video():
    blocks = torch.arange(B, dtype=torch.float32).view(B, 1, 1, 1, 1, 1).expand(B, N, C, T, H, W).contiguous()
    clips = DPCNegatives("cutmix", blocks="all").make_clips(blocks, PRED, torch.Generator().manual_seed(0))
    for b in range(B):
        values = clips[b].unique().tolist()
        assert len(values) == 2 and float(b) in values  # own pixels plus a box of one other video


def test_jigsaw_clips_differ_from_the_video_on_every_frame():
    blocks = _blocks()
    clips = DPCNegatives({"type": "jigsaw", "k": 2}).make_clips(blocks, PRED)
    target_blocks = blocks[:, N - PRED :]
    assert clips.shape == (B, PRED, C, T, H, W)
    assert (clips - target_blocks).abs().flatten(3).amax(-1).gt(0).all()  # no identity permutation on any frame


@pytest.mark.parametrize("blocks, expected", [("target", [3, 4]), ("context", [0, 1, 2]), ("all", [0, 1, 2, 3, 4])])
def test_which_blocks_become_nda_clips(blocks, expected):
    negatives = DPCNegatives("vflip", blocks=blocks)
    assert negatives.block_indices(N, PRED) == expected
    videos = _blocks()
    torch.testing.assert_close(negatives.make_clips(videos, PRED), videos[:, expected].flip(-2))


class _Tagger(torch.nn.Module):
    """A stand-in encoder: feature d of clip (b, n) at position (y, x) is 1000 b' + 100 n + 10 y + x
    where b' is the clip's video index read from its pixels."""

    pred_step = PRED

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        video = clips[:, 0, 0, 0, 0, 0]  # the pixel value holds the video index
        batch, count = clips.shape[:2]
        tag = 1000 * video.view(batch, 1, 1, 1) + 100 * torch.arange(count).view(1, count, 1, 1)
        tag = tag + 10 * torch.arange(2).view(1, 1, 2, 1) + torch.arange(2).view(1, 1, 1, 2)
        return tag.unsqueeze(2).expand(batch, count, 3, 2, 2).float()


def test_every_video_gets_the_features_of_its_own_nda_clips():
    videos = torch.arange(B, dtype=torch.float32).view(B, 1, 1, 1, 1, 1).expand(B, N, C, T, H, W).contiguous()
    negatives = DPCNegatives("vflip", blocks="target", clips=2)
    nda = negatives(_Tagger(), videos)
    assert nda.shape == (B, 2 * PRED * 4, 3)  # clips x blocks x positions
    for b in range(B):
        assert set((nda[b, :, 0] // 1000).tolist()) == {float(b)}


def test_vectors_keeps_a_random_subset_of_the_own_features():
    videos = torch.arange(B, dtype=torch.float32).view(B, 1, 1, 1, 1, 1).expand(B, N, C, T, H, W).contiguous()
    nda = DPCNegatives("vflip", vectors=3)(_Tagger(), videos, torch.Generator().manual_seed(0))
    assert nda.shape == (B, 3, 3)
    for b in range(B):
        assert set((nda[b, :, 0] // 1000).tolist()) == {float(b)} and nda[b, :, 0].unique().numel() == 3


def test_nda_features_enter_only_negative_columns_and_carry_gradients():
    torch.manual_seed(0)
    model = DPC(depth=10, width=4, input_size=32, num_seq=N, seq_len=T, pred_step=PRED)
    videos = torch.randn(B, N, C, T, H, W)
    pred, target = model(videos)
    nda = DPCNegatives("jigsaw")(model, videos)
    assert nda.shape == (B, PRED * 1 * 1, 16) and nda.requires_grad
    logits, labels = dpc_logits(pred, target, nda)
    assert int(labels.max()) < target[:, :, 0].numel()  # positives are targets, never NDA columns
    nda.sum().backward()
    assert model.backbone.stem[0].weight.grad.abs().sum() > 0
    model.zero_grad()
    frozen = DPCNegatives("jigsaw", grad=False)(model, videos)
    assert not frozen.requires_grad


def test_unknown_nda_and_bad_options():
    with pytest.raises(
        ValueError, match=r"nda.transform='jigsaw3' is not a valid NDA: unknown NDA 'jigsaw3'; known NDAs"
    ):
        DPCNegatives("jigsaw3")
    with pytest.raises(TypeError, match=r"nda.transform=.*is not a valid NDA: NDA 'jigsaw' got arguments \['size'\]"):
        DPCNegatives({"type": "jigsaw", "size": 3})
    with pytest.raises(ValueError, match=r"nda.blocks must be one of \['target', 'context', 'all'\]"):
        DPCNegatives("jigsaw", blocks="future")
    with pytest.raises(ValueError, match="nda.clips must be >= 1"):
        DPCNegatives("jigsaw", clips=0)


def test_two_image_nda_on_a_single_video_says_what_to_do():
    with pytest.raises(ValueError, match=r"cannot make NDA clips from a batch of 1 videos.*at least 2"):
        DPCNegatives("mixup").make_clips(_blocks()[:1], PRED)


def test_jigsaw_on_frames_it_cannot_split():
    with pytest.raises(ValueError, match=r"frames 30x30.*H=30 and k=4"):
        DPCNegatives({"type": "jigsaw", "k": 4}).make_clips(torch.rand(2, N, C, T, 30, 30), PRED)
