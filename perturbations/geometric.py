"""Geometric steps, the same transform for every frame of a video (OpenCV affine warps, seeded draws).

Borders are mirrored by default (`border = "reflect"`, OpenCV BORDER_REFLECT_101), like the face
cache's context, so the detector's central crop shows no artificial black corners.
"""
from __future__ import annotations

import cv2
import numpy as np


def _warp(frames: np.ndarray, matrix: np.ndarray, border: str) -> np.ndarray:
    h, w = frames.shape[1:3]
    mode = cv2.BORDER_REFLECT_101 if border == "reflect" else cv2.BORDER_CONSTANT
    return np.stack([cv2.warpAffine(f, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=mode) for f in frames])


def _about_centre(frames: np.ndarray, sx: float, sy: float, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    h, w = frames.shape[1:3]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return np.array([[sx, 0, cx - sx * cx + tx], [0, sy, cy - sy * cy + ty]], np.float64)


def hflip(frames: np.ndarray, rng: np.random.Generator, p: float = 1.0) -> tuple[np.ndarray, dict]:
    flipped = bool(rng.random() < p)
    return (frames[:, :, ::-1].copy() if flipped else frames.copy()), {"flipped": flipped}


def vflip(frames: np.ndarray, rng: np.random.Generator, p: float = 1.0) -> tuple[np.ndarray, dict]:
    flipped = bool(rng.random() < p)
    return (frames[:, ::-1].copy() if flipped else frames.copy()), {"flipped": flipped}


def rotate(frames: np.ndarray, rng: np.random.Generator, degrees: float, border: str = "reflect"):
    """Rotate by +-degrees (sign drawn per video; positive = counter-clockwise) about the image centre."""
    angle = float(degrees) * (1 if rng.random() < 0.5 else -1)
    h, w = frames.shape[1:3]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    return _warp(frames, matrix, border), {"angle": angle}


def scale(frames: np.ndarray, rng: np.random.Generator, zoom: float, shift: float, border: str = "reflect"):
    """Zoom in (x zoom) or out (x 1/zoom), chosen per video, plus a uniform shift in [-shift, shift] x side."""
    factor = float(zoom) if rng.random() < 0.5 else 1.0 / float(zoom)
    h, w = frames.shape[1:3]
    dx, dy = (float(v) for v in rng.uniform(-shift, shift, 2))
    matrix = _about_centre(frames, factor, factor, dx * w, dy * h)
    return _warp(frames, matrix, border), {"scale": factor, "shift_x": dx, "shift_y": dy}


def aspect(frames: np.ndarray, rng: np.random.Generator, ratio: float, border: str = "reflect"):
    """Stretch (x ratio) or squeeze (x 1/ratio) the horizontal or vertical axis about the centre."""
    axis = "x" if rng.random() < 0.5 else "y"
    factor = float(ratio) if rng.random() < 0.5 else 1.0 / float(ratio)
    sx, sy = (factor, 1.0) if axis == "x" else (1.0, factor)
    return _warp(frames, _about_centre(frames, sx, sy), border), {"axis": axis, "factor": factor}
