"""The published imgaug tiers: `flip` (slight rotation and/or vertical flip) and `heavy`.

The heavy pipeline is the one of the course study behind the 3-tier Celeb-DF table
(Multiply, GaussianBlur, Dropout, AdditiveGaussianNoise, ContrastNormalization (now LinearContrast),
Grayscale, Flipud, Affine rotate). The study did not publish the flip probability or angle;
we use Flipud(0.5) and rotate (-20, 20) degrees.
"""
from __future__ import annotations

import warnings

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


def _iaa():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # imgaug emits deprecation noise on import under new numpy/scipy
        import imgaug.augmenters as iaa
    return iaa


def _flip_augmenters(iaa) -> list:
    return [iaa.Flipud(0.5), iaa.Affine(rotate=(-20, 20))]


def _heavy_augmenters(iaa) -> list:
    return [
        iaa.Multiply((0.5, 1.5)),
        iaa.GaussianBlur(sigma=(0.0, 3.0)),
        iaa.Dropout((0.0, 0.2)),
        iaa.AdditiveGaussianNoise(scale=(0, 0.1 * 255)),
        iaa.LinearContrast((0.5, 2.0)),
        iaa.Grayscale(alpha=(0.0, 1.0)),
        *_flip_augmenters(iaa),
    ]


def _apply_sequential(augmenters: list, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seed imgaug from `rng`, freeze the sampled parameters, and apply them to every frame.

    A deterministic imgaug augmenter resets its random state on each call, so calling it frame by
    frame gives every frame identical parameters (and identical noise/dropout patterns), i.e. a
    video-consistent transform, as when a whole video is augmented at once.
    """
    return _apply_seeded(augmenters, frames, int(rng.integers(0, 2**31 - 1)))


def _apply_seeded(augmenters: list, frames: np.ndarray, seed: int) -> np.ndarray:
    iaa = _iaa()
    seq = iaa.Sequential(augmenters)
    seq.seed_(seed)
    frozen = seq.to_deterministic()
    return np.stack([frozen(image=frame) for frame in frames])


def flip(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _apply_sequential(_flip_augmenters(_iaa()), frames, rng)


def heavy(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _apply_sequential(_heavy_augmenters(_iaa()), frames, rng)


def pipeline(frames: np.ndarray, rng: np.random.Generator, pipeline: str) -> tuple[np.ndarray, dict]:
    """The IMGAUG step: `flip` or `heavy`, seeded exactly as `flip()`/`heavy()`; reports the imgaug seed."""
    seed = int(rng.integers(0, 2**31 - 1))
    iaa = _iaa()
    augmenters = _flip_augmenters(iaa) if pipeline == "flip" else _heavy_augmenters(iaa)
    return _apply_seeded(augmenters, frames, seed), {"imgaug_seed": seed}
