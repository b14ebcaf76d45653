"""Scores already computed for identical inputs, reused by later runs (in the cache root, next to the faces).

A second run that adds a level or a detector then scores only what is new: the clean level every run includes,
and every level it shares with an earlier run, come from here. A row is reused only when everything its score
depends on is unchanged: the face crops (the face-cache key: video bytes, frames, face settings, decoder and
detector runtimes), the level's steps with all their parameters and its seed for this video, the detector's
name, weights (sha256), options, input contract and the source files of its classes, the frame aggregation,
the device type, the installed versions of the libraries that compute pixels and scores, and a hash of the
project's own code (any edit to `benchmarks`, `detectors` or `perturbations` starts afresh). Batch size and
worker count are not part of it: they change scores by float noise only (equal to 1e-6, tested).
Randomly initialised detectors are never cached.

Each entry holds its own key and a checksum of its row, and is checked on load: an entry under another key's
name, with changed bytes, or with a row that cannot be right (a score that is not a number in [0, 1], or not
the aggregate of its frame scores) is discarded, scored again and rewritten; entries of earlier versions (no
key) are misses. A cache that cannot be written is used read-only.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import detectors
import perturbations
from reports.run_files import write_json

from ..config import DetectorSettings
from ..hashing import CACHE_LOG, NOT_WRITABLE, EntryRejected, payload_checksum
from ..metrics.aggregate import aggregate_video_score

__all__ = ["ScoreCache", "ScoreReuse", "code_fingerprint", "detector_fingerprint", "level_fingerprint",
           "row_checksum", "check_row"]

FORMAT = 1
ROW_FIELDS = ("score", "n_frames", "frame_scores", "frame_indices", "params", "status", "message")
LIBRARIES = ("torch", "numpy", "opencv-python", "av", "pyimgaug", "scikit-image", "timm", "torchvision")
PACKAGES = ("benchmarks", "detectors", "perturbations")
AGGREGATE_TOLERANCE = 1e-4  # frame scores are stored to 6 significant digits, the video score in full


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the project's scoring code (.py and .toml of PACKAGES) and the library versions."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]  # the folder holding the packages
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".toml") and path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=none\0".encode())
    return digest.hexdigest()


def level_fingerprint(level, apply_at: str) -> str:
    """The level's steps with every parameter, their stages under `apply_at`, or a legacy transform's name, and
    its DeeperForensics write-back mode unless `none` (so keys of runs without one stay as they were)."""
    ops = [{"type": op.type.name,
            "functions": {k: v for k, v in sorted(vars(op.type).items()) if isinstance(v, str) and k != "summary"},
            "params": [[k, repr(v)] for k, v in op.params], "severity": op.severity, "stage": op.stage}
           for op in level.ops]
    transform = level.transform
    legacy = f"{transform.__module__}.{transform.__qualname__}" if transform is not None else None
    data = {"name": level.name, "ops": ops, "legacy": legacy, "stages": list(level.stages(apply_at)),
            "apply_at": apply_at}
    if getattr(level, "write_back", "none") != "none":
        data["write_back"] = level.write_back
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def detector_fingerprint(name: str, detector, options: dict, contract: dict) -> str | None:
    """Identity of a loaded detector's scoring, or None when it must not be cached (random weights)."""
    weights = detector.weights
    if weights.random_init or not weights.sha256:
        return None
    sources = []
    for cls in (type(detector), type(getattr(detector, "model", None))):
        try:
            source = inspect.getsourcefile(cls)
        except TypeError:  # a built-in type
            continue
        if source and os.path.isfile(source):
            sources.append(hashlib.sha256(Path(source).read_bytes()).hexdigest())
    identity = {"name": name, "weights": weights.sha256, "architecture": weights.architecture,
                "format": weights.format, "options": options, "contract": contract, "sources": sources}
    if weights.card.get("backbone_weights"):  # a probe on a separate backbone file (clip-probe): its sha256 counts
        identity["backbone"] = weights.card["backbone_weights"]
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ScoreCache:
    """One small JSON file per (face crops, level, seed, detector, aggregation, device) under `<root>/scores`."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.dir = self.root / "scores"

    @staticmethod
    def key(faces_key: str, level: str, seed: int, detector: str, aggregate: str, device: str) -> str:
        text = f"{FORMAT}|{code_fingerprint()}|{faces_key}|{level}|{seed}|{detector}|{aggregate}|{device}"
        return hashlib.sha256(text.encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def load(self, key: str, aggregate: str = "mean") -> dict | None:
        """The stored row fields, or None when absent, of an earlier version, or discarded (scored again):
        unreadable, another key's, changed (checksum) or implausible (`check_row` with `aggregate`)."""
        path = self.path_for(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            CACHE_LOG.discard("scores", path, f"unreadable ({error.strerror or error})")
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise EntryRejected("not a JSON object")
            if "key" not in data and set(data) == set(ROW_FIELDS):
                return None  # an entry of an earlier version: scored again and rewritten in the new format
            if data.get("key") != key:
                raise EntryRejected(f"key mismatch (the entry is {str(data.get('key'))[:12]}...'s)")
            row = data.get("row")
            if not isinstance(row, dict) or set(row) != set(ROW_FIELDS):
                raise EntryRejected("not a score row")
            if data.get("checksum") != row_checksum(row):
                raise EntryRejected("checksum mismatch")
            check_row(row, aggregate)
        except (ValueError, TypeError) as error:  # bad JSON, EntryRejected
            CACHE_LOG.discard("scores", path, str(error) if isinstance(error, EntryRejected) else f"unreadable ({error})")
            return None
        return row

    def store(self, key: str, row: dict) -> None:
        """Atomic (`write_json`): concurrent runs never read half an entry (nothing is stored when read-only)."""
        path = self.path_for(key)
        fields = {f: row.get(f, "") for f in ROW_FIELDS}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {"key": key, "checksum": row_checksum(fields), "row": fields})
        except OSError as error:
            if error.errno not in NOT_WRITABLE:
                raise
            CACHE_LOG.not_stored(self.root, error)

    def entries(self) -> int:
        return sum(1 for _ in self.dir.rglob("*.json")) if self.dir.is_dir() else 0

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file()) if self.dir.is_dir() else 0

    def clear(self) -> None:
        """Delete all stored scores (only `<root>/scores`)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def row_checksum(row: dict) -> str:
    """The checksum stored with a row: over its canonical JSON."""
    return payload_checksum({"row": json.dumps(row, sort_keys=True, default=str).encode()})


def check_row(row: dict, aggregate: str) -> None:
    """Raise EntryRejected unless the row could have been scored: a scored row ("ok") has `n_frames` frame
    scores and a score, all finite numbers in [0, 1], the score being their `aggregate`; a row whose level lost
    the face has neither."""
    if row["status"] != "ok":
        if row["score"] not in ("", None) or row["frame_scores"]:
            raise EntryRejected(f"a score for status {row['status']!r}")
        return
    try:
        score = float(row["score"])
        frames = [float(v) for v in str(row["frame_scores"]).split()]
    except (TypeError, ValueError):
        raise EntryRejected(f"score {row['score']!r} or frame scores are not numbers") from None
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (score, *frames)):
        raise EntryRejected(f"score {row['score']!r} or a frame score is not in [0, 1]")
    if not frames or row["n_frames"] != len(frames):
        raise EntryRejected(f"n_frames {row['n_frames']!r} for {len(frames)} frame scores")
    expected = aggregate_video_score(frames, aggregate)
    if abs(score - expected) > AGGREGATE_TOLERANCE:
        raise EntryRejected(f"score {score:.6g} is not the {aggregate} of its frame scores ({expected:.6g})")


@dataclass
class ScoreReuse:
    """Rows of earlier runs with identical inputs (`ScoreCache`), looked up before perturbing and stored once
    a video's rows are complete."""

    cache: ScoreCache
    detectors: dict[str, str | None]  # name -> detector fingerprint (None: not cacheable)
    levels: dict[str, str]  # name -> level fingerprint ("": never cached, an attack level)
    aggregate: str
    device: str

    @classmethod
    def for_run(cls, settings: DetectorSettings, *, root: Path, models: dict, levels: dict, device_type: str,
                precision: str, apply_at: str, aggregate: str) -> "ScoreReuse":
        fingerprints = {}
        for name, det in models.items():
            options = {**settings.detector_options.get(name, {}),
                       "backbone_weights": settings.backbone_weights.get(name)}
            base = getattr(det, "wrapped", det)  # a detector on another backend is identified by its torch adapter
            fingerprint = detector_fingerprint(name, base, options, detectors.input_contract(base))
            backend = getattr(det, "backend", "torch")  # torch and ONNX Runtime scores never share an entry
            fingerprints[name] = fingerprint if fingerprint is None or backend == "torch" else \
                hashlib.sha256(f"{fingerprint}|{backend}".encode()).hexdigest()
        arithmetic = device_type if precision == "fp32" else f"{device_type}+{precision}"
        return cls(ScoreCache(root), fingerprints,
                   {n: "" if perturbations.is_attack(lv) else level_fingerprint(lv, apply_at) for n, lv in levels.items()},
                   aggregate, arithmetic)

    def key(self, faces_key: str, detector: str, level: str, seed: int) -> str | None:
        """The entry of one (video's face crops, detector, level, seed); None when it cannot be cached."""
        if not faces_key or self.detectors.get(detector) is None or not self.levels.get(level):
            return None  # attack levels too: their pixels depend on a detector's (or a surrogate's) weights
        return self.cache.key(faces_key, self.levels[level], seed, self.detectors[detector], self.aggregate,
                              self.device)

    def load(self, key: str) -> dict | None:
        """The stored row of `key`, checked against this run's frame aggregation."""
        return self.cache.load(key, self.aggregate)

    def store(self, rows: list[dict], cache_keys: dict[int, str] | None) -> None:
        """Store the rows at the positions of `cache_keys` (rows scored in this run)."""
        for position, key in (cache_keys or {}).items():
            row = rows[position]
            if row.get("status") == "ok" or row.get("params"):  # scored, or lost its face to the perturbation
                self.cache.store(key, row)
