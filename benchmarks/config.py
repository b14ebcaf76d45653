"""Run configuration: plain values every layer may read, so the CLI, the Python API and the manifest agree.

`RunConfig` is the whole description of a run; the stages receive the narrower views they use
(`DetectorSettings`, `VideoSettings`, `FaceSettings`), never the whole config, and `run()` works on a copy.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets.base import CACHE_ENV, default_cache_dir

from .sampling import select_indices

__all__ = ["CACHE_ENV", "ALGORITHM_VERSION", "FACE_DETECTORS", "NO_FACE_POLICIES", "EXECUTION_FIELDS", "RunError",
           "default_cache_dir", "default_runs_dir", "FaceSettings", "RunConfig", "DetectorSettings", "VideoSettings"]


class RunError(RuntimeError):
    """A run that cannot start as configured (one-line message for the CLI)."""


FACE_DETECTORS = ("centerface", "yunet", "none")  # "none": the videos are face crops already
NO_FACE_POLICIES = ("skip", "center")

# Bump whenever detection, face choice or cropping changes: it invalidates cached crops.
ALGORITHM_VERSION = 4  # 2: boxes interpolated between detections; 3: one CenterFace network per input shape;
# 4: the chosen face is tracked in a window around its previous box (FaceSettings.track)


@dataclass(frozen=True)
class FaceSettings:
    """Everything that determines the cached crops (and therefore part of the cache key)."""

    detector: str = "centerface"  # "centerface", "yunet" (needs model_path) or "none" (videos are face crops)
    model_path: str | None = None  # YuNet .onnx file, given by the user (never downloaded)
    threshold: float = 0.5
    max_side: int = 640  # detect on a frame downscaled to this long side (speed)
    margin: float = 1.3  # face crop side = margin * max(box w, box h) (DeepfakeBench scale)
    context: float = 1.5  # stored crop = context * face crop, room for rotations
    crop_size: int = 384  # stored context crop side; inner face crop = crop_size / context
    sampling: str = "even"  # frame sampling: "even", "first" or "every:K" (see `sampling.select_indices`)
    no_face: str = "skip"  # "skip": status no_face; "center": fall back to a centred crop of the frame
    detect_every: int = 1  # run the detector on every k-th sampled frame (and the last); interpolate between
    smooth: int = 1  # moving-average window (sampled frames) over box centres and sizes within a track; 1 = off
    track: bool = True  # after the first face, detect in a window around the previous box (whole frame if lost)

    def __post_init__(self) -> None:
        if self.detector not in FACE_DETECTORS:
            raise ValueError(f"unknown face detector {self.detector!r}; use {', '.join(FACE_DETECTORS)}")
        if self.no_face not in NO_FACE_POLICIES:
            raise ValueError(f"unknown no-face policy {self.no_face!r}; use {' or '.join(NO_FACE_POLICIES)}")
        select_indices(1, 1, self.sampling)  # raises a clear error for an unknown strategy
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.smooth < 1:
            raise ValueError(f"smooth must be >= 1, got {self.smooth}")

    def key(self) -> str:
        """Stable text of all fields plus the algorithm version, for cache keys."""
        fields = ",".join(f"{name}={value!r}" for name, value in sorted(asdict(self).items()))
        return f"faces-v{ALGORITHM_VERSION}:{fields}"


EXECUTION_FIELDS = ("batch_size", "workers", "executor", "ray_address", "device", "score_cache", "score_in", "actors",
                    "cache_perturbed", "detector_timeout")


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
    batch_size: int | None = None  # frames per forward pass; None: 8 on CPU, 64 on a GPU (`inference.device.batch_size_for`)
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
    score_in: str = "auto"  # where videos are perturbed and scored: auto, main, workers, actors (`execution.placement.scoring_place`)
    actors: int = 0  # inference actors for --score-in actors; 0: one per GPU of the Ray cluster (cuda), one on the CPU
    # Seconds a detector call (a batch, or a clip) may take before its rows get detector_error; None: no limit.
    # Execution only: it decides whether a hung call ends the row, never what a finished call scores.
    detector_timeout: float | None = None

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

    def detector_settings(self) -> DetectorSettings:
        return DetectorSettings(tuple(self.detectors), dict(self.weights), self.random_init,
                                dict(self.backbone_weights), dict(self.detector_options), self.dataset == "demo")

    def video_settings(self) -> VideoSettings:
        return VideoSettings(self.num_frames, self.faces, self.apply_at, self.seed, self.cache_perturbed)

    def cache_root(self) -> Path:
        """`cache_dir`, or the default cache directory, as an absolute path."""
        return (Path(self.cache_dir) if self.cache_dir else default_cache_dir()).absolute()

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        data = dict(data)
        data["faces"] = FaceSettings(**data.get("faces", {}))
        return cls(**data)


def default_runs_dir() -> Path:
    return Path("runs")


@dataclass(frozen=True)
class DetectorSettings:
    """What loading the run's detectors needs: names, weights and options (`inference.models.load_detectors`)."""

    names: tuple[str, ...]
    weights: dict[str, str | None]
    random_init: bool
    backbone_weights: dict[str, str]
    detector_options: dict[str, dict]
    demo_weights: bool  # no --weights on the demo data: each detector's bundled demo weights


@dataclass(frozen=True)
class VideoSettings:
    """What one video's trip through the pipeline needs (faces, perturbation, perturbed-crop cache)."""

    num_frames: int
    faces: FaceSettings
    apply_at: str
    seed: int
    cache_perturbed: bool
