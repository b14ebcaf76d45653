"""Which decoded frames a video contributes: one vocabulary of sampling strategies for the settings and decoder."""
from __future__ import annotations

import numpy as np

SAMPLINGS = ("even", "first", "every:K")


def sample_indices(total: int, n: int) -> list[int]:
    """Evenly spaced frame indices (DeepfakeBench protocol); all frames when the video is short."""
    if total <= 0 or n <= 0:
        return []
    if total <= n:
        return list(range(total))
    picked = np.linspace(0, total, n, endpoint=False).astype(int)
    return sorted(set(int(i) for i in picked))


def select_indices(total: int, n: int, sampling: str = "even") -> list[int]:
    """Frame indices by strategy: `even` (linspace, the default), `first` (first n), `every:K` (every K-th, up to n)."""
    if sampling == "even":
        return sample_indices(total, n)
    if total <= 0 or n <= 0:
        return []
    if sampling == "first":
        return list(range(min(total, n)))
    name, _, step = sampling.partition(":")
    if name == "every" and step.isdigit() and int(step) > 0:
        return list(range(0, total, int(step)))[:n]
    raise ValueError(f"unknown frame sampling {sampling!r}: use even, first or every:K (K >= 1)")
