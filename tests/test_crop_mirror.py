"""crop_square's mirror padding through cv2.copyMakeBorder equals the index-map BORDER_REFLECT_101 it replaced,
bit for bit, for boxes inside, across and far outside frames of any size (issue 22)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pipeline.face_detectors import resize
from benchmarks.pipeline.faces import TRACK_CONTEXT, TRACK_INPUT, crop_square, track_face


def reflect_101(index: np.ndarray, length: int) -> np.ndarray:
    """The reference: any integer coordinate mapped into [0, length) like BORDER_REFLECT_101 (...cb|abcd|cb...)."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * (length - 1)
    index = np.abs(index) % period
    return np.where(index >= length, period - index, index)


def reference_crop(frame: np.ndarray, box: np.ndarray, scale: float, size: int) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(1, int(round(scale * max(x2 - x1, y2 - y1))))
    left = int(round((x1 + x2) / 2 - side / 2))
    top = int(round((y1 + y2) / 2 - side / 2))
    height, width = frame.shape[:2]
    rows = reflect_101(np.arange(top, top + side), height)
    cols = reflect_101(np.arange(left, left + side), width)
    return resize(frame[np.ix_(rows, cols)], size, size)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (5, 9), (48, 64), (360, 640)])
def test_crop_square_equals_index_map_reflection(shape):
    rng = np.random.default_rng(sum(shape))
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    height, width = shape
    for _ in range(60):
        cx, cy = rng.uniform(-2 * width, 3 * width), rng.uniform(-2 * height, 3 * height)
        most = min(3 * max(height, width), 400)
        bw, bh = rng.uniform(0.5, most), rng.uniform(0.5, most)
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], np.float32)
        for scale, size in [(1.3, 64), (2.6, 256), (1.0, 300)]:
            expected = reference_crop(frame, box, scale, size)
            got = crop_square(frame, box, scale, size)
            assert got.shape == expected.shape and got.dtype == np.uint8
            np.testing.assert_array_equal(got, expected, err_msg=f"frame {shape}, box {box}, scale {scale}")


def test_overhang_past_the_far_edge_keeps_reflecting():
    """A window hanging off one side by more than the frame is wide mirrors back and forth over the whole row."""
    frame = np.repeat(np.arange(7, dtype=np.uint8).reshape(1, 7, 1), 3, axis=2)
    box = np.array([8.4, -4.3, 9.6, 6.4], np.float32)  # centre right of the frame, 14 px square
    crop = crop_square(frame, box, 1.3, 14)
    np.testing.assert_array_equal(crop[0, :, 0], [2, 3, 4, 5, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3])


class RecordingDetector:
    """Records the windows `track_face` hands to the detector (a real detector's input, kept for comparison)."""

    def __init__(self) -> None:
        self.windows: list[np.ndarray] = []

    def detect_window(self, image: np.ndarray) -> np.ndarray:
        self.windows.append(image.copy())
        return np.zeros((0, 5), np.float32)


def test_tracking_window_is_the_zero_padded_square_resized():
    """The window past the frame edge is zeros (copyMakeBorder), the same pixels as a zeroed array filled in."""
    rng = np.random.default_rng(3)
    for shape in [(360, 640), (50, 40)]:
        frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        height, width = shape
        for _ in range(40):
            cx, cy = rng.uniform(-0.2 * width, 1.2 * width), rng.uniform(-0.2 * height, 1.2 * height)
            half = rng.uniform(1, 0.25 * max(shape))
            previous = np.array([cx - half, cy - half, cx + half, cy + half], np.float32)
            recorder = RecordingDetector()
            assert track_face(recorder, frame, previous) is None  # nothing detected
            x1, y1, x2, y2 = (float(v) for v in previous)
            side = int(round(TRACK_CONTEXT * max(x2 - x1, y2 - y1)))
            left, top = int(round((x1 + x2 - side) / 2)), int(round((y1 + y2 - side) / 2))
            r0, r1, c0, c1 = max(top, 0), min(top + side, height), max(left, 0), min(left + side, width)
            if side < 8 or r0 >= r1 or c0 >= c1:
                assert not recorder.windows
                continue
            window = np.zeros((side, side, 3), np.uint8)
            window[r0 - top:r1 - top, c0 - left:c1 - left] = frame[r0:r1, c0:c1]
            (seen,) = recorder.windows
            np.testing.assert_array_equal(seen, resize(window, TRACK_INPUT, TRACK_INPUT))
