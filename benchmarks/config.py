"""Run configuration: one dataclass, so the CLI, the Python API and the manifest agree."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .faces import FaceSettings


EXECUTION_FIELDS = ("batch_size", "workers", "executor", "ray_address", "device", "score_cache", "score_in", "actors",
                    "cache_perturbed")


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
    backbone_weights: dict[str, str] = field(default_factory=dict)  # detector -> local ImageNet backbone file
    detector_options: dict[str, dict] = field(default_factory=dict)  # detector -> options, e.g. {"variant": "b1"}
    apply_at: str = "face"  # where image perturbations apply: on the cached face crops, or on full frames
    levels_files: list[str] = field(default_factory=list)  # user TOML level definitions
    num_frames: int = 32
    seed: int = 0
    batch_size: int | None = None  # frames per forward pass; None: 8 on CPU, 64 on a GPU (`runner.batch_size_for`)
    max_videos: int | None = None
    aggregate: str = "mean"  # video score from frame scores: mean, median, max or logit-mean
    bootstrap: int = 1000  # resamples for 95% intervals (0: none)
    reference: str = "meso"  # reference detector for the corruption error (CE/mCE)
    faces: FaceSettings = field(default_factory=FaceSettings)
    cache_dir: str | None = None
    out: str | None = None
    # Execution only (none of these changes a score beyond float noise, so none is in the fingerprint):
    workers: int = 1  # face-stage processes; 1 = in the main process (the CLI defaults to the core count)
    executor: str = "local"  # "local" (process pool) or "ray" (tasks on a Ray cluster)
    ray_address: str | None = None  # existing Ray cluster; None starts a local instance
    device: str = "auto"  # inference device: auto, cpu, cuda, mps
    precision: str = "fp32"  # inference arithmetic: fp32, or mixed fp16 / bf16 (torch.autocast); changes the scores
    score_cache: bool = True  # reuse rows earlier runs scored from identical inputs (`score_cache`)
    cache_perturbed: bool = False  # store and reuse each level's perturbed crops (`perturbed_cache`; disk-hungry)
    score_in: str = "auto"  # where videos are perturbed and scored: auto, main, workers, actors (`runner.scoring_place`)
    actors: int = 0  # inference actors for --score-in actors; 0: one per GPU of the Ray cluster (cuda), one on the CPU

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """Identifies the work a run folder holds, so an identical command can resume it."""
        data = self.to_dict()
        data.pop("out", None)
        data.pop("cache_dir", None)
        for name in EXECUTION_FIELDS:  # scores do not depend on how or where they were computed
            data.pop(name, None)
        if data.get("precision") == "fp32":  # the default, and all there was before --precision: old runs resume
            data.pop("precision")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        data = dict(data)
        data["faces"] = FaceSettings(**data.get("faces", {}))
        return cls(**data)


def default_runs_dir() -> Path:
    return Path("runs")
