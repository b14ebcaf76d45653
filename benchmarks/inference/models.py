"""The detectors of a run, loaded from their settings, and the tensors they are fed (the typed input contract:
uint8 RGB face crops in, float32 N x 3 x S x S in [0, 1] out, P(fake) per frame back)."""
from __future__ import annotations

import cv2
import numpy as np
import torch

import detectors

from ..config import DetectorSettings
from .device import inference_precision

__all__ = ["load_detectors", "fit_to_input", "to_tensor", "detector_input", "predict_frames"]


def load_detectors(settings: DetectorSettings) -> dict[str, detectors.Detector]:
    """Each named detector with its weights (the bundled demo weights on the demo data when none are given)."""
    loaded = {}
    for name in settings.names:
        weights = settings.weights.get(name)
        if weights is None and not settings.random_init and settings.demo_weights:
            weights = detectors.default_weights(name)
        options = dict(settings.detector_options.get(name, {}))
        if settings.backbone_weights.get(name):
            options["backbone_weights"] = settings.backbone_weights[name]
        loaded[name] = detectors.create(name, weights=weights, random_init=settings.random_init and weights is None,
                                        **options)
    return loaded


def fit_to_input(faces: np.ndarray, size: int) -> np.ndarray:
    """uint8 N x S x S x 3 RGB face crops -> contiguous uint8 N x size x size x 3 (area-shrunk or linearly enlarged)."""
    if len(faces) and faces.shape[1] != size:
        interpolation = cv2.INTER_AREA if faces.shape[1] > size else cv2.INTER_LINEAR
        out = np.empty((len(faces), size, size, 3), np.uint8)  # resized in place: no list of copies to stack
        for crop, target in zip(faces, out):
            cv2.resize(crop, (size, size), dst=target, interpolation=interpolation)
        return out
    return np.ascontiguousarray(faces)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float32 N x 3 x H x W in [0, 1] (channels-last in memory, no extra copy)."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)


def detector_input(face_crops: np.ndarray, size: int) -> torch.Tensor:
    """uint8 N x S x S x 3 RGB -> float32 N x 3 x size x size in [0, 1]."""
    return to_tensor(fit_to_input(face_crops, size))


def predict_frames(detector: detectors.Detector, faces: np.ndarray, batch_size: int,
                   precision: str = "fp32") -> np.ndarray:
    """P(fake) per frame of one video, in batches of `batch_size`, on the device the detector's model is on.

    Clip models (`temporal`, e.g. resnet-lstm) see all of a video's crops in one call, so a clip is never cut
    at a batch boundary; each frame then carries its clip's score.
    """
    device = next(detector.model.parameters()).device
    if detector.temporal:
        batch_size = max(1, len(faces))
    with inference_precision(device, precision):
        scores = [detector.predict(detector_input(faces[i:i + batch_size], detector.input_size).to(device))
                  for i in range(0, len(faces), batch_size)]
    return np.concatenate(scores) if scores else np.zeros(0)
