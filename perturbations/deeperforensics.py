"""The seven DeeperForensics-1.0 distortions (Jiang et al. 2020), arithmetic as in the reference code.

The reference (`perturbation/distortions.py` of DeeperForensics-1.0) works on BGR uint8 frames with
float32 intermediates and casts back with `.astype(np.uint8)`, which truncates. We do the same
(RGB in/out, BGR inside), with one deliberate change: where a value below 0 or above 255 would wrap
around in that cast, we clip first (the reference clips only in GNC).
BW places the reference's `min_side // 256 * blocks` blocks, so none at all on a crop or frame under 256 px
(`count = "scaled"` keeps the suite's former blocks x max(1, min_side / 256), which never gives 0). Random draws
come from the seeded generator (the reference uses the global `random`/`np.random`).
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .steps import BLOCK_COUNTS, DF_TYPES, make_step

Drawn = dict[str, Any]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 255], then truncate like `.astype(np.uint8)` (no wrap-around)."""
    return np.clip(x, 0, 255).astype(np.uint8)


def _bgr(frame_rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame_rgb[..., ::-1])


def bgr2ycbcr(img_bgr: np.ndarray) -> np.ndarray:
    """Reference `bgr2ycbcr`: OpenCV's float path on 0-255 data (chroma offset 0.5), then an affine
    rescale (Y*219+16)/255, (C*224+16)/255 that the reference calls "to [0, 1]"."""
    img_ycrcb = cv2.cvtColor(img_bgr.astype(np.float32), cv2.COLOR_BGR2YCrCb)
    img_ycbcr = img_ycrcb[:, :, (0, 2, 1)].astype(np.float32)
    img_ycbcr[:, :, 0] = (img_ycbcr[:, :, 0] * (235 - 16) + 16) / 255.0
    img_ycbcr[:, :, 1:] = (img_ycbcr[:, :, 1:] * (240 - 16) + 16) / 255.0
    return img_ycbcr


def ycbcr2bgr(img_ycbcr: np.ndarray) -> np.ndarray:
    """Exact inverse of `bgr2ycbcr` (float32 BGR, not clipped)."""
    img_ycbcr = img_ycbcr.astype(np.float32)
    img_ycbcr[:, :, 0] = (img_ycbcr[:, :, 0] * 255.0 - 16) / (235 - 16)
    img_ycbcr[:, :, 1:] = (img_ycbcr[:, :, 1:] * 255.0 - 16) / (240 - 16)
    img_ycrcb = np.ascontiguousarray(img_ycbcr[:, :, (0, 2, 1)].astype(np.float32))
    return cv2.cvtColor(img_ycrcb, cv2.COLOR_YCrCb2BGR)


def color_saturation(frames: np.ndarray, rng: np.random.Generator, factor: float) -> tuple[np.ndarray, Drawn]:
    """CS: chroma -> 0.5 + (chroma - 0.5) * factor in the reference's rescaled units.

    In OpenCV float-path units the neutral point is 111.5/224 (= 0.4978, grey is 0.5): exactly what
    the reference does, so a pure grey 128 can come back as 127 after truncation.
    """
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        ycbcr = bgr2ycbcr(_bgr(frame))
        ycbcr[:, :, 1] = 0.5 + (ycbcr[:, :, 1] - 0.5) * factor
        ycbcr[:, :, 2] = 0.5 + (ycbcr[:, :, 2] - 0.5) * factor
        out[i] = _to_uint8(ycbcr2bgr(ycbcr))[..., ::-1]
    return out, {}


def color_contrast(frames: np.ndarray, rng: np.random.Generator, factor: float) -> tuple[np.ndarray, Drawn]:
    """CC: float32 multiply (toward black), truncate."""
    return _to_uint8(frames.astype(np.float32) * factor), {}


def block_count(blocks: int, height: int, width: int, rule: str = "reference") -> int:
    """Blocks for a frame. `reference`: `min(h, w) // 256 * blocks` as `distortions.block_wise` (0 under 256 px,
    `blocks` from 256 to 511 px, twice that from 512 px...); `scaled`: blocks x max(1, min_side / 256), floored."""
    if rule == "reference":
        return min(height, width) // 256 * blocks
    if rule == "scaled":
        return int(blocks * max(1.0, min(height, width) / 256.0))
    raise ValueError(f"unknown BW block count rule {rule!r} (use {' or '.join(BLOCK_COUNTS)})")


def block_wise(frames: np.ndarray, rng: np.random.Generator, blocks: int, size: int = 8, value: int = 128,
               per_frame: bool = True, count: str = "reference") -> tuple[np.ndarray, Drawn]:
    """BW: grey size x size blocks at uniform random positions (new positions every frame, as the reference);
    `count` is the block count rule (`block_count`)."""
    n, h, w, _ = frames.shape
    n_blocks = block_count(blocks, h, w, count)
    out = frames.copy()
    if h <= size or w <= size:
        return out, {"blocks_per_frame": 0}
    positions = None
    for i in range(n):
        if positions is None or per_frame:
            xs = rng.integers(0, w - 1 - size, n_blocks, endpoint=True)  # reference: randint(0, w - 1 - width)
            ys = rng.integers(0, h - 1 - size, n_blocks, endpoint=True)
            positions = list(zip(ys.tolist(), xs.tolist()))
        for y, x in positions:
            out[i, y:y + size, x:x + size, :] = value
    return out, {"blocks_per_frame": n_blocks}


def gaussian_noise_color(frames: np.ndarray, rng: np.random.Generator, variance: float,
                         per_frame: bool = True) -> tuple[np.ndarray, Drawn]:
    """GNC: N(0, variance) noise on the reference's [0, 1]-scaled Y, Cb and Cr, back to BGR, clip, truncate.

    As in the reference the noise is float64 (`randn`), added to ycbcr / 255, multiplied back by 255.
    """
    out = np.empty_like(frames)
    noise = None
    std = float(np.sqrt(variance))
    for i, frame in enumerate(frames):
        ycbcr = bgr2ycbcr(_bgr(frame)) / 255
        if noise is None or per_frame:
            noise = rng.standard_normal(ycbcr.shape)
        b = (ycbcr + std * noise) * 255
        out[i] = _to_uint8(ycbcr2bgr(b))[..., ::-1]
    return out, {}


def gaussian_blur(frames: np.ndarray, rng: np.random.Generator, kernel: int) -> tuple[np.ndarray, Drawn]:
    """GB: cv2.GaussianBlur((k, k), k / 6) with OpenCV's default border."""
    return np.stack([cv2.GaussianBlur(f, (kernel, kernel), kernel * 1.0 / 6) for f in frames]), {}


def pixelation(frames: np.ndarray, rng: np.random.Generator, factor: int) -> tuple[np.ndarray, Drawn]:
    """PX (the reference's "JPEG"): resize to (w // f, h // f) and back, both INTER_LINEAR on uint8."""
    n, h, w, _ = frames.shape
    sw, sh = max(1, w // factor), max(1, h // factor)
    return np.stack([cv2.resize(cv2.resize(f, (sw, sh), interpolation=cv2.INTER_LINEAR), (w, h),
                                interpolation=cv2.INTER_LINEAR) for f in frames]), {}


def mixture(frames: np.ndarray, rng: np.random.Generator, min_types: int = 2, max_types: int = 4,
            video_compression: bool = True, write_back: str = "none") -> tuple[np.ndarray, Drawn]:
    """DFMIX: k in [min_types, max_types] distinct DF types, each at a random severity 1-5, drawn per video,
    applied in the canonical order CS, CC, BW, GNC, GB, PX, VC (compression last, as a video would be).
    With `write_back`, each type but VC is written back before the next (the reference mixes by running its
    script once per type, each run writing a video)."""
    types = [t for t in DF_TYPES if video_compression or t != "VC"]
    lo, hi = sorted((min(min_types, len(types)), min(max_types, len(types))))
    k = int(rng.integers(lo, hi, endpoint=True))
    chosen = sorted(rng.choice(len(types), size=k, replace=False).tolist())
    severities = rng.integers(1, 5, size=k, endpoint=True).tolist()
    drawn: list[dict] = []
    out = frames
    for index, severity in zip(chosen, severities):
        step = make_step(types[index], int(severity))
        out, params = step.apply(out, rng, write_back=write_back)
        drawn.append({"step": step.label(), **params})
    return out, {"types": [types[i] for i in chosen], "severities": [int(s) for s in severities], "mixed": drawn}
