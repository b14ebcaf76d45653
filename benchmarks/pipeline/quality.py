"""PSNR and SSIM of one video's perturbed face crops against its clean ones, measured where both are at hand.

Computed once per video and level (every detector is fed the same crops) and stored in the rows' `params` as
`quality` ({"psnr", "ssim", "frames"}), so metrics and reports read it from scores.csv. Kept cheap, since every
level of every video pays it: `QUALITY_FRAMES` evenly spaced frames of the inner face crop (the crop each detector
resizes to its input; 256 px by default, MesoNet's input), SSIM on grayscale (scikit-image, Wang et al. 2004,
7-px window), PSNR on RGB from the mean squared error over those frames. Measured in `tools/bench_throughput.py`.
Only crops of the same frames are compared: a level that re-detects faces (video- or frame-stage steps) is
measured only when it kept the clean frames, and its numbers then include any shift of the face box.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity

__all__ = ["QUALITY_FRAMES", "crop_quality"]

QUALITY_FRAMES = 4  # frames per video and level: ~4 ms each at 256 px (see tools/bench_throughput.py)


def crop_quality(clean: np.ndarray, perturbed: np.ndarray, clean_frames: list[int], perturbed_frames: list[int],
                 *, frames: int = QUALITY_FRAMES) -> dict | None:
    """{"psnr": dB or None when identical, "ssim", "frames"} of (N, S, S, 3) uint8 crops; None when the two do
    not show the same frames at the same size (nothing comparable)."""
    if clean.shape != perturbed.shape or list(clean_frames) != list(perturbed_frames) or not len(clean):
        return None
    pick = np.unique(np.linspace(0, len(clean) - 1, min(frames, len(clean))).round().astype(int))
    a, b = clean[pick], perturbed[pick]
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    psnr = None if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
    ssim = float(np.mean([structural_similarity(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY),
                                                cv2.cvtColor(y, cv2.COLOR_RGB2GRAY), data_range=255)
                          for x, y in zip(a, b)]))
    return {"psnr": None if psnr is None else round(psnr, 4), "ssim": round(ssim, 6), "frames": len(pick)}
