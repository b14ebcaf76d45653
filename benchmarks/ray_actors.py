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

from dataclasses import dataclass, field

import numpy as np

from .executors import JobInfo
from .video_jobs import ScoredVideo, VideoJob, process_levels, queue_job

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


def prepare_job(job: PrepareJob, detector=None, single_thread: bool = False) -> tuple[int, PreparedVideo, JobInfo]:
    """Faces, then every pending level's perturbation; the crops to score, per (row, level)."""
    from . import runner
    config = job.video.config
    timing = runner.RunTiming(None, list(config.levels), list(config.detectors))
    recorder = _Recorder()
    index, info = queue_job(job.video, recorder, process_levels(config), job.reuse, timing, detector, single_thread)
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
        rows = runner.finish_scoring(scorer, self.reuse)
        timing.add_levels(video_in.levels)
        return index, ScoredVideo(rows, timing.session["levels"]), info

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
