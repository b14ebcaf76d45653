"""Perturbation levels by name or spec: `perturbations.get("heavy").apply(frames, seed)`.

Named levels come from `levels.toml` (plus files added with `load_levels_file`); inline specs such as
`GB:3`, `JPEG:5+GNC:2`, `df:mix` build levels on the fly, and `expand` also takes groups (`all`,
`df:all`, `df:3`, `ic:all`, `ic:3`). Attack types (`PGD:3`, `PGD-EOT:3`, `PGD:3@meso`) are parsed here but
applied by a benchmark run, which has the detector (`split_attack`). Implementations are imported on first use: importing this package imports neither
imgaug nor av.
"""
from __future__ import annotations

from .attack_spec import attack_settings, attack_step, is_attack, split_attack
from .base import STAGES, Level, SeedLike, identity, seed_for
from .imagenet_c import HELD_OUT as IC_HELD_OUT
from .imagenet_c import STANDARD as IC_STANDARD
from .imagenet_c import legacy_seed
from .imgaug_levels import FLIP_STEPS, HEAVY_STEPS  # plain tuples: imgaug itself is imported on first use
from .share_presets import PRESETS as SHARE_PRESETS  # plain data: PyAV is imported on first use
from .spec import (
    expand_specs,
    load_levels_file,
    parse_level,
    register,
    register_step_type,
    registry,
    unregister,
    unregister_step_type,
)
from .steps import ATTACK_TYPES, DF_TYPES, TYPES, WRITE_BACK_MODES, Param, Step, StepType, make_step, step_modules

__all__ = ["ATTACK_TYPES", "IC_HELD_OUT", "IC_STANDARD", "attack_settings", "attack_step", "is_attack", "legacy_seed",
           "split_attack", "DF_TYPES", "FLIP_STEPS", "HEAVY_STEPS", "SHARE_PRESETS", "STAGES", "TYPES", "identity", "Level", "Param", "SeedLike",
           "Step", "StepType", "available", "describe", "expand", "get", "load_levels_file", "make_gallery",
           "make_step", "register", "register_step_type", "seed_for", "share_presets", "step_modules", "step_types",
           "unregister",
           "unregister_step_type", "WRITE_BACK_MODES"]


def available() -> list[str]:
    """Named levels (built-in and loaded files), in definition order."""
    return list(registry())


def describe(name: str) -> str:
    """One-line description of a named level or a single-level spec."""
    return get(name).description


def step_types() -> dict[str, str]:
    """Step type -> one-line summary (for `list`)."""
    return {name: t.summary for name, t in TYPES.items()}


def share_presets() -> dict[str, str]:
    """Platform re-sharing preset -> its description, which names its source (for `list`; `share:NAME[:N]`)."""
    return {name: preset.description for name, preset in SHARE_PRESETS.items()}


def get(level: str) -> Level:
    """The Level for a name or single-level spec; unknown names raise a ValueError listing the known ones."""
    return parse_level(level)


def expand(spec: str) -> list[str]:
    """`none`, `heavy`, `flip,heavy`, `all`, `heavy,GB:3,df:2`, `df:all` ... -> level names, clean baseline first."""
    return expand_specs(spec)


def make_gallery(*args, **kwargs):
    """See `perturbations.gallery.make_gallery`; imported on first use so `import perturbations` never pays for
    OpenCV (the gallery module imports cv2 at its top)."""
    from .gallery import make_gallery as impl
    return impl(*args, **kwargs)
