"""Which decoded frames a video contributes: one vocabulary of sampling strategies for the settings and decoder."""
from __future__ import annotations

import numpy as np

SAMPLINGS = ("even", "linspace", "first", "every:K")


def sample_indices(total: int, n: int) -> list[int]:
    """Evenly spaced frame indices, `np.linspace(0, n, k, endpoint=False)` (deepfake_detector's sampling; DeepfakeBench's
    includes the last frame: `linspace_indices`); all frames when the video is short."""
    if total <= 0 or n <= 0:
        return []
    if total <= n:
        return list(range(total))
    picked = np.linspace(0, total, n, endpoint=False).astype(int)
    return sorted(set(int(i) for i in picked))


def linspace_indices(total: int, n: int) -> list[int]:
    """`np.linspace(0, total - 1, n, endpoint=True, dtype=int)`, first and last frame included: DeepfakeBench's
    preprocessing (preprocessing/preprocess.py, mode fixed_num_frames) and SBI's inference (preprocess.py
    extract_frames); repeated indices (a video shorter than n) count once."""
    return sorted(set(int(i) for i in np.linspace(0, total - 1, n, endpoint=True, dtype=int)))


def select_indices(total: int, n: int, sampling: str = "even") -> list[int]:
    """Frame indices by strategy: `even` (linspace without the end, the default), `linspace` (with the last frame),
    `first` (first n), `every:K` (every K-th, up to n)."""
    if sampling == "even":
        return sample_indices(total, n)
    if total <= 0 or n <= 0:
        return []
    if sampling == "linspace":
        return linspace_indices(total, n)
    if sampling == "first":
        return list(range(min(total, n)))
    name, _, step = sampling.partition(":")
    if name == "every" and step.isdigit() and int(step) > 0:
        return list(range(0, total, int(step)))[:n]
    raise ValueError(f"unknown frame sampling {sampling!r}: use even, linspace, first or every:K (K >= 1)")
