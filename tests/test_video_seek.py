"""The seeking video reader returns, frame for frame, what a full decode gives at the same indices:
on the real videos of ../shared/data/videos and on generated ones with B-frames, several key
frames, open GOPs (MPEG-4 part 2 in AVI) and a first timestamp that is not 0; and a clip near the
end of a long video costs about what one near its start costs."""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from nda_core.data import shared_data_dir
from video_dpc.video_io import VideoFileReader

VIDEOS = shared_data_dir() / "videos"
REAL = ("demo.mp4", "test.mp4", "test.avi", "part_0.mp4")
SIZE = (64, 48)
GOP = 30
FRAMES = 200
OFFSET = 100  # first pts of the offset videos, in frames
RANDOM_SETS = 5
CLIP_SETS = 8
CLIP_SPAN = 36  # DPC-like: a few frames at a stride within a window of the video


def _decode_all(path: Path) -> torch.Tensor:
    with av.open(str(path)) as container:
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])).permute(
            0, 3, 1, 2
        )


def _encode(
    path: Path,
    codec: str,
    frames: int = FRAMES,
    size: tuple[int, int] = SIZE,
    offset: int = 0,
    fmt: str | None = None,
    gop: int | None = GOP,
    b_frames: int = 2,
    options: dict | None = None,
) -> Path:
    """A video whose frames all differ (moving colour ramps), pts ``offset + i`` at 25 fps."""
    rows, cols = np.mgrid[0 : size[1], 0 : size[0]]
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = b_frames
        if options:
            stream.options = options
        for i in range(frames):
            picture = np.stack(
                [(cols * 4 + i * 3) % 256, (rows * 5 + i * 2) % 256, ((cols + rows) * 2 + i * 7) % 256], -1
            )
            frame = av.VideoFrame.from_ndarray(picture.astype(np.uint8), format="rgb24")
            frame.pts = offset + i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _packets(path: Path) -> list[tuple]:
    with av.open(str(path)) as container:
        return [(p.pts, p.dts, p.is_keyframe) for p in container.demux(video=0) if p.size > 0]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("seek")
    return {
        "h264_bframes.mp4": _encode(base / "h264_bframes.mp4", "libx264", options={"bf": "2"}),
        "h264_offset.mkv": _encode(base / "h264_offset.mkv", "libx264", offset=OFFSET),
        "h264_offset.ts": _encode(base / "h264_offset.ts", "libx264", offset=OFFSET, fmt="mpegts"),
        "mpeg4_open_gop.avi": _encode(base / "mpeg4_open_gop.avi", "mpeg4"),
        "mpeg4_offset.mp4": _encode(base / "mpeg4_offset.mp4", "mpeg4", offset=OFFSET),
    }


def _index_sets(count: int, key_frames: list[int], seed: int) -> list[list[int]]:
    """Edge sets (first, last, repeats, unordered, around every key frame, every frame backwards),
    random sets over the whole video and random clip-like sets (a window at a random start)."""
    rng = random.Random(seed)
    last = count - 1
    sets = [[0], [last], [last, 0, last], [last - 1, last], [0, 1, 2], [5, 3, 5, 1], list(range(count))[::-1]]
    for key in key_frames:
        sets += [[key], [max(0, key - 1)], [key, max(0, key - 1)], [max(0, key - 2), min(last, key + 2)]]
    sets += [rng.sample(range(count), rng.randint(1, 12)) + [rng.randrange(count)] for _ in range(RANDOM_SETS)]
    for _ in range(CLIP_SETS):
        start = rng.randrange(max(1, count - CLIP_SPAN))
        window = range(start, min(count, start + CLIP_SPAN))
        sets.append(rng.sample(window, min(len(window), 6)))
    return sets


def _check_equal_to_full_decode(path: Path, caplog, seed: int = 0) -> None:
    reader = VideoFileReader()
    full = _decode_all(path)
    index = reader.frame_index(path)
    assert reader.num_frames(path) == len(full) == index.num_frames
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="video_dpc"):
        for indices in _index_sets(len(full), index.key_frames.tolist(), seed):
            assert torch.equal(reader.read(path, indices), full[indices]), f"{path.name}: frames {indices}"
    assert "decoding it from the first frame" not in caplog.text, f"{path.name}: seeking fell back to a full decode"


@pytest.mark.parametrize("name", REAL)
def test_real_videos_read_by_seeking_equal_a_full_decode(name, caplog):
    path = VIDEOS / name
    if not path.is_file():
        pytest.fail(f"real test video missing: {path} (../shared/data/videos)")
    _check_equal_to_full_decode(path, caplog)


def test_real_videos_seek_where_they_can():
    """demo.mp4 has key frames past its start (so reads must seek to be right); test.avi has
    B-frames whose decoder timestamps are not in presentation order (so pts matching would fail)."""
    reader = VideoFileReader()
    demo = reader.frame_index(VIDEOS / "demo.mp4")
    assert demo.mode == "timestamp" and len(demo.key_frames) > 1
    avi = reader.frame_index(VIDEOS / "test.avi")
    assert avi.mode == "count"
    with av.open(str(VIDEOS / "test.avi")) as container:
        decoded_pts = [frame.pts for frame in container.decode(video=0)]
    assert decoded_pts != sorted(decoded_pts)


@pytest.mark.parametrize(
    "name", ["h264_bframes.mp4", "h264_offset.mkv", "h264_offset.ts", "mpeg4_open_gop.avi", "mpeg4_offset.mp4"]
)
def test_generated_videos_read_by_seeking_equal_a_full_decode(generated, name, caplog):
    path = generated[name]
    packets = _packets(path)
    assert any(pts != dts for pts, dts, _ in packets), f"{name} should hold B-frames"
    assert sum(key for _, _, key in packets) >= FRAMES // GOP, f"{name} should hold several key frames"
    if "offset" in name:
        assert min(pts for pts, _, _ in packets) > 0, f"{name} should start at a pts above 0"
    _check_equal_to_full_decode(path, caplog, seed=len(name))


def test_open_gop_avi_key_frames_are_placed_by_presentation(generated):
    """ffmpeg's MPEG-4 encoder writes open GOPs: a key frame is decoded before, and shown after, two
    B-frames; counting it at its decoding position would shift every frame after a seek by two."""
    path = generated["mpeg4_open_gop.avi"]
    index = VideoFileReader().frame_index(path)
    decode_positions = [i for i, (_, _, key) in enumerate(_packets(path)) if key]
    assert index.mode == "count" and index.key_frames.tolist() != decode_positions


def test_bad_indices_are_refused():
    reader = VideoFileReader()
    with pytest.raises(ValueError, match=r"frame 32 asked of .*part_0.mp4.*holds 32 frames"):
        reader.read(VIDEOS / "part_0.mp4", [0, 32])
    with pytest.raises(ValueError, match="frame -1 asked"):
        reader.read(VIDEOS / "part_0.mp4", [-1])
    with pytest.raises(ValueError, match="no frame indices"):
        reader.read(VIDEOS / "part_0.mp4", [])


def test_a_clip_at_the_end_costs_about_one_at_the_start(tmp_path):
    """Decoding from frame 0 would make the last clip of this 900-frame video ~8x the first."""
    path = _encode(tmp_path / "long.mp4", "libx264", frames=900, size=(160, 120), gop=50, options={"bf": "2"})
    reader = VideoFileReader()
    reader.frame_index(path)
    first, last = list(range(0, 40, 3)), list(range(860, 900, 3))

    def cost(indices: list[int]) -> float:
        begin = time.process_time()
        reader.read(path, indices)
        return time.process_time() - begin

    costs = {"first": [], "last": []}
    for _ in range(5):
        costs["first"].append(cost(first))
        costs["last"].append(cost(last))
    assert min(costs["last"]) < 3 * min(costs["first"]), costs
