"""Per-video face choice, tracking and context crops.

Crops are stored with extra context around the face (`FaceSettings.context`), so geometric
perturbations (rotations, flips, scaling) can be applied to real surrounding pixels before
the detector's margin crop is cut from the middle with `inner_crop`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import FaceSettings
from ..sampling import select_indices
from .decode import DecodeProgress, VideoReadError, iter_frames, probe_video
from .face_detectors import FaceDetector, box_area, box_iou, centre_box, make_detector, resize
from .held_frames import CropArray, HeldFrames

__all__ = ["FaceCrops", "extract_faces", "faces_from_frames", "choose_boxes", "smooth_boxes", "crop_square",
           "inner_crop", "track_face", "detect_faces", "pick_box"]

TRACK_IOU = 0.3  # stick with the previous face when overlapping at least this much
TRACK_CONTEXT = 3.0  # tracking window side, as a multiple of the previous box's larger side
TRACK_INPUT = 192  # tracking window side in detector pixels (one fixed shape: one network)


def track_face(detector: FaceDetector, frame: np.ndarray, previous: np.ndarray) -> np.ndarray | None:
    """Detections in a window around the previous face box, or None when the followed face is not there.

    The window is a square of TRACK_CONTEXT x the box's larger side, zero-padded past the frame edge and
    resized to TRACK_INPUT pixels: the face reaches the detector at 64 px, about what a 640-px whole frame
    gives a 1080p face, at a sixth of the cost. `pick_box` would choose the same face from a whole-frame
    detection: it keeps the face overlapping the previous box, which lies inside the window. None (the
    caller then detects on the whole frame) when nothing there overlaps the previous box by TRACK_IOU.
    """
    x1, y1, x2, y2 = (float(v) for v in previous[:4])
    side = int(round(TRACK_CONTEXT * max(x2 - x1, y2 - y1)))
    if side < 8:
        return None
    left, top = int(round((x1 + x2 - side) / 2)), int(round((y1 + y2 - side) / 2))
    height, width = frame.shape[:2]
    r0, r1, c0, c1 = max(top, 0), min(top + side, height), max(left, 0), min(left + side, width)
    if r0 >= r1 or c0 >= c1:
        return None
    window = frame[r0:r1, c0:c1]  # a view; zeros past the frame edge by copyMakeBorder (no zeroed side x side copy)
    if (r0 - top, top + side - r1, c0 - left, left + side - c1) != (0, 0, 0, 0):
        window = cv2.copyMakeBorder(window, r0 - top, top + side - r1, c0 - left, left + side - c1,
                                    cv2.BORDER_CONSTANT | cv2.BORDER_ISOLATED, value=(0, 0, 0))
    dets = np.asarray(detector.detect_window(resize(window, TRACK_INPUT, TRACK_INPUT)), np.float32).reshape(-1, 5)
    if not len(dets):
        return None
    dets[:, :4] = dets[:, :4] * np.float32(side / TRACK_INPUT) + np.array([left, top, left, top], np.float32)
    dets[:, [0, 2]] = np.clip(dets[:, [0, 2]], 0, width)
    dets[:, [1, 3]] = np.clip(dets[:, [1, 3]], 0, height)
    if box_iou(previous[:4], dets[:, :4]).max() <= TRACK_IOU:
        return None
    return dets


def detect_faces(detector: FaceDetector, frame: np.ndarray, previous: np.ndarray | None, track: bool) -> np.ndarray:
    """(K, 5) detections: in the tracking window when `track` and the followed face is found there, else whole frame."""
    if track and previous is not None and hasattr(detector, "detect_window"):
        near = track_face(detector, frame, previous)
        if near is not None:
            return near
    return np.asarray(detector.detect(frame), np.float32).reshape(-1, 5)



def pick_box(detections: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """The face to follow: overlapping the previous choice if possible, else the largest (then best score)."""
    if previous is not None:
        ious = box_iou(previous, detections[:, :4])
        if ious.max() > TRACK_IOU:
            return detections[int(np.argmax(ious)), :4]
    best = np.lexsort((-detections[:, 4], -box_area(detections[:, :4])))[0]
    return detections[best, :4]


def choose_boxes(detections: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One box per frame (N, 4) and `detected` (N,); undetected frames borrow the nearest detection.

    Raises ValueError when no frame has a detection.
    """
    boxes = np.zeros((len(detections), 4), np.float32)
    detected = np.array([len(d) > 0 for d in detections], dtype=bool)
    if not detected.any():
        raise ValueError("no face detected")
    previous = None
    for i, dets in enumerate(detections):
        if len(dets):
            previous = boxes[i] = pick_box(np.asarray(dets, np.float32), previous)
    hits = np.flatnonzero(detected)
    for i in np.flatnonzero(~detected):
        before, after = hits[hits < i], hits[hits > i]
        if len(before) and len(after):  # between two detections: linear interpolation of the box
            a, b = before[-1], after[0]
            boxes[i] = boxes[a] + (boxes[b] - boxes[a]) * ((i - a) / (b - a))
        else:  # before the first or after the last detection: the nearest one
            boxes[i] = boxes[after[0] if len(after) else before[-1]]
    return boxes, detected


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """Moving average of box centres and sizes over `window` sampled frames, never across a jump.

    Consecutive boxes with IoU below TRACK_IOU start a new segment (a scene cut, or another face), so
    smoothing removes detector jitter without dragging a box toward a different person.
    """
    if window <= 1 or len(boxes) < 2:
        return boxes.copy()
    centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
    jumps = [i for i in range(1, len(boxes)) if box_iou(boxes[i - 1], boxes[i:i + 1])[0] < TRACK_IOU]
    out = boxes.copy()
    half = window // 2
    for start, stop in zip([0, *jumps], [*jumps, len(boxes)]):
        for i in range(start, stop):
            lo, hi = max(start, i - half), min(stop, i + half + 1)
            c, wh = centre[lo:hi].mean(0), size[lo:hi].mean(0)
            out[i] = [c[0] - wh[0] / 2, c[1] - wh[1] / 2, c[0] + wh[0] / 2, c[1] + wh[1] / 2]
    return out


# --- cropping --------------------------------------------------------------------------------


def crop_square(frame: np.ndarray, box: np.ndarray, scale: float, size: int) -> np.ndarray:
    """Square of side `scale * max(w, h)` centred on the box, resized to `size` x `size`.

    Pixels outside the frame are mirrored about the frame's edges (cv2.BORDER_REFLECT_101, any overhang;
    `cv2.copyMakeBorder` on the inside part: 3-10x faster than the index maps used before, bit-identical): a rotated context crop
    then never shows artificial black corners that a detector could key on.  Trade-off: near the
    frame edge the context holds mirrored copies (possibly of the face itself) rather than nothing.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(1, int(round(scale * max(x2 - x1, y2 - y1))))
    left = int(round((x1 + x2) / 2 - side / 2))
    top = int(round((y1 + y2) / 2 - side / 2))
    height, width = frame.shape[:2]
    (r0, r1, top_pad, bottom_pad, row_trim), (c0, c1, left_pad, right_pad, col_trim) = (
        _mirror_span(top, side, height), _mirror_span(left, side, width))
    patch = frame[r0:r1, c0:c1]  # a view, no copy
    if top_pad or bottom_pad or left_pad or right_pad:  # mirrored about the frame's own edges (the view is isolated)
        patch = cv2.copyMakeBorder(patch, top_pad, bottom_pad, left_pad, right_pad,
                                   cv2.BORDER_REFLECT_101 | cv2.BORDER_ISOLATED)
        patch = patch[row_trim:row_trim + side, col_trim:col_trim + side]
    return resize(patch, size, size)


def inner_crop(crops: np.ndarray, context: float) -> np.ndarray:
    """The centred square of side round(S / context) of (N, S, S, 3) or (S, S, 3) context crops.

    This is the margin-scaled face crop; callers resize it to their detector's input size.
    """
    size = crops.shape[-2]
    inner = int(round(size / context))
    start = (size - inner) // 2
    return crops[..., start : start + inner, start : start + inner, :]


# --- per video -------------------------------------------------------------------------------


@dataclass
class FaceCrops:
    """Context crops of one video's chosen face, or an empty result with a failure status."""

    crops: np.ndarray  # (N, S, S, 3) uint8 RGB
    frame_indices: list[int]
    boxes: np.ndarray  # (N, 4) float32 face boxes in frame coordinates
    detected: np.ndarray  # (N,) bool; False = box borrowed from the nearest detected frame
    status: str  # "ok", "no_face" or a VideoReadError status
    message: str = ""
    total_frames: int = 0
    frame_size: tuple[int, int] = (0, 0)  # (h, w)
    cache_key: str = ""  # face-cache key of the video these crops came from ("" when not from the cache path)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def empty(
        cls, status: str, message: str, crop_size: int, total_frames: int = 0, frame_size: tuple[int, int] = (0, 0)
    ) -> "FaceCrops":
        return cls(
            crops=np.zeros((0, crop_size, crop_size, 3), np.uint8),
            frame_indices=[],
            boxes=np.zeros((0, 4), np.float32),
            detected=np.zeros((0,), bool),
            status=status,
            message=message,
            total_frames=total_frames,
            frame_size=frame_size,
        )


def extract_faces(
    path: str | os.PathLike, num_frames: int, settings: FaceSettings, detector: FaceDetector | None = None,
    frame_transform: Callable[[np.ndarray], np.ndarray] | None = None, decode_threads: bool = True,
) -> FaceCrops:
    """Detect, choose and crop the face on `num_frames` sampled frames; never raises for bad videos.

    Crops are made while decoding so only frames without a detection are kept in memory.
    `frame_transform` (full-frame perturbations before face detection) needs the whole stack, so
    with it the sampled frames are held in memory first. `detector` (if given) must match
    `settings` (threshold, max_side): the cache relies on it. `decode_threads`: FFmpeg frame threads (see
    `video.iter_frames`).
    """
    try:
        info = probe_video(path)
    except VideoReadError as exc:
        return FaceCrops.empty(exc.status, str(exc), settings.crop_size)
    wanted = select_indices(info.total_frames, num_frames, settings.sampling)
    progress = DecodeProgress()
    frames: Iterable[tuple[int, np.ndarray]] = iter_frames(path, wanted, progress, threads=decode_threads)
    try:
        if frame_transform is not None:
            decoded = list(frames)
            if decoded:
                changed = frame_transform(np.stack([f for _, f in decoded]))
                # temporal steps may change the count: positions then stand in for frame indices
                keep = [i for i, _ in decoded] if len(changed) == len(decoded) else list(range(len(changed)))
                frames = list(zip(keep, changed))
            else:
                frames = []
        result = faces_from_frames(frames, settings, detector, Path(path).name, expected=len(wanted))
    except VideoReadError as exc:
        return FaceCrops.empty(exc.status, str(exc), settings.crop_size, info.total_frames)
    result.total_frames = progress.decoded if progress.exhausted else info.total_frames
    return result


def faces_from_frames(frames: Iterable[tuple[int, np.ndarray]], settings: FaceSettings,
                      detector: FaceDetector | None = None, name: str = "video", *, expected: int = 0) -> FaceCrops:
    """Detect, choose and crop the face on (frame index, RGB frame) pairs (see `extract_faces`).

    `expected`: how many pairs are coming (sizes the crop array at once; more are still taken). Memory is
    bounded whatever the frame count: crops go straight into one array, and frames that must wait for their
    box are held in `HeldFrames` (spilled to a temporary file beyond its budget)."""
    pending = HeldFrames()  # frames by position, cropped once boxes are known
    try:
        return _faces_from_frames(frames, settings, detector, name, expected, pending)
    finally:
        pending.close()


def _faces_from_frames(frames: Iterable[tuple[int, np.ndarray]], settings: FaceSettings,
                       detector: FaceDetector | None, name: str, expected: int, pending: HeldFrames) -> FaceCrops:
    detector = detector if detector is not None else make_detector(settings)
    scale = settings.margin * settings.context
    indices: list[int] = []
    detections: list[np.ndarray] = []
    crops = CropArray(expected, settings.crop_size)
    frame_size = (0, 0)
    previous: np.ndarray | None = None
    for position, (index, frame) in enumerate(frames):
        frame_size = frame.shape[:2]
        run_detector = position % settings.detect_every == 0
        dets = detect_faces(detector, frame, previous, settings.track) if run_detector \
            else np.zeros((0, 5), np.float32)
        indices.append(index)
        detections.append(dets)
        if len(dets):
            previous = pick_box(dets, previous)
        if len(dets) and settings.smooth == 1:
            crops.put(position, crop_square(frame, previous, scale, settings.crop_size))
        else:  # cropped once all boxes are known (smoothing needs them all: frames are held meanwhile)
            pending.put(position, frame)
    if detections and not len(detections[-1]) and (len(indices) - 1) % settings.detect_every:
        # the last frame is always detected, so the track ends on a real box rather than an extrapolation
        last = len(indices) - 1
        frame = pending.pop(last)
        detections[-1] = detect_faces(detector, frame, previous, settings.track)
        if len(detections[-1]) and settings.smooth == 1:
            crops.put(last, crop_square(frame, pick_box(detections[-1], previous), scale, settings.crop_size))
        else:
            pending.put(last, frame)
        del frame
    if not indices:
        return FaceCrops.empty("no_frames", f"no_frames: {name} (nothing could be decoded)", settings.crop_size)
    found = any(len(d) for d in detections)
    if not found and settings.no_face != "center":
        message = f"no_face: {name} (no face in {len(indices)} sampled frames)"
        return FaceCrops.empty("no_face", message, settings.crop_size, 0, frame_size)
    if not found:  # --no-face center: score the centre of the frame rather than skip the video
        boxes = np.repeat(centre_box(frame_size, settings.margin)[None, :4], len(indices), axis=0)
        detected = np.zeros(len(indices), bool)
    else:
        boxes, detected = choose_boxes(detections)
        boxes = smooth_boxes(boxes, settings.smooth)
    for i in range(len(indices)):
        if i in pending:
            crops.put(i, crop_square(pending.pop(i), boxes[i], scale, settings.crop_size))
    attempted = len(range(0, len(indices), settings.detect_every)) + int((len(indices) - 1) % settings.detect_every != 0)
    message = f"ok: {name} (face found in {int(detected.sum())} of {attempted} detected frames, {len(indices)} sampled)"
    if not detected.any():
        message = f"ok: {name} (no face found; centre crop used, --no-face center)"
    return FaceCrops(
        crops=crops.take(len(indices)),
        frame_indices=indices,
        boxes=boxes,
        detected=detected,
        status="ok",
        message=message,
        frame_size=(int(frame_size[0]), int(frame_size[1])),
    )


# --- small helpers ---------------------------------------------------------------------------


def _mirror_span(start: int, side: int, length: int) -> tuple[int, int, int, int, int]:
    """(first, stop, pad before, pad after, trim) along one axis for a window [start, start + side) of an axis of
    `length` pixels: the frame slice [first, stop) padded by `cv2.copyMakeBorder` holds the window at offset `trim`.

    The slice is the window's part inside the frame, or the whole axis when the window lies outside the frame or
    overhangs by more than its inside part can mirror (the reflection then continues past the window's pixels).
    """
    first, stop = max(start, 0), min(start + side, length)
    before, after = first - start, start + side - stop
    if first >= stop or before > stop - first - 1 or after > stop - first - 1:
        before, after = max(0, -start), max(0, start + side - length)
        return 0, length, before, after, start + before
    return first, stop, before, after, 0
