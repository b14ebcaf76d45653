"""PSNR and SSIM of one video's perturbed face crops against its clean ones, measured where both are at hand.

Computed once per video and level (every detector is fed the same crops) and stored in the rows' `params` as
`quality` ({"psnr", "ssim", "frames"}), so metrics and reports read it from scores.csv. Kept cheap, since every
level of every video pays it: evenly spaced frames of the inner face crop (one per 8 sampled frames, 1 to 4; the
crop each detector resizes to its input, 256 px by default, MesoNet's input), SSIM on grayscale (scikit-image,
Wang et al. 2004, 7-px window), PSNR on RGB from the mean squared error over those frames. About 4.3 ms CPU per
frame measured, against 11 ms of MesoInception4 inference per frame (1 thread) and 1.7 ms of blur: about 4% of a
face-cached run's perturbation + inference for one detector, less for more (`tools/bench_throughput.py`).
Only crops of the same frames are compared: a level that re-detects faces (video- or frame-stage steps) is
measured only when it kept the clean frames, and its numbers then include any shift of the face box.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity

__all__ = ["QUALITY_FRAMES", "crop_quality"]

QUALITY_FRAMES = 4  # at most this many frames per video and level: ~4.3 ms CPU each at 256 px
FRAMES_PER_QUALITY_FRAME = 8  # and one per 8 sampled frames, so the cost follows the run's own per-frame work


def _gray(rgb: np.ndarray) -> np.ndarray:
    """Luma as float32: scikit-image computes SSIM in its input's float type, and float32 takes half the time of
    the float64 it picks for uint8 (5.7 against 10 ms CPU per 256-px frame), with the same value to 1e-6."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def crop_quality(clean: np.ndarray, perturbed: np.ndarray, clean_frames: list[int], perturbed_frames: list[int],
                 *, frames: int | None = None) -> dict | None:
    """{"psnr": dB or None when identical, "ssim", "frames"} of (N, S, S, 3) uint8 crops; None when the two do
    not show the same frames at the same size (nothing comparable). `frames` evenly spaced frames are measured
    (default: one per `FRAMES_PER_QUALITY_FRAME` crops, 1 to `QUALITY_FRAMES`)."""
    if clean.shape != perturbed.shape or list(clean_frames) != list(perturbed_frames) or not len(clean):
        return None
    if frames is None:
        frames = min(QUALITY_FRAMES, -(-len(clean) // FRAMES_PER_QUALITY_FRAME))
    pick = np.unique(np.linspace(0, len(clean) - 1, min(frames, len(clean))).round().astype(int))
    a, b = np.ascontiguousarray(clean[pick]), np.ascontiguousarray(perturbed[pick])
    mse = cv2.norm(a, b, cv2.NORM_L2SQR) / a.size  # in C, without float copies of the crops
    psnr = None if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
    ssim = float(np.mean([structural_similarity(_gray(x), _gray(y), data_range=255) for x, y in zip(a, b)]))
    return {"psnr": None if psnr is None else round(psnr, 4), "ssim": round(ssim, 6), "frames": len(pick)}
