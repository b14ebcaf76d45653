"""Frame sampling strategies, YuNet / no face detector, the no-face policy and the cache command."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.config import FaceSettings
from benchmarks.pipeline.decode import write_video
from benchmarks.pipeline.face_cache import FaceCache
from benchmarks.pipeline.face_detectors import make_detector
from benchmarks.pipeline.faces import extract_faces, inner_crop
from benchmarks.sampling import select_indices
from tests.conftest import shared_path


def test_sampling_strategies():
    assert select_indices(100, 4) == [0, 25, 50, 75]
    assert select_indices(100, 4, "first") == [0, 1, 2, 3]
    assert select_indices(100, 4, "every:10") == [0, 10, 20, 30]
    assert select_indices(25, 10, "every:10") == [0, 10, 20]
    assert select_indices(3, 10, "first") == [0, 1, 2]
    for bad in ("every", "every:0", "random"):
        with pytest.raises(ValueError, match="unknown frame sampling"):
            FaceSettings(sampling=bad)


def test_bad_face_settings_are_clear_errors():
    with pytest.raises(ValueError, match="unknown face detector"):
        FaceSettings(detector="dlib")
    with pytest.raises(ValueError, match="--face-model"):
        make_detector(FaceSettings(detector="yunet"))
    with pytest.raises(FileNotFoundError, match="YuNet model not found"):
        make_detector(FaceSettings(detector="yunet", model_path="/nope/yunet.onnx"))


@pytest.fixture
def noise_video(tmp_path):
    rng = np.random.default_rng(0)
    return write_video(tmp_path / "noise.mp4", rng.integers(0, 60, (10, 120, 160, 3), dtype=np.uint8), fps=10)


def test_no_face_skip_and_center_policies(noise_video):
    skipped = extract_faces(noise_video, 4, FaceSettings())
    assert skipped.status == "no_face" and len(skipped.crops) == 0
    centred = extract_faces(noise_video, 4, FaceSettings(no_face="center"))
    assert centred.status == "ok" and centred.crops.shape == (4, 384, 384, 3)
    assert not centred.detected.any() and "centre crop" in centred.message


def test_face_detector_none_treats_frames_as_face_crops(tmp_path):
    frames = np.zeros((6, 100, 100, 3), np.uint8)
    frames[:, 30:70, 30:70] = 200  # a bright square in the middle of a "face crop"
    video = write_video(tmp_path / "crop.mp4", frames, fps=6)
    crops = extract_faces(video, 3, FaceSettings(detector="none", sampling="first"))
    assert crops.status == "ok" and crops.frame_indices == [0, 1, 2]
    face = inner_crop(crops.crops, 1.5)[0]  # 256 px: the whole 100 px frame, enlarged
    assert face.shape == (256, 256, 3)
    assert face[128, 128].mean() > 180 and face[10, 10].mean() < 30


def test_yunet_with_a_user_model_finds_the_dfdc_face():
    model = shared_path("faces", "face_detection_yunet.onnx")
    video = shared_path("videos", "dfdc", "samples", "lynaeydofd.mp4")
    yunet = extract_faces(video, 4, FaceSettings(detector="yunet", model_path=str(model)))
    centerface = extract_faces(video, 4, FaceSettings())
    assert yunet.status == "ok" and yunet.detected.all()
    # both detectors find the same face: box centres within a quarter of the face size
    def centre(b):
        return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    size = (centerface.boxes[:, 2] - centerface.boxes[:, 0]).mean()
    assert np.abs(centre(yunet.boxes) - centre(centerface.boxes)).max() < size / 4


def test_cache_command_reports_and_clears(noise_video, tmp_path, capsys):
    cache = FaceCache(tmp_path / "cache")
    cache.get_or_extract(noise_video, 4, FaceSettings())
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "entries: 1" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert cache.size_bytes() == 0


def test_detecting_on_every_fourth_frame_gives_nearly_the_same_crops():
    video = shared_path("videos", "ffpp", "original_sequences", "youtube", "c23", "videos", "004.mp4")
    every = extract_faces(video, 32, FaceSettings())
    sparse = extract_faces(video, 32, FaceSettings(detect_every=4))
    assert sparse.status == "ok"
    assert np.flatnonzero(sparse.detected).tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 31]
    size = (every.boxes[:, 2] - every.boxes[:, 0]).mean()
    error = np.abs(sparse.boxes - every.boxes)
    assert error.mean() < size * 0.1 and error.max() < size * 0.3  # measured: 5% and 20% of the face size


def test_centerface_is_not_confused_by_a_change_of_input_size():
    """OpenCV 4.x dnn gave false faces on a flat frame once the same network had seen a smaller input."""
    detector = make_detector(FaceSettings())
    flat = np.full((120, 160, 3), 90, np.uint8)
    assert len(detector.detect(flat)) == 0
    detector.detect(np.full((96, 128, 3), 90, np.uint8))
    assert len(detector.detect(flat)) == 0


def test_smoothing_removes_jitter_but_never_crosses_a_jump():
    from benchmarks.pipeline.faces import smooth_boxes
    rng = np.random.default_rng(0)
    steady = np.array([100, 100, 200, 200], np.float32) + rng.normal(0, 4, (8, 4)).astype(np.float32)
    other = np.array([400, 50, 480, 130], np.float32) + np.zeros((4, 4), np.float32)  # a cut to another face
    boxes = np.concatenate([steady, other])
    smoothed = smooth_boxes(boxes, 3)
    def jitter(b):
        return np.abs(np.diff(b[:8], axis=0)).mean()
    assert jitter(smoothed) < jitter(boxes) / 1.5
    np.testing.assert_allclose(smoothed[8:], other)  # the second segment is untouched by the first
    np.testing.assert_allclose(smooth_boxes(boxes, 1), boxes)


def test_smoothed_track_on_a_real_video():
    video = shared_path("videos", "ffpp", "original_sequences", "youtube", "c23", "videos", "519.mp4")
    raw = extract_faces(video, 16, FaceSettings())
    smooth = extract_faces(video, 16, FaceSettings(smooth=3))
    assert smooth.status == "ok" and smooth.crops.shape == raw.crops.shape
    size = (raw.boxes[:, 2] - raw.boxes[:, 0]).mean()
    assert np.abs(smooth.boxes - raw.boxes).max() < size / 3  # same face, gently moved
