"""Real video decoding and DPC's clip sampling, UCF-101/HMDB-51 split files, frame folders,
moving-MNIST actions, and clear errors for missing or unusable data."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from nda_core.data import shared_data_dir
from video_dpc.datasets import ClipDataset, FileVideos, hmdb51_entries, read_class_index, ucf101_entries
from video_dpc.moving_mnist import CLASSES, SPEEDS, TURN_PERIOD, MovingMNISTActions, trajectory
from video_dpc.sampling import BlockLayout
from video_dpc.transforms import ClipTransform
from video_dpc.video_io import FrameFolderReader, VideoFileReader, _frame_names

VIDEOS = shared_data_dir() / "videos"
FRAMES = {"demo.mp4": 280, "test.mp4": 300, "test.avi": 164, "part_0.mp4": 32}
LAYOUT = BlockLayout(num_seq=4, seq_len=3, ds=3)  # 36 frames: part_0.mp4 is too short


def _decode_all(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def make_ucf_tree(base: Path) -> tuple[Path, Path]:
    """A UCF-101-shaped tree over the real clips: root/<Class>/v_<Class>_gXX_c01.<ext>, ucfTrainTestlist."""
    for name in FRAMES:
        if not (VIDEOS / name).is_file():
            pytest.fail(f"real test video missing: {VIDEOS / name} (../shared/data/videos)")
    root, splits = base / "videos", base / "ucfTrainTestlist"
    layout = {"Demo": ["demo.mp4", "test.avi"], "Test": ["test.mp4", "part_0.mp4"]}
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_text("1 Demo\n2 Test\n")
    train_lines, test_lines = [], []
    for label, (cls, files) in enumerate(layout.items(), 1):
        (root / cls).mkdir(parents=True)
        for group, name in enumerate(files, 1):
            relative = f"{cls}/v_{cls}_g{group:02d}_c01{Path(name).suffix}"
            (root / relative).symlink_to(VIDEOS / name)
            train_lines.append(f"{relative} {label}")
            test_lines.append(relative)
    (splits / "trainlist01.txt").write_text("\n".join(train_lines) + "\n")
    (splits / "testlist01.txt").write_text("\n".join(test_lines[:1] + test_lines[2:3]) + "\n")
    return root, splits


@pytest.fixture(scope="module")
def ucf_tree(tmp_path_factory) -> tuple[Path, Path]:
    return make_ucf_tree(tmp_path_factory.mktemp("ucf"))


def test_real_videos_are_counted_and_decoded_exactly():
    reader = VideoFileReader()
    for name, count in FRAMES.items():
        assert reader.num_frames(VIDEOS / name) == count
    frames = _decode_all(VIDEOS / "test.avi")
    picked = [0, 7, 7, 163, 50]
    out = reader.read(VIDEOS / "test.avi", picked)
    assert out.dtype == torch.uint8 and out.shape == (5, 3, 240, 320)
    assert torch.equal(out, torch.from_numpy(frames[picked]).permute(0, 3, 1, 2))


def test_a_real_video_is_sampled_into_blocks_as_dpc_does(ucf_tree, caplog):
    root, splits = ucf_tree
    entries, classes = ucf101_entries(root, splits, 1, "train", "video")
    assert classes == ["Demo", "Test"] and [e.label for e in entries] == [0, 0, 1, 1]
    with caplog.at_level(logging.WARNING, logger="video_dpc"):
        raw = ClipDataset(FileVideos(entries, classes, VideoFileReader()), LAYOUT, "val", None, labels=True, name="ucf")
    assert "ucf: skipped 1 of 4 videos with at most 36 frames" in caplog.text
    assert len(raw) == 3 and raw.skipped == 1
    blocks, label = raw[0]  # demo.mp4, the centred clip: start (280 - 36) // 2 = 122
    assert blocks.shape == (4, 3, 3, 256, 340) and label == 0
    decoded = torch.from_numpy(_decode_all(VIDEOS / "demo.mp4")).permute(0, 3, 1, 2)
    for n in range(4):
        for t in range(3):
            assert torch.equal(blocks[n, :, t], decoded[122 + n * 9 + t * 3])
    # training clips: augmented and normalised, the same crop and flip on every frame
    train = ClipDataset(
        FileVideos(entries, classes, VideoFileReader()), LAYOUT, "train", ClipTransform(size=64, resize=72)
    )
    clip = train[1]
    assert clip.shape == (4, 3, 3, 64, 64) and clip.dtype == torch.float32


def test_random_starts_cover_dpc_range_and_blocks_tile_the_clip():
    layout = BlockLayout(num_seq=3, seq_len=2, ds=2)
    generator = torch.Generator().manual_seed(0)
    starts = {layout.random_start(20, generator) for _ in range(400)}
    assert starts == set(range(20 - layout.span))  # DPC: uniform in [0, n - num_seq * seq_len * ds)
    assert layout.indices(5).tolist() == [[5, 7], [9, 11], [13, 15]]
    assert not layout.fits(12) and layout.fits(13)


def test_test_windows_half_overlap_over_the_whole_video():
    layout = BlockLayout(num_seq=4, seq_len=2, ds=3)
    windows = layout.test_windows(60)  # 20 frames at stride 3, 10 blocks, windows every 2 blocks
    assert windows.shape == (4, 4, 2)
    assert windows[0].ravel().tolist() == list(range(0, 24, 3))
    assert windows[1, 0].tolist() == [12, 15]
    assert layout.test_windows(60, window_stride=3).shape == (3, 4, 2)


def test_test_mode_returns_every_window(ucf_tree):
    root, splits = ucf_tree
    entries, classes = ucf101_entries(root, splits, 1, "test", "video")
    assert [e.name for e in entries] == ["v_Demo_g01_c01", "v_Test_g01_c01"]
    dataset = ClipDataset(
        FileVideos(entries, classes, VideoFileReader()),
        LAYOUT,
        "test",
        ClipTransform(size=32, resize=32, train=False),
        labels=True,
    )
    windows, label = dataset[1]  # test.mp4: 100 frames at stride 3 -> 33 blocks -> 15 windows
    assert windows.shape == (15, 4, 3, 3, 32, 32) and label == 1


def test_frame_folders_read_like_the_video(tmp_path):
    from PIL import Image

    decoded = _decode_all(VIDEOS / "part_0.mp4")
    folder = tmp_path / "v_Part_g01_c01"
    folder.mkdir()
    for index, frame in enumerate(decoded, 1):
        Image.fromarray(frame).save(folder / f"image_{index:05d}.jpg", quality=95)
    reader = FrameFolderReader()
    assert reader.num_frames(folder) == 32
    listings = _frame_names.cache_info().misses
    out = reader.read(folder, [0, 9, 31])
    assert _frame_names.cache_info().misses == listings  # the folder was listed once, by num_frames
    assert out.shape == (3, 3, 256, 340)
    assert (out.float() - torch.from_numpy(decoded[[0, 9, 31]]).permute(0, 3, 1, 2).float()).abs().mean() < 3


def test_hmdb51_split_files(tmp_path):
    root, splits = tmp_path / "videos", tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    for action, names in {"wave": ["w1.avi", "w2.avi", "w3.avi"], "clap": ["c1.avi", "c2.avi", "c3.avi"]}.items():
        (root / action).mkdir(parents=True)
        lines = [f"{name} {kind}" for name, kind in zip(names, ["1", "2", "0"])]
        (splits / f"{action}_test_split1.txt").write_text("\n".join(lines) + "\n")
        for name in names:
            (root / action / name).symlink_to(VIDEOS / "test.avi")
    train, classes = hmdb51_entries(root, splits, 1, "train", "video")
    test, _ = hmdb51_entries(root, splits, 1, "test", "frames")
    assert classes == ["clap", "wave"]
    assert [(e.name, e.label) for e in train] == [("c1", 0), ("w1", 1)]
    assert [e.path for e in test] == [root / "clap" / "c2", root / "wave" / "w2"]  # frame folders: no extension
    assert len(FileVideos(train, classes, VideoFileReader())) == 2


def test_missing_split_files_and_videos(ucf_tree, tmp_path):
    root, splits = ucf_tree
    with pytest.raises(
        ValueError, match=r"UCF-101 train split file .*trainlist02.txt' not found; data.splits must be the folder"
    ):
        ucf101_entries(root, splits, 2, "train")
    with pytest.raises(ValueError, match=r"UCF-101 class index .*classInd.txt' not found"):
        ucf101_entries(root, tmp_path, 1, "train")
    with pytest.raises(
        ValueError, match=r"no HMDB-51 split files '\*_test_split1.txt' under .*testTrainMulti_7030_splits"
    ):
        hmdb51_entries(root, tmp_path, 1, "train")
    entries, classes = ucf101_entries(root, splits, 1, "train", "frames")  # frames asked, only videos there
    with pytest.raises(
        ValueError, match=r"4 of 4 frame folders listed in the split are missing.*data.root and data.source"
    ):
        FileVideos(entries, classes, FrameFolderReader())
    with pytest.raises(ValueError, match="data.split must be one of"):
        ucf101_entries(root, splits, 4, "train")
    (tmp_path / "classInd.txt").write_text("1 Demo\n3 Test\n")
    with pytest.raises(ValueError, match="number its classes 1..N without gaps"):
        read_class_index(tmp_path / "classInd.txt")


def test_clips_too_short_for_the_layout(ucf_tree):
    root, splits = ucf_tree
    entries, classes = ucf101_entries(root, splits, 1, "train", "video")
    with pytest.raises(
        ValueError,
        match=r"none of the 4 ucf is long enough for 8 blocks of 5 frames at stride ds=9 .*more than 360 "
        r"frames.*longest has 300",
    ):
        ClipDataset(FileVideos(entries, classes, VideoFileReader()), BlockLayout(8, 5, 9), name="ucf")
    with pytest.raises(ValueError, match="too short for 8 blocks"):
        BlockLayout(8, 5, 3).random_start(100)


def test_clip_transform_is_the_same_on_every_frame_and_refuses_small_frames():
    torch.manual_seed(0)
    frame = torch.randint(0, 256, (1, 3, 40, 50), dtype=torch.uint8)
    out = ClipTransform(size=32, resize=None, crop="random", gray={"p": 0.0})(frame.expand(6, -1, -1, -1))
    assert out.shape == (6, 3, 32, 32) and all(torch.equal(out[0], out[t]) for t in range(6))
    grey = ClipTransform(size=32, resize=36, channels=1, mean=[0.5], std=[0.5], train=False)(
        frame.expand(2, -1, -1, -1)
    )
    assert grey.shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match=r"frames of 40x50 are smaller than the 64x64 crop; set data.augment.resize"):
        ClipTransform(size=64, resize=None)(frame)
    with pytest.raises(ValueError, match=r"augment.crop must be one of \['random', 'resized', 'center'\]"):
        ClipTransform(crop="middle")
    with pytest.raises(
        ValueError,
        match=r"augment.color_jitter has an unknown key 'satuation' \(did you mean 'saturation'\?\); known keys",
    ):
        ClipTransform(color_jitter={"brightness": 0.5, "satuation": 0.5})
    with pytest.raises(ValueError, match=r"augment.gray has an unknown key 'prob'; known keys: \['consistent', 'p'\]"):
        ClipTransform(gray={"prob": 0.5})


def test_moving_mnist_classes_are_defined_by_motion_only():
    assert len(CLASSES) == 8
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        axis, speed, pattern = name.split("-")
        path = trajectory(label, 40, 36, rng).astype(float)
        moving, fixed = (1, 0) if axis == "horizontal" else (0, 1)
        assert np.ptp(path[:, fixed]) == 0 and path.min() >= 0 and path.max() <= 36  # one axis, inside the canvas
        steps = np.abs(np.diff(path[:, moving]))
        assert np.median(steps) == pytest.approx(SPEEDS[speed], abs=0.5)
        reversals = np.flatnonzero(np.diff(np.sign(np.diff(path[:, moving]))) != 0)
        if pattern == "turn":
            assert len(reversals) >= 40 // TURN_PERIOD - 1
    # the start does not depend on the class: the same draws give the same first position
    # (up to the axis), and every class uses the digits and starts of the same random stream
    starts = {tuple(sorted(trajectory(label, 2, 36, np.random.default_rng(7))[0].tolist())) for label in range(8)}
    assert len(starts) == 1
    videos = MovingMNISTActions("test", num_videos=16, frames=8, size=64, seed=3)
    assert videos.label(13) == 5 and videos.video(13).shape == (8, 1, 64, 64)
    assert torch.equal(videos.video(5), MovingMNISTActions("test", 16, 8, 64, seed=3).video(5))  # deterministic


def test_moving_mnist_clips_and_missing_mnist(tmp_path):
    dataset = ClipDataset(
        MovingMNISTActions("train", 16, 20, 48),
        BlockLayout(3, 4, 1),
        "train",
        ClipTransform(size=48, resize=None, channels=1, mean=[0.1], std=[0.3]),
        labels=True,
    )
    blocks, label = dataset[9]
    assert blocks.shape == (3, 1, 4, 48, 48) and label == 1
    with pytest.raises(ValueError, match="no MNIST found at .*data.mnist must be a folder holding MNIST/raw"):
        MovingMNISTActions("train", 4, mnist=tmp_path)
