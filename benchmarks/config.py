"""Run configuration: plain values every layer may read, so the CLI, the Python API and the manifest agree.

`RunConfig` is the whole description of a run; the stages receive the narrower views they use
(`DetectorSettings`, `VideoSettings`, `FaceSettings`), never the whole config, and `run()` works on a copy.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets.base import CACHE_ENV, default_cache_dir
from perturbations import WRITE_BACK_MODES

from .sampling import select_indices

__all__ = ["CACHE_ENV", "ALGORITHM_VERSION", "FACE_DETECTORS", "NO_FACE_POLICIES", "EXECUTION_FIELDS", "BACKENDS", "RunError",
           "default_cache_dir", "default_runs_dir", "FaceSettings", "RunConfig", "DetectorSettings", "VideoSettings",
           "Range", "POSITIVE_INT", "NON_NEGATIVE_INT", "SEED", "POSITIVE_FLOAT", "NON_NEGATIVE_FLOAT", "FRACTION",
           "OPEN_FRACTION"]


class RunError(RuntimeError):
    """A run that cannot start as configured (one-line message for the CLI)."""


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric parameter, defined once for the CLI's argument types and the library's
    checks, so `--frames 0` and `RunConfig(num_frames=0)` are refused with the same range in the message."""

    integer: bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded (a learning rate > 0)
    high_open: bool = False  # high itself excluded (a held-out share < 1)

    def text(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low:g}"
        return kind

    def contains(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if self.integer else numbers.Real):
            return False
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes no comparison; inf is no setting
            return False
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        return low_ok and (self.high is None or (value < self.high if self.high_open else value <= self.high))

    def check(self, name: str, value: object, optional: bool = False) -> None:
        """ValueError naming `name` and the range unless `value` is in it (or None when `optional`)."""
        if not (optional and value is None) and not self.contains(value):
            raise ValueError(f"{name} must be {self.text()}, got {value!r}")


POSITIVE_INT = Range(integer=True, low=1)  # frames, batch sizes, workers, epochs, video counts
NON_NEGATIVE_INT = Range(integer=True, low=0)  # counts where 0 means "none" or "automatic"
SEED = NON_NEGATIVE_INT  # seeds reach numpy's default_rng, which refuses negative seeds
POSITIVE_FLOAT = Range(integer=False, low=0, low_open=True)
NON_NEGATIVE_FLOAT = Range(integer=False, low=0)
FRACTION = Range(integer=False, low=0, high=1)  # probabilities, thresholds, metric tolerances
OPEN_FRACTION = Range(integer=False, low=0, high=1, low_open=True, high_open=True)  # a share of videos held out


# "none": the videos are face crops already (the centred square); "frame": the whole frame, padded to a square
FACE_DETECTORS = ("centerface", "yunet", "none", "frame")
NO_FACE_POLICIES = ("skip", "center")
# What runs CenterFace: ONNX Runtime (default: about half of cv2.dnn's time per window) or OpenCV's DNN module (the
# runtime of runs made before 2026-12; the two move a box past rounding in about 1 frame of 300, docs/throughput.md)
FACE_RUNTIMES = ("onnxruntime", "opencv")

# Bump whenever detection, face choice or cropping changes: it invalidates cached crops.
ALGORITHM_VERSION = 4  # 2: boxes interpolated between detections; 3: one CenterFace network per input shape;
# 4: the chosen face is tracked in a window around its previous box (FaceSettings.track)


@dataclass(frozen=True)
class FaceSettings:
    """Everything that determines the cached crops (and therefore part of the cache key)."""

    detector: str = "centerface"  # "centerface", "yunet" (needs model_path), "none" (videos are face crops), "frame"
    model_path: str | None = None  # YuNet .onnx file, given by the user (never downloaded)
    threshold: float = 0.5
    max_side: int = 640  # detect on a frame downscaled to this long side (speed)
    margin: float = 1.3  # face crop side = margin * max(box w, box h) (DeepfakeBench scale)
    context: float = 1.5  # stored crop = context * face crop, room for rotations
    crop_size: int = 384  # stored context crop side; inner face crop = crop_size / context
    sampling: str = "even"  # frame sampling: "even", "linspace", "first" or "every:K" (`sampling.select_indices`)
    no_face: str = "skip"  # "skip": status no_face; "center": fall back to a centred crop of the frame
    detect_every: int = 1  # run the detector on every k-th sampled frame (and the last); interpolate between
    smooth: int = 1  # moving-average window (sampled frames) over box centres and sizes within a track; 1 = off
    track: bool = True  # after the first face, detect in a window around the previous box (whole frame if lost)
    runtime: str = "onnxruntime"  # what runs CenterFace (FACE_RUNTIMES); the other detectors ignore it

    def __post_init__(self) -> None:
        if self.detector not in FACE_DETECTORS:
            raise ValueError(f"unknown face detector {self.detector!r}; use {', '.join(FACE_DETECTORS)}")
        if self.runtime not in FACE_RUNTIMES:
            raise ValueError(f"unknown face runtime {self.runtime!r}; use {' or '.join(FACE_RUNTIMES)}")
        if self.no_face not in NO_FACE_POLICIES:
            raise ValueError(f"unknown no-face policy {self.no_face!r}; use {' or '.join(NO_FACE_POLICIES)}")
        select_indices(1, 1, self.sampling)  # raises a clear error for an unknown strategy
        POSITIVE_INT.check("detect_every", self.detect_every)
        POSITIVE_INT.check("smooth", self.smooth)
        FRACTION.check("threshold", self.threshold)
        POSITIVE_FLOAT.check("margin", self.margin)

    def key(self) -> str:
        """Stable text of all fields plus the algorithm version, for cache keys."""
        fields = ",".join(f"{name}={value!r}" for name, value in sorted(asdict(self).items()))
        return f"faces-v{ALGORITHM_VERSION}:{fields}"


BACKENDS = ("torch", "onnxruntime")  # inference backends (`inference.onnx_backend`)
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
    # DeeperForensics types written back as the dataset's videos were: "none", or "xvid+h264" (XVID .avi, then
    # H.264 CRF 23 after each DF step but VC; `perturbations.WRITE_BACK_MODES`). Changes the scores of DF levels.
    df_write_back: str = "none"
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
    # inference backend: torch, or onnxruntime (detectors exported to ONNX once; P(fake) equal to torch's to 1e-4)
    backend: str = "torch"
    score_cache: bool = True  # reuse rows earlier runs scored from identical inputs (`score_cache`)
    cache_perturbed: bool = False  # store and reuse each level's perturbed crops (`perturbed_cache`; disk-hungry)
    score_in: str = "auto"  # where videos are perturbed and scored: auto, main, workers, actors (`execution.placement.scoring_place`)
    actors: int = 0  # inference actors for --score-in actors; 0: one per GPU of the Ray cluster (cuda), one on the CPU
    # Seconds a detector call (a batch, or a clip) may take before its rows get detector_error; None: no limit.
    # Execution only: it decides whether a hung call ends the row, never what a finished call scores.
    detector_timeout: float | None = None
    # Read data files whose real path (symlinks resolved) lies outside the data root (a symlink farm); off: refused
    follow_symlinks: bool = False
    # The protocol preset the settings came from (`benchmarks.protocols`); a label recorded in the manifest, not work
    protocol: str | None = None

    def __post_init__(self) -> None:
        """Numeric settings checked here, so a Python caller gets the CLI's message instead of rows with 0 frames
        or a crash after the whole run (a negative seed fails only when the bootstrap starts)."""
        POSITIVE_INT.check("num_frames", self.num_frames)
        SEED.check("seed", self.seed)
        POSITIVE_INT.check("batch_size", self.batch_size, optional=True)
        POSITIVE_INT.check("max_videos", self.max_videos, optional=True)
        NON_NEGATIVE_INT.check("bootstrap", self.bootstrap)
        POSITIVE_INT.check("workers", self.workers)
        NON_NEGATIVE_INT.check("actors", self.actors)
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend != "torch" and self.precision != "fp32":
            raise ValueError(f"--precision {self.precision} needs --backend torch (ONNX Runtime runs the fp32 export)")
        if self.df_write_back not in WRITE_BACK_MODES:
            raise ValueError(f"df_write_back must be one of {', '.join(WRITE_BACK_MODES)}, got {self.df_write_back!r}")

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
        if data.get("backend") == "torch":  # the default, and all there was before --backend: old runs resume
            data.pop("backend")
        if data.get("df_write_back") == "none":  # the default, and all there was before --df-write-back
            data.pop("df_write_back")
        if data["faces"].get("runtime") == "opencv":  # cv2.dnn is all there was before --face-runtime: old runs
            data["faces"].pop("runtime")  # resume with --face-runtime opencv, never silently with another runtime
        data.pop("follow_symlinks", None)  # decides whether a run may read a file, not what it scores
        data.pop("protocol", None)  # names where the settings came from; the settings themselves are counted
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
