"""A whole video in one worker: faces, every level's perturbation, every detector's scores (`--score-in workers`),
or everything but the scores for an inference actor (`--score-in actors`).

With scoring in the main process, one core perturbs and scores every video while the workers only decode and
detect: on 2 cores the main process was the bottleneck and the workers idled. Here each worker process (or Ray
task) holds its own copy of the detectors, on the CPU with one thread, and returns the finished rows; the main
process only writes them. Scores equal main-process scoring to float noise (batches then hold one video's frames).
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import datasets
import perturbations

from ..config import RunConfig
from ..inference.batching import BatchScorer, VideoRows, finish_scoring
from ..inference.device import batch_size_for
from ..inference.models import load_detectors
from ..inference.onnx_backend import apply_backend
from ..inference.score_cache import ScoreReuse
from ..pipeline.face_cache import FaceCache
from ..pipeline.perturb import redetects
from ..pipeline.video_rows import Scorer, queue_video
from ..run_folder.timing import RunTiming
from .face_jobs import WORKER_FACE_DETECTOR, FaceJob, JobInfo, extract_job, face_jobs

__all__ = ["VideoJob", "ScoredVideo", "PrepareJob", "PreparedVideo", "process_levels",
           "queue_job", "score_job", "prepare_job", "video_jobs"]

@dataclass(frozen=True)
class VideoJob:
    """One video's face stage plus what to score on it: plain data, so it pickles to a worker or a Ray node."""

    faces: FaceJob
    item: datasets.VideoItem
    todo: tuple[tuple[str, str], ...]  # (detector, level) pairs still missing for this video
    config: RunConfig  # with levels expanded

    @property
    def index(self) -> int:
        return self.faces.index

    def run(self, detector=None, single_thread: bool = False) -> tuple[int, ScoredVideo, JobInfo]:
        return score_job(self, detector, single_thread)


@dataclass
class ScoredVideo:
    """A worker's answer: the video's finished rows and its per-level timing (merged into timing.json)."""

    rows: list[dict]
    levels: dict = field(default_factory=dict)


LOADED_LEVEL_FILES: set[str] = set()  # user level files registered in this worker or task process


def process_levels(config: RunConfig) -> dict[str, perturbations.Level]:
    """The run's levels in a worker or task process, registering the run's user level files once per process."""
    for levels_file in config.levels_files:
        if levels_file not in LOADED_LEVEL_FILES:
            perturbations.load_levels_file(levels_file)
            LOADED_LEVEL_FILES.add(levels_file)
    return {name: perturbations.get(name).with_write_back(config.df_write_back) for name in config.levels}


@dataclass
class WorkerScoring:
    """The detectors, levels and score-cache fingerprints of one worker process, built on its first job."""

    key: str = ""
    models: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    reuse: ScoreReuse | None = None

    def get(self, config: RunConfig, cache_root: str) -> WorkerScoring:
        key = config.fingerprint() + repr(sorted(config.weights.items())) + cache_root
        if key != self.key:
            self.models = load_detectors(config.detector_settings())
            for detector in self.models.values():
                detector.model.to("cpu")
            self.models, _ = apply_backend(self.models, config.backend, settings=config.detector_settings(),
                                           cache_root=Path(cache_root))  # the main process exported already
            self.levels = process_levels(config)
            self.reuse = ScoreReuse.for_run(
                config.detector_settings(), root=Path(cache_root), models=self.models, levels=self.levels,
                device_type="cpu", precision=config.precision, apply_at=config.apply_at,
                aggregate=config.aggregate) if config.score_cache else None
            self.key = key
        return self


WORKER_SCORING = WorkerScoring()  # per worker process only


def queue_job(job: VideoJob, scorer: Scorer, levels: dict, reuse: ScoreReuse | None, timing: RunTiming,
              detector=None, single_thread: bool = False, attackers: dict | None = None) -> tuple[int, JobInfo]:
    """Faces (from the cache or extracted), then every pending level perturbed and handed to `scorer`
    (`queue_video`: a `BatchScorer`, or the recorder of a prepare job); returns the index and face-stage info."""
    index, crops, info = extract_job(job.faces, detector, single_thread)
    face_detector = detector
    if face_detector is None and redetects(levels, job.config.apply_at):
        face_detector = WORKER_FACE_DETECTOR.get(job.config.faces)
    with tempfile.TemporaryDirectory(prefix="dfbench-") as workdir:
        queue_video(job.item, crops, list(job.todo), scorer, job.config.video_settings(), levels,
                    FaceCache(job.faces.cache_root), face_detector, Path(workdir), timing, reuse, attackers)
    return index, info


def score_job(job: VideoJob, detector=None, single_thread: bool = False) -> tuple[int, ScoredVideo, JobInfo]:
    """Faces (from the cache or extracted), then the rows of every pending (detector, level) of the video."""
    if single_thread and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    config = job.config
    state = WORKER_SCORING.get(config, job.faces.cache_root)
    timing = RunTiming(None, list(config.levels), list(config.detectors))
    scorer = BatchScorer(state.models, batch_size_for(config.batch_size, torch.device("cpu")), config.aggregate,
                         timing, config.precision, timeout=config.detector_timeout)
    index, info = queue_job(job, scorer, state.levels, state.reuse, timing, detector, single_thread, state.models)
    return index, ScoredVideo(finish_scoring(scorer, state.reuse), timing.session["levels"]), info


def video_jobs(pending: list, config: RunConfig, cache_root: Path) -> Iterator[VideoJob]:
    """A VideoJob per pending (item, todo), indexed like `pending`."""
    faces = face_jobs(pending, num_frames=config.num_frames, faces=config.faces, cache_root=cache_root)
    for face_job, (item, todo) in zip(faces, pending):
        yield VideoJob(face_job, item, tuple(todo), config)


# --- for inference actors ------------------------------------------------------------------------


@dataclass
class PreparedVideo:
    """A video ready for inference: its rows (skips and score-cache rows already filled) and what to score."""

    rows: list[dict]
    cache_keys: dict[int, str] | None
    inputs: list[tuple[int, str, np.ndarray]] = field(default_factory=list)  # (row position, level, face crops)
    levels: dict = field(default_factory=dict)  # per-level perturbation timing


class CropRecorder:
    """Takes `queue_video`'s hand-over in place of a `BatchScorer`: keeps the crops instead of scoring them."""

    def __init__(self) -> None:
        self.registered: VideoRows | None = None
        self.inputs: list[tuple[int, str, np.ndarray]] = []

    def video(self, rows: list[dict]) -> VideoRows:
        self.registered = VideoRows(rows)
        return self.registered

    def submit(self, video: VideoRows, row: dict, faces: np.ndarray, level: str) -> None:
        position = next(i for i, r in enumerate(video.rows) if r is row)
        self.inputs.append((position, level, faces))


@dataclass(frozen=True)
class PrepareJob:
    """One video's CPU part for an actor: plain data (the score-cache fingerprints come from the driver, which
    loaded the detectors once, so tasks never load models)."""

    video: VideoJob
    reuse: ScoreReuse | None = None

    @property
    def index(self) -> int:
        return self.video.index

    def run(self, detector=None, single_thread: bool = False) -> tuple[int, PreparedVideo, JobInfo]:
        return prepare_job(self, detector, single_thread)


def prepare_job(job: PrepareJob, detector=None, single_thread: bool = False) -> tuple[int, PreparedVideo, JobInfo]:
    """Faces, then every pending level's perturbation; the crops to score, per (row, level)."""
    config = job.video.config
    timing = RunTiming(None, list(config.levels), list(config.detectors))
    recorder = CropRecorder()
    index, info = queue_job(job.video, recorder, process_levels(config), job.reuse, timing, detector, single_thread)
    registered = recorder.registered
    return index, PreparedVideo(registered.rows, registered.cache_keys, recorder.inputs,
                                timing.session["levels"]), info
