"""What a perturbation level is, and how its seed is derived."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SeedLike = int | np.random.Generator


def seed_for(run_seed: int, video_id: str, level: str) -> int:
    """A 63-bit seed from (run seed, video, level): stable across machines, processes and runs.

    Every detector sees the same pixels because the seed depends on nothing detector-specific.
    """
    digest = hashlib.sha256(f"{run_seed}\x1f{video_id}\x1f{level}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def as_generator(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@dataclass(frozen=True)
class Level:
    """A named perturbation applied to all face crops (with context) of one video.

    `transform(frames, rng)` draws its parameters once from `rng`, so every frame of a video gets
    the same transform. Frames are uint8 RGB, N x H x W x 3.
    """

    name: str
    description: str
    transform: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    steps: tuple[str, ...] = field(default=())

    def apply(self, frames: np.ndarray, seed: SeedLike) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"level {self.name!r} expects uint8 frames N x H x W x 3, got {frames.dtype} {frames.shape}")
        if len(frames) == 0:
            return frames.copy()
        out = self.transform(frames, as_generator(seed))
        return np.ascontiguousarray(out, dtype=np.uint8)


def identity(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return frames.copy()
