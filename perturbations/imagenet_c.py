"""ImageNet-C common corruptions (Hendrycks & Dietterich, ICLR 2019) through the maintained `imagecorruptions`
package, so `ic.*` numbers are comparable with the image-robustness literature (its severity tables are used as
they are; nothing is re-implemented here).

The package draws from numpy's *legacy global* random state (and `impulse_noise` from scikit-image's own
unseeded generator). To keep levels deterministic and video-consistent, one 32-bit seed is drawn per video from
the level's generator, and every frame is corrupted with the global state reseeded to that same value inside a
context that restores it afterwards (`legacy_seed`); scikit-image's `random_noise` is given the same seed for the
call. Every frame of a video (its crops share one size) therefore gets the same draw: one noise field for the
noise types, one set of glass-blur pixel swaps, one motion-blur angle, one fog fractal, one frost image and crop,
one snow layer, one spatter pattern, one elastic displacement field. The deterministic corruptions (defocus, zoom
and Gaussian blur, brightness, contrast, saturate, pixelate, JPEG) draw nothing.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import warnings
from typing import Iterator

import numpy as np

STANDARD = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
            "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
            "jpeg_compression")  # the 15 of the mCE (the package's order)
HELD_OUT = ("speckle_noise", "gaussian_blur", "spatter", "saturate")  # ImageNet-C's 4 validation corruptions
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur", "snow",
          "frost", "fog", "spatter", "elastic_transform")  # those that draw: one draw per video
PREFIX = "ic."
MIN_SIDE = 32  # the package refuses smaller images
MISSING = "ImageNet-C levels (ic.*) need the optional extra: pip install 'deepfake-robustness-bench[corruptions]'"


@contextlib.contextmanager
def legacy_seed(seed: int) -> Iterator[None]:
    """numpy's legacy global state seeded with `seed` inside the block and restored after it, so a library that
    draws from `np.random.*` is deterministic without changing anyone else's global stream."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _package():
    """The package, imported on first use (it imports scikit-image, scipy and pkg_resources: about 1 s)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pkg_resources and scipy deprecation notices, once per process
            return importlib.import_module("imagecorruptions")
    except ImportError as exc:  # the package itself, or pkg_resources from setuptools >= 81
        raise ImportError(f"{MISSING} ({exc})") from None


@contextlib.contextmanager
def _package_fixes(seed: int) -> Iterator[None]:
    """Three names the package calls, replaced for the block and restored after it: scikit-image's `random_noise`
    (impulse noise) given `seed`, since its generator is otherwise unseeded; `gaussian`, which dropped the
    `multichannel=True` argument the package passes (glass and Gaussian blur) in scikit-image 0.19+: it becomes the
    equivalent `channel_axis=-1`; and the module's `np`, seen through `_Numpy2` for `np.float_` (fog's fractal),
    removed in NumPy 2.0. The package's numbers are otherwise unchanged (1.1.2 is its latest release)."""
    skimage_util = importlib.import_module("skimage.util")
    module = importlib.import_module("imagecorruptions.corruptions")
    noise, gaussian, numpy = skimage_util.random_noise, module.gaussian, module.np

    def channel_gaussian(image, *args, multichannel: bool = False, **kwargs):
        return gaussian(image, *args, **({"channel_axis": -1} if multichannel else {}), **kwargs)

    skimage_util.random_noise = functools.partial(noise, rng=seed)
    module.gaussian, module.np = channel_gaussian, _Numpy2()
    try:
        yield
    finally:
        skimage_util.random_noise, module.gaussian, module.np = noise, gaussian, numpy


class _Numpy2:
    """numpy itself (its global random state included), plus the alias `float_` NumPy 2.0 removed."""

    float_ = np.float64

    def __getattr__(self, name: str):
        return getattr(np, name)


def corrupt_video(frames: np.ndarray, rng: np.random.Generator, *, corruption: str,
                  severity: int) -> tuple[np.ndarray, dict]:
    """Every frame corrupted by `corruption` at `severity` (1-5) with one random draw for the whole video."""
    package = _package()
    if corruption not in STANDARD + HELD_OUT:
        raise ValueError(f"unknown ImageNet-C corruption {corruption!r} (known: {', '.join(STANDARD + HELD_OUT)})")
    if len(frames) and min(frames.shape[1:3]) < MIN_SIDE:
        raise ValueError(f"{PREFIX}{corruption} needs images of at least {MIN_SIDE} px, got {frames.shape[1:3]}")
    seed = int(rng.integers(0, 2**32 - 1))
    height, width = frames.shape[1:3]
    out = np.empty_like(frames)
    with _package_fixes(seed):
        for i, frame in enumerate(frames):
            with legacy_seed(seed), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the package's scipy/skimage deprecation notices
                corrupted = package.corrupt(frame, severity=severity, corruption_name=corruption)
            out[i] = np.clip(np.asarray(corrupted, np.float64)[:height, :width], 0, 255).round().astype(np.uint8)
    drawn: dict = {"corruption": corruption, "severity": severity}
    if corruption in RANDOM:
        drawn["draw_seed"] = seed  # the package's draw for this video (same for every frame)
    return out, drawn
