"""Attack levels as data: `PGD:S`, `PGD-EOT:S` and the transfer form `PGD:S@DETECTOR` are parsed by the same
grammar as every level, but their step types are *detector-dependent* (`StepType.detector_dependent`): the
pixels depend on the detector's gradients, so `perturbations` (which never imports detectors) only describes
them, and `benchmarks.pipeline.attack` applies them with the detector in hand. An attack step must be the
level's last step; the steps before it are ordinary perturbations applied first (e.g. `JPEG:3+PGD:2`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .base import Level

__all__ = ["attack_settings", "attack_step", "is_attack", "needs_detector", "split_attack"]


def needs_detector(frames: np.ndarray, rng: np.random.Generator, **params: Any) -> tuple[np.ndarray, dict]:
    """The frame function of attack types: never called, because an attack needs the detector's gradients."""
    raise ValueError("attack steps (PGD, PGD-EOT) depend on the detector: they are applied by a benchmark run "
                     "(benchmarks.pipeline.attack), not by Level.apply")


def attack_step(level: Level) -> Any | None:
    """The level's attack step (a `steps.Step` whose type is detector-dependent), or None."""
    found = [op for op in level.ops if op.type.detector_dependent]
    if not found:
        return None
    if len(found) > 1 or not level.ops[-1].type.detector_dependent:
        raise ValueError(f"level {level.name!r}: an attack (PGD, PGD-EOT) must be the level's only attack and "
                         "its last step")
    return found[0]


def is_attack(level: Level) -> bool:
    """Whether the level ends with an attack (its rows are adversarial, not common corruptions)."""
    return attack_step(level) is not None


def split_attack(level: Level) -> tuple[Level, Any | None]:
    """(the level without its attack step, the attack step or None): the first part is applied like any level
    (its draws are those of the same steps without the attack), the second by the attack stage."""
    step = attack_step(level)
    if step is None:
        return level, None
    ops = level.ops[:-1]
    return dataclasses.replace(level, ops=ops, steps=tuple(op.label() for op in ops), positions=(),
                               n_total=-1), step


def attack_settings(step) -> dict[str, Any]:
    """The configuration of an attack step for the manifest (eps in pixel levels and in [0, 1], step size)."""
    params = dict(step.params)
    eps = params["eps"]
    out = {"attack": step.type.name, "norm": "Linf", "eps_255": eps, "eps": eps / 255.0, "steps": params["steps"],
           "step_size": params["step_ratio"] * eps / params["steps"] / 255.0, "random_init": 1,
           "targeted": "towards the wrong class", "library": "adversarial-robustness-toolbox (ProjectedGradientDescentPyTorch)",
           "surrogate": params["surrogate"] or "each detector (white-box)"}
    if step.type.name == "PGD-EOT":
        out.update(eot="JPEG re-save, straight-through gradient", samples=params["samples"],
                   quality=[params["quality_min"], params["quality_max"]])
    return out
