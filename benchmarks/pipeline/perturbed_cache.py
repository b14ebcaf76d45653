"""Perturbed face crops kept for later runs (`--cache-perturbed`; off by default because of the disk it takes).

A run that adds a detector to levels scored before perturbs every level again, and that is most of its work
besides inference (`heavy` 0.17 s per video, a codec level with re-detection 0.2-0.4 s). With this cache each
level's result for a video (the crops every detector is fed before resizing, or the status of a level that lost
the face, with the parameters drawn and the frames used) is stored once and loaded by later runs instead. The
key holds everything those pixels depend on: the face-cache key (video bytes, frames, face settings, runtimes),
the level's steps with `apply_at`, the seed, the face context, and the project-code and library fingerprint of
the score cache. Levels without steps (`none`) are never stored. About 4-6 MB per video and level (zstd over the
same row filter as the face cache), so a full grid on a large dataset needs a large disk: see `cache info`.
Entries are checked like face-cache entries (their own key, a checksum, crops agreeing with the frames used): a
swapped, changed or cut-short entry is discarded, perturbed again and rewritten; a read-only cache is only read.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..hashing import EntryRejected
from ..inference.score_cache import code_fingerprint
from .face_cache import CACHEABLE, compress_pixels, decompress_pixels, read_entry, write_entry

__all__ = ["PerturbedCache", "PerturbedLevel"]

FORMAT = 1


@dataclass
class PerturbedLevel:
    """One video at one level, as the detectors see it: `faces` (N x S x S x 3 uint8) when `status` is "ok"."""

    status: str
    message: str
    faces: np.ndarray | None
    frame_indices: str  # as written to scores.csv
    params: str  # the row's params JSON, exactly as written to scores.csv


class PerturbedCache:
    """One .npz per (face crops, level, seed, context) under `<root>/perturbed`."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.dir = self.root / "perturbed"

    @staticmethod
    def key(faces_key: str, level: str, seed: int, context: float) -> str:
        text = f"{FORMAT}|{code_fingerprint()}|{faces_key}|{level}|{seed}|{context!r}"
        return hashlib.sha256(text.encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npz"

    def load(self, key: str) -> PerturbedLevel | None:
        """The stored level, or None when absent, of an earlier version, or discarded (computed again)."""
        return read_entry(self.path_for(key), key, "perturbed", _level_from)

    def store(self, key: str, level: PerturbedLevel) -> None:
        """Atomic: concurrent workers never read half an entry (nothing is stored in a read-only cache)."""
        meta = {"status": level.status, "message": level.message, "frame_indices": level.frame_indices,
                "params": level.params}
        arrays = {"meta": np.array(json.dumps(meta))}
        if level.status == "ok":
            arrays.update(faces=compress_pixels(level.faces), shape=np.asarray(level.faces.shape, np.int64))
        write_entry(self.path_for(key), key, arrays, self.root)

    def entries(self) -> int:
        return sum(1 for _ in self.dir.rglob("*.npz")) if self.dir.is_dir() else 0

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file()) if self.dir.is_dir() else 0

    def clear(self) -> None:
        """Delete all stored perturbed crops (only `<root>/perturbed`)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _level_from(arrays: dict[str, np.ndarray]) -> PerturbedLevel:
    """The level of a verified entry; raises when its crops do not agree with the frames it names."""
    meta = json.loads(str(arrays["meta"]))
    status = str(meta["status"])
    if status not in CACHEABLE:
        raise EntryRejected(f"status {status!r}")
    faces = None
    if status == "ok":
        faces = decompress_pixels(arrays["faces"], arrays["shape"])
        frames = len(str(meta["frame_indices"]).split())
        if faces.ndim != 4 or faces.shape[3] != 3 or faces.shape[0] == 0 or (frames and faces.shape[0] != frames):
            raise EntryRejected(f"crops of shape {faces.shape} for {frames} frames")
    return PerturbedLevel(status, str(meta["message"]), faces, str(meta["frame_indices"]), str(meta["params"]))
