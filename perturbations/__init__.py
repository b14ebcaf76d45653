"""Perturbation levels by name: `perturbations.get("heavy").apply(frames, seed)`.

Levels are registered as "module:function" strings and imported on first use, so `none` needs no
imgaug.
"""
from __future__ import annotations

import importlib

from .base import Level, SeedLike, identity, seed_for
from .imgaug_levels import FLIP_STEPS, HEAVY_STEPS  # plain tuples: imgaug itself is imported on first use

__all__ = ["Level", "SeedLike", "available", "expand", "get", "seed_for"]

_LEVELS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "none": ("", "clean: no perturbation (the baseline every drop is measured against)", ()),
    "flip": ("perturbations.imgaug_levels:flip",
             "slight rotation and/or vertical flip: imgaug Flipud(0.5) + Affine(rotate=(-20, 20))",
             FLIP_STEPS),
    "heavy": ("perturbations.imgaug_levels:heavy",
              "the published heavy imgaug pipeline (brightness, blur, dropout, noise, contrast, grayscale, flip, rotation)",
              HEAVY_STEPS),
}


def available() -> list[str]:
    return list(_LEVELS)


def describe(name: str) -> str:
    return _LEVELS[name][1]


def get(level: str) -> Level:
    """The level object for a name; unknown names raise a ValueError listing the known ones."""
    if level not in _LEVELS:
        raise ValueError(f"unknown perturbation level {level!r}; available: {', '.join(_LEVELS)}")
    target, description, steps = _LEVELS[level]
    if not target:
        return Level(level, description, identity, steps)
    module_name, func_name = target.split(":")
    transform = getattr(importlib.import_module(module_name), func_name)
    return Level(level, description, transform, steps)


def expand(spec: str) -> list[str]:
    """`none`, `heavy`, `flip,heavy` or `all` -> level names, clean baseline first, no repeats."""
    names = available() if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        if name not in _LEVELS:
            raise ValueError(f"unknown perturbation level {name!r}; available: {', '.join(_LEVELS)}, all")
    ordered = ["none"] + [n for n in names if n != "none"]
    return list(dict.fromkeys(ordered))
