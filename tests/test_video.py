"""Frame sampling and the single-pass reader, on generated videos and the shared real clips."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from benchmarks.pipeline.decode import (
    FrameSample,
    VideoReadError,
    count_frames,
    read_frames,
    sample_indices,
    write_video,
)
from tests.conftest import shared_path

GREY_STEP = 6  # frame i is a solid grey of level i * GREY_STEP


def grey_frames(count: int, height: int = 120, width: int = 160) -> np.ndarray:
    levels = (np.arange(count) * GREY_STEP).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (count, height, width, 3)).copy()


@pytest.fixture(scope="module")
def grey_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "grey40.mp4", grey_frames(40))


# --- sample_indices ---


def test_sample_indices_typical():
    assert sample_indices(300, 32) == np.linspace(0, 300, 32, endpoint=False).astype(int).tolist()
    assert sample_indices(100, 4) == [0, 25, 50, 75]


def test_sample_indices_short_and_equal():
    assert sample_indices(5, 32) == [0, 1, 2, 3, 4]
    assert sample_indices(32, 32) == list(range(32))


def test_sample_indices_degenerate():
    assert sample_indices(0, 32) == []
    assert sample_indices(10, 0) == []
    assert sample_indices(1, 3) == [0]


def test_sample_indices_sorted_unique():
    for total in range(1, 80):
        for n in (1, 7, 32):
            got = sample_indices(total, n)
            assert got == sorted(set(got)) and len(got) == min(total, n) and got[-1] < total


# --- read_frames on generated videos ---


def test_read_frames_indices_and_content(grey_video):
    sample = read_frames(grey_video, num_frames=8)
    assert isinstance(sample, FrameSample)
    assert sample.indices == [0, 5, 10, 15, 20, 25, 30, 35]
    assert sample.frames.shape == (8, 120, 160, 3) and sample.frames.dtype == np.uint8
    assert sample.total_frames == 40 and sample.fps == pytest.approx(25.0)
    means = sample.frames.reshape(8, -1).mean(axis=1)
    np.testing.assert_allclose(means, np.array(sample.indices) * GREY_STEP, atol=4)


def test_count_frames(grey_video):
    assert count_frames(grey_video) == 40


def test_count_frames_without_header_count(tmp_path):
    """Matroska stores no frame count: packets are counted by demuxing."""
    path = write_video(tmp_path / "grey.mkv", grey_frames(30, 64, 64))
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0
    assert count_frames(path) == 30
    assert read_frames(path, 3).indices == [0, 10, 20]


def test_short_video_returns_all_frames(tmp_path):
    path = write_video(tmp_path / "five.mp4", grey_frames(5, 64, 64))
    sample = read_frames(path, num_frames=32)
    assert sample.indices == [0, 1, 2, 3, 4] and sample.frames.shape == (5, 64, 64, 3)


def test_fewer_frames_than_reported(tmp_path):
    """A truncated file whose header still claims 40 frames: use what decodes, record real indices."""
    full = write_video(tmp_path / "full.mp4", np.random.default_rng(0).integers(0, 255, (40, 64, 64, 3), np.uint8), faststart=True)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert count_frames(cut) == 40
    sample = read_frames(cut, num_frames=40)
    assert 0 < len(sample.indices) < 40
    assert sample.indices == list(range(len(sample.indices)))
    assert sample.total_frames == len(sample.indices)


def test_rotation_metadata_is_applied(tmp_path):
    image = np.zeros((64, 96, 3), np.uint8)
    image[:32, :48] = 255  # white top-left quadrant
    path = tmp_path / "rotated.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(90)  # counter-clockwise
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    frame = read_frames(path, 1).frames[0]
    assert frame.shape == (96, 64, 3)
    assert frame[-10:, :10].mean() > 200 and frame[:10, :10].mean() < 50  # top-left went to bottom-left


# --- bad files ---


def _expect(path: Path, status: str) -> None:
    with pytest.raises(VideoReadError) as info:
        read_frames(path, 8)
    assert info.value.status == status
    assert path.name in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.mp4", "missing_file")


def test_zero_length_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _expect(path, "unreadable")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, np.uint8).tobytes())
    _expect(path, "unreadable")


def test_text_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    _expect(path, "unreadable")


def test_truncated_real_file(tmp_path):
    """FF++ files keep their index (moov) at the end, so a cut copy cannot be opened at all."""
    source = shared_path("videos", "ffpp", "original_sequences", "youtube", "c23", "videos", "004.mp4")
    data = source.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: int(len(data) * 0.3)])
    _expect(path, "unreadable")


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        t = np.arange(44100 // 2) / 44100
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    _expect(path, "no_video_stream")


# --- real material ---


def test_real_dfdc_portrait_sample():
    path = shared_path("videos", "dfdc", "dfdc_train_part_0", "brtujopkby.mp4")
    sample = read_frames(path, 32)
    assert sample.indices == sample_indices(300, 32)
    assert sample.total_frames == 300
    assert sample.frames.shape == (32, 1920, 1080, 3)
    assert sample.fps == pytest.approx(29.97, abs=0.01)
