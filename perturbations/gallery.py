"""A labelled grid of one face crop under several levels (pure numpy/OpenCV, for the CLI and reports).

The grid says what it shows: a title band names the video, its label and the seed, and under every tile the level
name is followed by the values that level drew for this video in short form (`params_text`), so an unchanged-
looking `flip` tile reads "rot+2" rather than leaving the reader guessing.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import cv2
import numpy as np

from .attack_spec import split_attack
from .base import seed_for
from .imgaug_levels import short_text
from .spec import expand_specs, parse_level

LABEL_HEIGHT = 22  # one text line of a tile's caption (level name, then the drawn values, wrapped)
TITLE_HEIGHT = 30  # the band above the grid naming the video, when a video id or label is given
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.5  # about 12 px high capitals: readable on a 160-256 px tile
TITLE_SCALE = 0.6
LABEL_NAMES = {0: "real", 1: "fake"}


def params_text(steps: list[dict[str, Any]]) -> str:
    """What a level drew for one video (its `params["steps"]`), a few characters per value; '' if nothing was drawn
    (a fixed-severity step such as `GB:3` is fully described by its name)."""
    return " ".join(t for t in (_step_text(s) for s in steps) if t)


def _step_text(step: dict[str, Any]) -> str:
    name = str(step.get("step", "")).split(":")[0].split("(")[0].split("@")[0]
    if name == "IMGAUG":
        return short_text(step)
    if name in ("HFLIP", "VFLIP"):
        return "flipped" if step.get("flipped") else "not flipped"
    if name == "ROT":
        return f"rot{step['angle']:+.0f}"
    if name == "SCALE":
        return f"x{step['scale']:.2f} shift{step['shift_x']:+.2f},{step['shift_y']:+.2f}"
    if name == "ASPECT":
        return f"{step['axis']} x{step['factor']:.2f}"
    if name == "DFMIX":
        return " ".join(f"{t}:{s}" for t, s in zip(step.get("types", []), step.get("severities", [])))
    if "linf_255" in step:  # an attack: on whom, towards what, how far it moved the pixels
        return f"{step['detector']} ->{step['target']} Linf {step['linf_255']}/255"
    if "n_in" in step:
        return f"{step['n_in']}->{step['n_out']} frames"
    if "kbps" in step:
        return f"{step['kbps']:.0f} kbps"
    scalars = {k: v for k, v in step.items() if k != "step" and isinstance(v, (bool, int, float, str))}
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in scalars.items())


def make_gallery(face_crop: np.ndarray, level_specs: str | Iterable[str], seed: int = 0, video_id: str = "",
                 columns: int | None = None, inner: float | None = None, tile: int | None = None,
                 label: int | None = None, attack: Callable[..., tuple[np.ndarray, dict]] | None = None) -> np.ndarray:
    """RGB uint8 grid: one tile per level (clean `none` first), captioned with the level and its drawn values.

    `face_crop` is one uint8 RGB crop (H x W x 3) or a short sequence (N x H x W x 3; the first frame is
    shown, codecs and temporal steps see the sequence). Each level gets `seed_for(seed, video_id, name)`, as
    in a run. `inner` (e.g. 1.5) cuts the central 1/inner after perturbing, i.e. what the detector sees;
    `tile` resizes tiles to that side. Grid: `columns` (default ceil(sqrt(n))) x rows; every caption is as many
    LABEL_HEIGHT lines as the longest needs. With a `video_id` or a `label` (0 real, 1 fake) a TITLE_HEIGHT band
    on top names them. Attack levels (`PGD:3`) need `attack(frames, step, rng) -> (frames, drawn)`, which a
    benchmark run builds from a detector (`benchmarks.pipeline.gallery`): it gets the inner crops after the
    level's other steps and returns the adversarial crops at the detector's input size.
    """
    frames = np.asarray(face_crop)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"make_gallery expects a uint8 RGB crop H x W x 3 (or N x H x W x 3), got {frames.dtype} {frames.shape}")
    names = expand_specs(level_specs if isinstance(level_specs, str) else ",".join(level_specs))
    images, captions = [], []
    for name in names:
        level, step = split_attack(parse_level(name))
        if step is not None and attack is None:
            raise ValueError(f"{name}: an attack level needs a detector: see it in a run's gallery")
        out, params = level.apply(frames, seed_for(seed, video_id, name), return_params=True)
        image = out[0] if len(out) else np.zeros_like(frames[0])
        if step is not None and len(out):
            side = out.shape[1]
            k = int(round(side / inner)) if inner else side
            start = (side - k) // 2
            adversarial, drawn = attack(out[:1, start:start + k, start:start + k], step,
                                        np.random.default_rng(seed_for(seed, video_id, name)))
            image, inner_done = adversarial[0], True
            params["steps"].append(drawn)
        else:
            inner_done = False
        if inner and not inner_done:
            side = image.shape[0]
            k = int(round(side / inner))
            start = (side - k) // 2
            image = image[start:start + k, start:start + k]
        if tile:
            image = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
        images.append(np.ascontiguousarray(image))
        captions.append([name] + _wrap(params_text(params["steps"]), image.shape[1] - 4))
    n_lines = max(len(c) for c in captions)
    tiles = [_captioned(image, lines, n_lines) for image, lines in zip(images, captions)]
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    th, tw = tiles[0].shape[:2]
    grid = np.full((rows * th, columns * tw, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = t
    if not video_id and label is None:
        return grid
    title = " | ".join(p for p in (f"video {video_id}" if video_id else "", LABEL_NAMES.get(label, ""),
                                   f"seed {seed}") if p)
    return np.concatenate([_band(title, grid.shape[1], TITLE_HEIGHT, TITLE_SCALE), grid], axis=0)


def _wrap(text: str, width: int) -> list[str]:
    """Words of `text` in lines no wider than `width` px at FONT_SCALE (a longer single word gets its own line)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(candidate, FONT, FONT_SCALE, 1)[0][0] <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def _band(text: str, width: int, height: int, scale: float) -> np.ndarray:
    band = np.full((height, width, 3), 255, np.uint8)
    while scale > 0.3 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width - 4:
        scale -= 0.05
    cv2.putText(band, text, (2, height - 8), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def _captioned(image: np.ndarray, lines: list[str], n_lines: int) -> np.ndarray:
    w = image.shape[1]
    bands = [_band(line, w, LABEL_HEIGHT, FONT_SCALE) for line in lines]
    bands += [np.full((LABEL_HEIGHT, w, 3), 255, np.uint8)] * (n_lines - len(lines))
    return np.concatenate([image, *bands], axis=0)
