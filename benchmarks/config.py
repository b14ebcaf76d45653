"""Run configuration: one dataclass, so the CLI, the Python API and the manifest agree."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .faces import FaceSettings


@dataclass
class RunConfig:
    detectors: list[str] = field(default_factory=lambda: ["meso"])
    levels: list[str] = field(default_factory=lambda: ["none", "heavy"])
    dataset: str = "demo"
    data_root: str | None = None
    split: str = "test"
    dataset_options: dict[str, object] = field(default_factory=dict)  # reader options, e.g. parts, compression
    # detector name -> weight file; None means the detector's default (demo weights on the demo data)
    weights: dict[str, str | None] = field(default_factory=dict)
    random_init: bool = False
    apply_at: str = "face"  # where image perturbations apply: on the cached face crops, or on full frames
    levels_files: list[str] = field(default_factory=list)  # user TOML level definitions
    num_frames: int = 32
    seed: int = 0
    batch_size: int = 64
    max_videos: int | None = None
    aggregate: str = "mean"  # video score from frame scores: mean, median, max or logit-mean
    bootstrap: int = 1000  # resamples for 95% intervals (0: none)
    reference: str = "meso"  # reference detector for the corruption error (CE/mCE)
    faces: FaceSettings = field(default_factory=FaceSettings)
    cache_dir: str | None = None
    out: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """Identifies the work a run folder holds, so an identical command can resume it."""
        data = self.to_dict()
        data.pop("out", None)
        data.pop("cache_dir", None)
        data.pop("batch_size", None)  # scores do not depend on batch size
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        data = dict(data)
        data["faces"] = FaceSettings(**data.get("faces", {}))
        return cls(**data)


def default_runs_dir() -> Path:
    return Path("runs")
