"""Temporal edits for clip detectors: frame drop, duplication, frame-rate change, windowed shuffle.

Each is an index map drawn once per video: output frame j = input frame indices[j]. On face crops or
sampled frames it maps the sequence (the frame count changes for DROP, DUP and FPS); at the video
stage it maps every decoded frame of the file and writes it losslessly (libx264rgb qp 0), so only the
temporal edit is measured. FPS at the video stage also sets the new frame rate (duration is kept).
"""
from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Iterator

import numpy as np

from .codecs import decode_frames, video_fps, write_lossless


def drop_indices(n: int, rng: np.random.Generator, fraction: float) -> list[int]:
    k = min(int(round(fraction * n)), n - 1)
    dropped = set(rng.choice(n, size=k, replace=False).tolist()) if k > 0 else set()
    return [i for i in range(n) if i not in dropped]


def dup_indices(n: int, rng: np.random.Generator, fraction: float) -> list[int]:
    k = min(int(round(fraction * n)), n)
    doubled = set(rng.choice(n, size=k, replace=False).tolist()) if k > 0 else set()
    return [j for i in range(n) for j in ([i, i] if i in doubled else [i])]


def fps_indices(n: int, rng: np.random.Generator, factor: float) -> list[int]:
    m = max(1, int(round(n * factor)))
    return [min(n - 1, int(np.floor(j / factor + 1e-9))) for j in range(m)]


def shuffle_indices(n: int, rng: np.random.Generator, window: int) -> list[int]:
    out: list[int] = []
    for start in range(0, n, window):
        block = np.arange(start, min(n, start + window))
        out.extend(rng.permutation(block).tolist())
    return out


_MAPS = {"drop": (drop_indices, "fraction"), "dup": (dup_indices, "fraction"), "fps": (fps_indices, "factor"),
         "shuffle": (shuffle_indices, "window")}


def _frames(kind: str):
    def apply(frames: np.ndarray, rng: np.random.Generator, **params) -> tuple[np.ndarray, dict]:
        indices = _MAPS[kind][0](len(frames), rng, **params)
        return frames[indices], {"n_in": len(frames), "n_out": len(indices), "indices": indices}
    apply.__name__ = kind
    apply.__doc__ = f"{kind.upper()} on a frame sequence (N x H x W x 3)."
    return apply


def remap(frames: Iterator[np.ndarray], indices: list[int]) -> Iterator[np.ndarray]:
    """Stream `frames` reordered by `indices`, buffering only frames still needed (maps are near-monotone)."""
    remaining = Counter(indices)
    buffer: dict[int, np.ndarray] = {}
    pos = 0
    for i, frame in enumerate(frames):
        if remaining[i]:
            buffer[i] = frame
        while pos < len(indices) and indices[pos] in buffer:
            j = indices[pos]
            yield buffer[j]
            remaining[j] -= 1
            if not remaining[j]:
                del buffer[j]
            pos += 1


def count_frames(path: str) -> int:
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size > 0)


def _video(kind: str):
    def apply(src: str, dst: str, rng: np.random.Generator, **params) -> dict:
        n = count_frames(src)
        indices = _MAPS[kind][0](n, rng, **params)
        fps = video_fps(src)
        if kind == "fps":
            fps = Fraction(fps * Fraction(params["factor"]).limit_denominator(1000)).limit_denominator(100000)
        settings = write_lossless(remap(decode_frames(src), indices), dst, fps)
        return {**settings, "n_in": n, "n_out": len(indices), "indices": indices}
    apply.__name__ = f"{kind}_video"
    return apply


drop, dup, fps, shuffle = (_frames(k) for k in ("drop", "dup", "fps", "shuffle"))
drop_video, dup_video, fps_video, shuffle_video = (_video(k) for k in ("drop", "dup", "fps", "shuffle"))
