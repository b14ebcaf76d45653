"""The face stage in bounded memory: crops written into one array, held frames spilled to disk beyond a budget,
cache pixels (de)compressed in chunks; every result identical to holding everything in memory."""
from __future__ import annotations

import numpy as np
import pytest
import zstandard

from benchmarks.config import FaceSettings
from benchmarks.pipeline import face_cache, held_frames
from benchmarks.pipeline.decode import write_video
from benchmarks.pipeline.faces import extract_faces
from benchmarks.pipeline.held_frames import CropArray, HeldFrames
from datasets.demo import generate_demo


def test_held_frames_spill_to_disk_beyond_the_budget_and_come_back_unchanged():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (36, 64, 3), dtype=np.uint8) for _ in range(7)]
    held = HeldFrames(budget_bytes=frames[0].nbytes * 3)
    for i, frame in enumerate(frames):
        held.put(i, frame)
    assert len(held.memory) == 3 and len(held.spilled) == 4 and held.spilled_bytes == 4 * frames[0].nbytes
    for i in (6, 0, 4, 2, 5, 1, 3):
        assert i in held
        np.testing.assert_array_equal(held.pop(i), frames[i])
        assert i not in held
    assert len(held) == 0
    held.close()


def test_crop_array_grows_past_its_announced_capacity_and_trims_to_the_count():
    crops = CropArray(2, 4)
    for i in range(5):
        crops.put(i, np.full((4, 4, 3), i, np.uint8))
    taken = crops.take(5)
    assert taken.shape == (5, 4, 4, 3) and [int(c[0, 0, 0]) for c in taken] == [0, 1, 2, 3, 4]
    assert crops.take(3).shape[0] == 3


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("memdemo") / "demo"
    generate_demo(root, seed=0, n_train=0, n_test=2, frames=16)
    return sorted(root.rglob("*.mp4"))[0]


@pytest.mark.parametrize("options", [dict(smooth=5), dict(detect_every=4), dict(no_face="center")])
def test_spilling_held_frames_gives_the_same_crops(face_clip, monkeypatch, options):
    settings = FaceSettings(**options)
    in_memory = extract_faces(face_clip, 12, settings)
    monkeypatch.setattr(held_frames, "HELD_FRAMES_BUDGET", 0)  # every held frame goes to the spill file
    spilled = extract_faces(face_clip, 12, settings)
    assert in_memory.status == spilled.status == "ok"
    np.testing.assert_array_equal(in_memory.crops, spilled.crops)
    np.testing.assert_array_equal(in_memory.boxes, spilled.boxes)
    assert in_memory.frame_indices == spilled.frame_indices


def test_a_video_shorter_than_announced_keeps_only_its_frames(tmp_path):
    frames = np.zeros((5, 64, 64, 3), np.uint8)
    path = write_video(tmp_path / "short.mp4", frames)
    result = extract_faces(path, 12, FaceSettings(no_face="center"))
    assert result.status == "ok" and result.crops.shape[0] == len(result.frame_indices) == 5


def test_chunked_pixel_compression_round_trips_and_reads_entries_of_the_one_shot_format(monkeypatch):
    monkeypatch.setattr(face_cache, "PIXEL_CHUNK", 3)
    pixels = np.random.default_rng(1).integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    packed = face_cache.compress_pixels(pixels)
    np.testing.assert_array_equal(face_cache.decompress_pixels(packed, pixels.shape), pixels)
    diff = pixels.copy()
    diff[..., 1:, :] -= pixels[..., :-1, :]
    one_shot = np.frombuffer(zstandard.ZstdCompressor(level=1).compress(diff.tobytes()), np.uint8)
    np.testing.assert_array_equal(face_cache.decompress_pixels(one_shot, pixels.shape), pixels)
    with pytest.raises(ValueError, match="end early"):
        face_cache.decompress_pixels(packed[: len(packed) // 2], pixels.shape)
    with pytest.raises(ValueError, match="more than"):
        face_cache.decompress_pixels(packed, (9, 16, 16, 3))


def test_detector_inputs_resized_in_chunks_give_the_same_scores(monkeypatch):
    import detectors
    from benchmarks.inference import batching

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = detectors.create("meso", random_init=True)
    faces = np.random.default_rng(2).integers(0, 256, (11, 300, 300, 3), dtype=np.uint8)

    def scores(chunk: int) -> list[str]:
        monkeypatch.setattr(batching, "FIT_CHUNK", chunk)
        scorer = batching.BatchScorer({"meso": model}, batch_size=4)
        rows = [{"detector": "meso"}, {"detector": "meso"}]
        video = scorer.video(rows)
        for row in rows:
            scorer.submit(video, row, faces, "none")
        scorer.flush()
        assert scorer.finished() == [video]
        return [row["frame_scores"] for row in rows]

    assert scores(3) == scores(256)


def test_memory_warning_when_one_video_would_take_more_than_half_the_free_memory(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       25000000 kB\nMemAvailable:    4000000 kB\n")
    assert held_frames.memory_warning(32, 384, str(meminfo)) == ""
    line = held_frames.memory_warning(3600, 384, str(meminfo))
    assert line.startswith("warning: --frames 3600") and "4.4 GiB per video" in line and "3.8 GiB is available" in line
    assert held_frames.memory_warning(3600, 384, str(tmp_path / "absent")) == ""
