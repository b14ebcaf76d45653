"""The published imgaug tiers: `flip` (slight rotation and/or vertical flip) and `heavy`.

The heavy pipeline is the one of the course study behind the 3-tier Celeb-DF table
(Multiply, GaussianBlur, Dropout, AdditiveGaussianNoise, ContrastNormalization (now LinearContrast),
Grayscale, Flipud, Affine rotate). The study did not publish the flip probability or angle;
we use Flipud(0.5) and rotate (-20, 20) degrees.

Every value the published pipeline would sample per video (`HEAVY_RANGES`, in imgaug's order) is drawn here
from the per-video numpy Generator, and the augmenters are built with those values fixed, so the values are
known and recorded (the `params` column of scores.csv) and `replay` rebuilds the same frames from the record
alone. Only the per-pixel patterns of Dropout and AdditiveGaussianNoise stay random; they come from imgaug's
generator seeded with the recorded `pixel_seed`. Distributions are imgaug's: a `(lo, hi)` tuple is uniform on
[lo, hi), `Flipud(0.5)` a coin with p = 0.5.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

HEAVY_STEPS = (
    "Multiply((0.5, 1.5))",
    "GaussianBlur(sigma=(0.0, 3.0))",
    "Dropout((0.0, 0.2))",
    "AdditiveGaussianNoise(scale=(0, 0.1*255))",
    "LinearContrast((0.5, 2.0))",
    "Grayscale(alpha=(0.0, 1.0))",
    "Flipud(0.5)",
    "Affine(rotate=(-20, 20))",
)
FLIP_STEPS = HEAVY_STEPS[-2:]
PIPELINES = ("flip", "heavy")

# The recorded name of each drawn value -> the published range it is drawn from (uniform), in pipeline order.
# `flipud` is drawn as a coin with probability FLIPUD_P; `pixel_seed` seeds the per-pixel dropout/noise patterns.
HEAVY_RANGES: dict[str, tuple[float, float]] = {
    "multiply": (0.5, 1.5),
    "blur_sigma": (0.0, 3.0),
    "dropout": (0.0, 0.2),
    "noise_scale": (0.0, 0.1 * 255),
    "contrast": (0.5, 2.0),
    "grayscale_alpha": (0.0, 1.0),
}
FLIPUD_P = 0.5
ROTATE_RANGE = (-20.0, 20.0)
PIXEL_SEEDED = ("dropout", "noise_scale")  # values whose effect also needs `pixel_seed`
SEED_BOUND = 2**31 - 1


def _iaa():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # imgaug emits deprecation noise on import under new numpy/scipy
        import imgaug.augmenters as iaa
    return iaa


def draw(rng: np.random.Generator, pipeline: str) -> dict[str, Any]:
    """The values one video gets from `pipeline` (`flip` or `heavy`), drawn from `rng` in pipeline order.

    JSON-able (floats and a bool, plus `pixel_seed` for `heavy`): this dict is what scores.csv records and what
    `replay` takes back.
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown imgaug pipeline {pipeline!r} (use {' or '.join(PIPELINES)})")
    values: dict[str, Any] = {"pipeline": pipeline}
    if pipeline == "heavy":
        values.update({name: float(rng.uniform(lo, hi)) for name, (lo, hi) in HEAVY_RANGES.items()})
    values["flipud"] = bool(rng.random() < FLIPUD_P)
    values["rotate_deg"] = float(rng.uniform(*ROTATE_RANGE))
    if pipeline == "heavy":
        values["pixel_seed"] = int(rng.integers(0, SEED_BOUND))
    return values


def augmenters(values: dict[str, Any]) -> list:
    """imgaug augmenters with every sampled value fixed to `values` (see `draw`), in the published order."""
    iaa = _iaa()
    tail = [iaa.Flipud(1.0 if values["flipud"] else 0.0), iaa.Affine(rotate=values["rotate_deg"])]
    if values["pipeline"] == "flip":
        return tail
    return [
        iaa.Multiply(values["multiply"]),
        iaa.GaussianBlur(sigma=values["blur_sigma"]),
        iaa.Dropout(values["dropout"]),
        iaa.AdditiveGaussianNoise(scale=values["noise_scale"]),
        iaa.LinearContrast(values["contrast"]),
        iaa.Grayscale(alpha=values["grayscale_alpha"]),
        *tail,
    ]


def replay(frames: np.ndarray, values: dict[str, Any]) -> np.ndarray:
    """Apply the pipeline with the recorded `values` to every frame (uint8 RGB N x H x W x 3).

    A deterministic imgaug augmenter resets its random state on each call, so frame by frame every frame gets
    the same dropout mask and noise field (seeded by `pixel_seed`): a video-consistent transform. Extra keys
    (e.g. `step`) are ignored, so a step entry of scores.csv's `params` can be passed as it is.
    """
    iaa = _iaa()
    seq = iaa.Sequential(augmenters(values))
    seq.seed_(int(values.get("pixel_seed", 0)))
    frozen = seq.to_deterministic()
    return np.stack([frozen(image=frame) for frame in frames])


def flip(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return replay(frames, draw(rng, "flip"))


def heavy(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return replay(frames, draw(rng, "heavy"))


def pipeline(frames: np.ndarray, rng: np.random.Generator, pipeline: str) -> tuple[np.ndarray, dict]:
    """The IMGAUG step: `flip` or `heavy` with values drawn from `rng`; returns the frames and the values."""
    values = draw(rng, pipeline)
    return replay(frames, values), dict(values)


def short_text(values: dict[str, Any]) -> str:
    """The drawn values in a few characters each, for the gallery: `x1.23 blur1.4 drop0.08 noise12 con1.60
    gray0.40 flipud rot-12` (`no flip` when not flipped)."""
    parts = []
    if "multiply" in values:
        parts += [f"x{values['multiply']:.2f}", f"blur{values['blur_sigma']:.1f}", f"drop{values['dropout']:.2f}",
                  f"noise{values['noise_scale']:.0f}", f"con{values['contrast']:.2f}",
                  f"gray{values['grayscale_alpha']:.2f}"]
    if "flipud" in values:
        parts += ["flipud" if values["flipud"] else "no flip", f"rot{values['rotate_deg']:+.0f}"]
    return " ".join(parts)
