"""Face detection, face choice and crop geometry."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.config import FaceSettings
from benchmarks.pipeline.decode import write_video
from benchmarks.pipeline.face_detectors import CenterFaceDetector, decode_centerface, nms
from benchmarks.pipeline.faces import FaceCrops, choose_boxes, crop_square, extract_faces, inner_crop
from benchmarks.sampling import sample_indices
from tests.conftest import shared_path


class FixedDetector:
    """Returns preset detections per call (cycled); stands in for the CNN in geometry tests."""

    def __init__(self, per_call: list[np.ndarray]) -> None:
        self.per_call = per_call
        self.calls = 0

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        dets = self.per_call[self.calls % len(self.per_call)]
        self.calls += 1
        return np.asarray(dets, np.float32).reshape(-1, 5)


@pytest.fixture(scope="module")
def centerface() -> CenterFaceDetector:
    return CenterFaceDetector()


# --- settings ---


def test_settings_key_is_stable_and_complete():
    base = FaceSettings()
    assert base.key() == FaceSettings().key()
    for change in ({"margin": 1.25}, {"context": 2.0}, {"crop_size": 256}, {"threshold": 0.6}, {"max_side": 480}):
        assert FaceSettings(**change).key() != base.key()
    assert "v" in base.key() and "margin=1.3" in base.key()


# --- detector internals ---


def test_nms_keeps_best_of_overlapping():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]


def test_decode_centerface_single_peak():
    heat = np.zeros((1, 1, 8, 8), np.float32)
    heat[0, 0, 3, 5] = 0.9
    scale = np.full((1, 2, 8, 8), np.log(4.0), np.float32)  # 4 * exp(log 4) = 16 px
    offset = np.zeros((1, 2, 8, 8), np.float32)
    boxes = decode_centerface(heat, scale, offset, (32, 32), 0.5)
    # centre = ((5 + 0.5) * 4, (3 + 0.5) * 4) = (22, 14), size 16, clipped to the 32x32 input
    np.testing.assert_allclose(boxes, [[14, 6, 30, 22, 0.9]], atol=1e-5)


# --- face choice ---


def test_choose_boxes_tracks_previous_face_and_fills_gaps():
    small = [100, 100, 150, 150, 0.9]
    big = [300, 300, 400, 400, 0.8]
    small_moved = [105, 102, 155, 152, 0.9]
    bigger_elsewhere = [500, 100, 700, 300, 0.9]
    detections = [
        np.array([small, big], np.float32),  # largest wins at the start
        np.empty((0, 5), np.float32),  # gap between two detections: interpolated
        np.array([[305, 298, 405, 398, 0.8], bigger_elsewhere], np.float32),  # IoU with previous wins
        np.array([small_moved], np.float32),  # no overlap: largest (= only) box
    ]
    boxes, detected = choose_boxes(detections)
    assert detected.tolist() == [True, False, True, True]
    np.testing.assert_allclose(boxes[0], big[:4])
    np.testing.assert_allclose(boxes[1], [302.5, 299, 402.5, 399])
    np.testing.assert_allclose(boxes[2], [305, 298, 405, 398])
    np.testing.assert_allclose(boxes[3], small_moved[:4])


def test_choose_boxes_interpolates_between_and_extends_at_the_ends():
    a = np.array([[0, 0, 10, 10, 0.9]], np.float32)
    b = np.array([[20, 20, 40, 40, 0.9]], np.float32)
    empty = np.empty((0, 5), np.float32)
    boxes, detected = choose_boxes([empty, a, empty, empty, empty, b, empty])
    np.testing.assert_allclose(boxes[:, 0], [0, 0, 5, 10, 15, 20, 20])
    np.testing.assert_allclose(boxes[:, 2], [10, 10, 17.5, 25, 32.5, 40, 40])
    assert detected.tolist() == [False, True, False, False, False, True, False]


def test_choose_boxes_without_any_face():
    with pytest.raises(ValueError):
        choose_boxes([np.empty((0, 5), np.float32)] * 3)


# --- crop geometry ---


def _marker_frame(height: int = 240, width: int = 320) -> np.ndarray:
    """Horizontal gradient in R, vertical in G: every pixel's position is readable from its colour."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None]
    frame[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    return frame


def test_inner_crop_is_the_margin_crop_centred_on_the_box():
    frame = _marker_frame()
    frame[110:130, 150:170] = (255, 255, 255)  # white "face" at the box centre
    box = np.array([130, 90, 190, 150], np.float32)  # 60x60, centre (160, 120)
    crop = crop_square(frame, box, scale=1.3 * 1.5, size=117)
    inner = inner_crop(crop, 1.5)
    assert crop.shape == (117, 117, 3) and inner.shape == (78, 78, 3)
    # the inner crop equals a direct margin-1.3 crop (78 px = 1.3 * 60) of the frame
    direct = frame[81:159, 121:199]
    assert np.abs(inner.astype(int) - direct.astype(int)).mean() < 2
    white = np.argwhere(inner.min(axis=2) > 250)
    np.testing.assert_allclose(white.mean(axis=0), [38.5, 38.5], atol=1.0)


def test_inner_crop_batch_shape():
    crops = np.zeros((4, 384, 384, 3), np.uint8)
    assert inner_crop(crops, 1.5).shape == (4, 256, 256, 3)


def test_crop_at_frame_edge_is_filled_by_reflection():
    frame = _marker_frame()
    box = np.array([0, 0, 40, 40], np.float32)  # face in the top-left corner, centre (20, 20)
    crop = crop_square(frame, box, scale=2.0, size=80)  # 80 px square from (-20, -20), no resize
    # BORDER_REFLECT_101: row -k mirrors row k, column -k mirrors column k, no black pixels
    np.testing.assert_array_equal(crop[:20], crop[40:19:-1][:20])
    np.testing.assert_array_equal(crop[:, :20], crop[:, 40:19:-1][:, :20])
    np.testing.assert_array_equal(crop[20:, 20:], frame[:60, :60])
    reference = cv2.copyMakeBorder(frame, 20, 0, 20, 0, cv2.BORDER_REFLECT_101)[:80, :80]
    np.testing.assert_array_equal(crop, reference)
    assert crop[:20, :20].max() > 0  # mirrored content in the corner, not black


def test_crop_enlarges_small_faces():
    frame = _marker_frame()
    crop = crop_square(frame, np.array([100, 100, 110, 110], np.float32), scale=1.95, size=384)
    assert crop.shape == (384, 384, 3)


# --- whole videos ---


def test_no_face_video(tmp_path, centerface):
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None].repeat(120, 0).repeat(3, 2)
    frames = [np.clip(gradient.astype(int) + rng.integers(-20, 20, gradient.shape), 0, 255).astype(np.uint8) for _ in range(10)]
    path = write_video(tmp_path / "noise.mp4", frames)
    result = extract_faces(path, 4, FaceSettings(), detector=centerface)
    assert result.status == "no_face" and "noise.mp4" in result.message
    assert result.crops.shape == (0, 384, 384, 3) and result.frame_size == (120, 160)
    assert result.total_frames == 10


def test_bad_video_returns_status(tmp_path):
    result = extract_faces(tmp_path / "missing.mp4", 8, FaceSettings(), detector=FixedDetector([np.empty((0, 5))]))
    assert result.status == "missing_file" and "missing.mp4" in result.message
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"junk" * 100)
    assert extract_faces(path, 8, FaceSettings(), detector=FixedDetector([np.empty((0, 5))])).status == "unreadable"


def test_extract_faces_fills_undetected_frames(tmp_path):
    frames = [np.full((96, 128, 3), 40 * i, np.uint8) for i in range(6)]
    path = write_video(tmp_path / "six.mp4", frames)
    box = [40, 30, 80, 70, 0.9]
    detector = FixedDetector([np.empty((0, 5)), [box], np.empty((0, 5))])
    result = extract_faces(path, 6, FaceSettings(crop_size=96), detector=detector)
    assert result.status == "ok" and detector.calls == 6
    assert result.detected.tolist() == [False, True, False, False, True, False]
    np.testing.assert_allclose(result.boxes, np.tile(box[:4], (6, 1)))
    assert result.crops.shape == (6, 96, 96, 3)
    # each crop still comes from its own frame (grey level 40 * i)
    np.testing.assert_allclose(result.crops.reshape(6, -1).mean(axis=1), 40 * np.arange(6), atol=4)


def test_real_dfdc_sample_faces(centerface):
    path = shared_path("videos", "dfdc", "dfdc_train_part_0", "brtujopkby.mp4")
    result = extract_faces(path, 32, FaceSettings(), detector=centerface)
    assert isinstance(result, FaceCrops) and result.status == "ok", result.message
    assert result.frame_indices == sample_indices(300, 32)
    assert result.frame_size == (1920, 1080) and result.total_frames == 300
    assert result.crops.shape == (32, 384, 384, 3) and result.crops.dtype == np.uint8
    assert result.detected.sum() >= 28
    _assert_plausible(result)


def test_real_ffpp_sample_faces(centerface):
    path = shared_path("videos", "ffpp", "manipulated_sequences", "Deepfakes", "c23", "videos", "519_515.mp4")
    result = extract_faces(path, 8, FaceSettings(), detector=centerface)
    assert result.status == "ok", result.message
    assert result.detected.sum() >= 7
    _assert_plausible(result)


def _assert_plausible(result: FaceCrops) -> None:
    h, w = result.frame_size
    boxes = result.boxes
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert (sizes > 40).all()
    # one person: consecutive boxes stay close
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.abs(np.diff(centres, axis=0)).max() < max(h, w) * 0.2
