"""A labelled grid of one face crop under several levels (pure numpy/OpenCV, for the CLI and reports)."""
from __future__ import annotations

import math
from typing import Iterable

import cv2
import numpy as np

from .base import seed_for
from .spec import expand_specs, parse_level

LABEL_HEIGHT = 22


def make_gallery(face_crop: np.ndarray, level_specs: str | Iterable[str], seed: int = 0, video_id: str = "",
                 columns: int | None = None, inner: float | None = None, tile: int | None = None) -> np.ndarray:
    """RGB uint8 grid: one tile per level (clean `none` first), labelled underneath.

    `face_crop` is one uint8 RGB crop (H x W x 3) or a short sequence (N x H x W x 3; the first frame is
    shown, codecs and temporal steps see the sequence). Each level gets `seed_for(seed, video_id, name)`, as
    in a run. `inner` (e.g. 1.5) cuts the central 1/inner after perturbing, i.e. what the detector sees;
    `tile` resizes tiles to that side. Grid: `columns` (default ceil(sqrt(n))) x rows, each tile
    tile_h + LABEL_HEIGHT high.
    """
    frames = np.asarray(face_crop)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"make_gallery expects a uint8 RGB crop H x W x 3 (or N x H x W x 3), got {frames.dtype} {frames.shape}")
    names = expand_specs(level_specs if isinstance(level_specs, str) else ",".join(level_specs))
    tiles = []
    for name in names:
        out = parse_level(name).apply(frames, seed_for(seed, video_id, name))
        image = out[0] if len(out) else np.zeros_like(frames[0])
        if inner:
            side = image.shape[0]
            k = int(round(side / inner))
            start = (side - k) // 2
            image = image[start:start + k, start:start + k]
        if tile:
            image = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
        tiles.append(_labelled(np.ascontiguousarray(image), name))
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    th, tw = tiles[0].shape[:2]
    grid = np.full((rows * th, columns * tw, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = t
    return grid


def _labelled(image: np.ndarray, text: str) -> np.ndarray:
    h, w = image.shape[:2]
    band = np.full((LABEL_HEIGHT, w, 3), 255, np.uint8)
    scale = 0.45
    while scale > 0.2 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > w - 4:
        scale -= 0.05
    cv2.putText(band, text, (2, LABEL_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, band], axis=0)
