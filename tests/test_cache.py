"""Face cache: content keys, hits without detection, corruption, atomic writes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.config import CACHE_ENV, FaceSettings, default_cache_dir
from benchmarks.hashing import file_sha256
from benchmarks.pipeline.decode import write_video
from benchmarks.pipeline.face_cache import FaceCache

BOX = [40, 30, 80, 70, 0.9]
SETTINGS = FaceSettings(crop_size=96)


class CountingDetector:
    """Fixed face box; counts calls so tests can prove a cache hit skipped detection."""

    def __init__(self, dets: list | None = None) -> None:
        self.dets = np.asarray([BOX] if dets is None else dets, np.float32).reshape(-1, 5)
        self.calls = 0

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.dets


def _video(path: Path, seed: int = 0, count: int = 12) -> Path:
    frames = np.random.default_rng(seed).integers(0, 256, (count, 96, 128, 3), np.uint8)
    return write_video(path, frames)


@pytest.fixture
def video(tmp_path) -> Path:
    return _video(tmp_path / "clip.mp4")


@pytest.fixture
def cache(tmp_path) -> FaceCache:
    return FaceCache(tmp_path / "cache")


def _cache_files(cache: FaceCache) -> list[Path]:
    return sorted(p for p in cache.faces_dir.rglob("*") if p.is_file())


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv(CACHE_ENV)
    assert "dfbench" in str(default_cache_dir())


def test_second_call_is_a_hit(cache, video):
    detector = CountingDetector()
    first = cache.get_or_extract(video, 8, SETTINGS, detector)
    assert first.status == "ok" and detector.calls == 8
    second = cache.get_or_extract(video, 8, SETTINGS, detector)
    assert detector.calls == 8  # no detection on a hit
    np.testing.assert_array_equal(first.crops, second.crops)
    np.testing.assert_array_equal(first.boxes, second.boxes)
    np.testing.assert_array_equal(first.detected, second.detected)
    assert second.frame_indices == first.frame_indices
    assert (second.status, second.message, second.total_frames, second.frame_size) == (
        first.status, first.message, first.total_frames, first.frame_size,
    )
    # a fresh instance (another process) hits too
    assert FaceCache(cache.root).get_or_extract(video, 8, SETTINGS, detector).crops.shape == first.crops.shape
    assert detector.calls == 8


def test_key_depends_on_settings_and_frames(cache, video):
    detector = CountingDetector()
    cache.get_or_extract(video, 8, SETTINGS, detector)
    other = FaceSettings(crop_size=96, margin=1.25)
    assert cache.key(video, 8, other) != cache.key(video, 8, SETTINGS)
    assert cache.key(video, 4, SETTINGS) != cache.key(video, 8, SETTINGS)
    cache.get_or_extract(video, 8, other, detector)
    assert detector.calls == 16  # recomputed
    assert len(_cache_files(cache)) == 2


def test_key_depends_on_content_not_path(cache, tmp_path):
    path = _video(tmp_path / "a.mp4", seed=0)
    key_before = cache.key(path, 8, SETTINGS)
    copy = tmp_path / "b.mp4"
    copy.write_bytes(path.read_bytes())
    assert cache.key(copy, 8, SETTINGS) == key_before
    _video(path, seed=1)  # new bytes at the same path
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # even on coarse clocks
    assert cache.key(path, 8, SETTINGS) != key_before
    assert cache.content_hash(path) == file_sha256(path)


def test_corrupt_entry_is_a_miss_and_rewritten(cache, video):
    detector = CountingDetector()
    first = cache.get_or_extract(video, 8, SETTINGS, detector)
    (entry,) = _cache_files(cache)
    entry.write_bytes(b"not an npz")
    assert cache.load(cache.key(video, 8, SETTINGS)) is None
    again = cache.get_or_extract(video, 8, SETTINGS, detector)
    assert detector.calls == 16
    np.testing.assert_array_equal(again.crops, first.crops)
    assert cache.load(cache.key(video, 8, SETTINGS)) is not None


def test_truncated_entry_is_a_miss(cache, video):
    cache.get_or_extract(video, 8, SETTINGS, CountingDetector())
    (entry,) = _cache_files(cache)
    entry.write_bytes(entry.read_bytes()[:200])
    assert cache.load(cache.key(video, 8, SETTINGS)) is None


def test_atomic_write_leaves_no_temp_files(cache, video):
    cache.get_or_extract(video, 8, SETTINGS, CountingDetector())
    files = _cache_files(cache)
    assert len(files) == 1 and files[0].suffix == ".npz"
    assert not list(cache.faces_dir.rglob("*.tmp"))


def test_no_face_is_cached(cache, video):
    detector = CountingDetector(dets=[])
    assert cache.get_or_extract(video, 8, SETTINGS, detector).status == "no_face"
    result = cache.get_or_extract(video, 8, SETTINGS, detector)
    assert result.status == "no_face" and detector.calls == 8
    assert result.crops.shape == (0, 96, 96, 3)


def test_read_errors_are_not_cached(cache, tmp_path):
    detector = CountingDetector()
    missing = cache.get_or_extract(tmp_path / "gone.mp4", 8, SETTINGS, detector)
    assert missing.status == "missing_file" and "gone.mp4" in missing.message
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    assert cache.get_or_extract(junk, 8, SETTINGS, detector).status == "unreadable"
    assert detector.calls == 0 and _cache_files(cache) == []


def test_size_and_clear(cache, video):
    assert cache.size_bytes() == 0
    cache.get_or_extract(video, 8, SETTINGS, CountingDetector())
    assert cache.size_bytes() > 0
    cache.clear()
    assert cache.size_bytes() == 0 and _cache_files(cache) == []
    cache.clear()  # idempotent
