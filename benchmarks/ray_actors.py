"""Inference in Ray actors (`--score-in actors`): CPU tasks prepare videos, actors that own a device score them.

A GPU is owned by one process, so Ray tasks cannot each load the detectors onto it. Here each video is a Ray task
(one CPU: faces from the cache or extracted, every pending level perturbed, including re-encoding and
re-detection; rows the score cache has are filled) that returns the crops each detector must see; one
`InferenceActor` per GPU of the cluster (`num_gpus=1`), or `--actors N` on the CPU, holds the detectors on its
device and turns those crops into rows. The crops go from the task to the actor through Ray's object store,
never through the driver, which only writes rows. Batches hold one video's frames (all its levels: 3 levels of
32 frames make batches of 64 + 32 on a GPU); scores equal the other modes' to float noise (tested on the CPU).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .executors import JobInfo, extract_job
from .video_jobs import ScoredVideo, VideoJob

__all__ = ["PrepareJob", "PreparedVideo", "InferenceActor", "actor_count"]


@dataclass
class PreparedVideo:
    """A video ready for inference: its rows (skips and score-cache rows already filled) and what to score."""

    rows: list[dict]
    cache_keys: dict[int, str] | None
    inputs: list[tuple[int, str, np.ndarray]] = field(default_factory=list)  # (row position, level, face crops)
    levels: dict = field(default_factory=dict)  # per-level perturbation timing


class _Recorder:
    """Takes `runner.queue_video`'s hand-over in place of a `BatchScorer`: keeps the crops instead of scoring."""

    def __init__(self) -> None:
        self.registered = None
        self.inputs: list[tuple[int, str, np.ndarray]] = []

    def video(self, rows: list[dict]):
        from .runner import _Video
        self.registered = _Video(rows)
        return self.registered

    def submit(self, video, row: dict, faces: np.ndarray, level: str) -> None:
        position = next(i for i, r in enumerate(video.rows) if r is row)
        self.inputs.append((position, level, faces))


@dataclass(frozen=True)
class PrepareJob:
    """One video's CPU part for an actor: plain data (the score-cache fingerprints come from the driver, which
    loaded the detectors once, so tasks never load models)."""

    video: VideoJob
    reuse: object = None  # runner.ScoreReuse or None

    @property
    def index(self) -> int:
        return self.video.index

    def run(self, detector=None, single_thread: bool = False) -> tuple[int, PreparedVideo, JobInfo]:
        return prepare_job(self, detector, single_thread)


_LEVELS: dict = {}  # per task process: level name -> perturbations.Level (user level files registered once)


def _levels(config) -> dict:
    import perturbations
    for levels_file in config.levels_files:
        if ("file", levels_file) not in _LEVELS:
            perturbations.load_levels_file(levels_file)
            _LEVELS["file", levels_file] = True
    return {name: _LEVELS.setdefault(name, perturbations.get(name)) for name in config.levels}


def prepare_job(job: PrepareJob, detector=None, single_thread: bool = False) -> tuple[int, PreparedVideo, JobInfo]:
    """Faces, then every pending level's perturbation; the crops to score, per (row, level)."""
    from . import runner
    from .cache import FaceCache
    video = job.video
    index, crops, info = extract_job(video.faces, detector, single_thread)
    levels = _levels(video.config)
    timing = runner.RunTiming(None, list(video.config.levels), list(video.config.detectors))
    face_detector = detector
    if face_detector is None and runner.redetects(levels, video.config):
        from .executors import _SLOT
        face_detector = _SLOT.get(video.config.faces)
    recorder = _Recorder()
    with tempfile.TemporaryDirectory(prefix="dfbench-") as workdir:
        runner.queue_video(video.item, crops, list(video.todo), recorder, video.config, levels,
                           FaceCache(video.faces.cache_root), face_detector, Path(workdir), timing, job.reuse)
    registered = recorder.registered
    return index, PreparedVideo(registered.rows, registered.cache_keys, recorder.inputs,
                                timing.session["levels"]), info


class InferenceActor:
    """The detectors on one device (a GPU with `num_gpus=1`), loaded once; scores prepared videos as they come."""

    def __init__(self, config, reuse=None) -> None:
        from . import runner
        self.config, self.reuse = config, reuse
        self.device = runner.resolve_device(config.device)
        runner.check_precision(self.device, config.precision)
        self.models = runner.load_detectors(config)
        for detector in self.models.values():
            detector.model.to(self.device)
        self.batch_size = runner.batch_size_for(config.batch_size, self.device)

    def score(self, prepared: tuple[int, PreparedVideo, JobInfo]) -> tuple[int, ScoredVideo, JobInfo]:
        from . import runner
        index, video_in, info = prepared
        timing = runner.RunTiming(None, list(self.config.levels), list(self.config.detectors))
        scorer = runner.BatchScorer(self.models, self.batch_size, self.config.aggregate, timing, self.config.precision)
        video = scorer.video(video_in.rows)
        video.cache_keys = video_in.cache_keys
        for position, level, faces in video_in.inputs:
            scorer.submit(video, video.rows[position], faces, level)
        scorer.flush()
        scorer.finished()
        if self.reuse is not None:
            self.reuse.store(video)
        timing.add_levels(video_in.levels)
        return index, ScoredVideo(video.rows, timing.session["levels"]), info

    def describe(self) -> dict:
        import os
        import socket
        return {"device": str(self.device), "host": socket.gethostname(), "pid": os.getpid()}


def actor_count(requested: int, device_type: str, cluster_gpus: float, cluster_cpus: float) -> int:
    """`--actors`, or one per GPU of the cluster on cuda, one on the CPU. A CPU actor holds a CPU for as long as
    the run lasts, so at least one must remain for the tasks that prepare its videos (else nothing would run)."""
    if requested < 0:
        raise ValueError(f"--actors must be 0 (automatic) or more, got {requested}")
    if device_type == "cuda":
        if int(cluster_gpus) < 1:
            raise ValueError("--score-in actors with --device cuda: the Ray cluster has no GPUs")
        return requested or int(cluster_gpus)
    count = requested or 1
    if count >= int(cluster_cpus or 0):
        raise ValueError(f"--score-in actors on the CPU: {count} actor(s) would hold all {int(cluster_cpus or 0)} "
                         f"CPUs of the Ray cluster and leave none to prepare videos; use --workers {count + 1} or "
                         "more (a local instance), fewer --actors, or --score-in workers")
    return count
