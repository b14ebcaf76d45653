"""Inference in Ray actors (`--score-in actors`): CPU tasks prepare videos, actors that own a device score them.

A GPU is owned by one process, so Ray tasks cannot each load the detectors onto it. Here each video is a Ray task
(one CPU: faces from the cache or extracted, every pending level perturbed, including re-encoding and
re-detection; rows the score cache has are filled: `jobs.PrepareJob`) that returns the crops each detector must
see; one `InferenceActor` per GPU of the cluster (`num_gpus=1`), or `--actors N` on the CPU, holds the detectors
on its device and turns those crops into rows. The crops go from the task to the actor through Ray's object
store, never through the driver, which only writes rows. Batches hold one video's frames (all its levels: 3
levels of 32 frames make batches of 64 + 32 on a GPU); scores equal the other modes' to float noise (tested on
the CPU).
"""
from __future__ import annotations

import os
import socket
from dataclasses import replace

from ..config import RunConfig
from ..hashing import CACHE_LOG, CacheLog
from ..inference.batching import BatchScorer, finish_scoring
from ..inference.device import batch_size_for, check_precision, resolve_device
from ..inference.models import load_detectors
from ..inference.onnx_backend import apply_backend
from ..inference.score_cache import ScoreReuse
from ..run_folder.timing import RunTiming
from .face_jobs import JobInfo
from .jobs import PreparedVideo, ScoredVideo

__all__ = ["InferenceActor", "actor_count"]


class InferenceActor:
    """The detectors on one device (a GPU with `num_gpus=1`), loaded once; scores prepared videos as they come."""

    def __init__(self, config: RunConfig, reuse: ScoreReuse | None = None) -> None:
        self.config, self.reuse = config, reuse
        self.device = resolve_device(config.device)
        check_precision(self.device, config.precision)
        self.models = load_detectors(config.detector_settings())
        for detector in self.models.values():
            detector.model.to(self.device)
        self.models, _ = apply_backend(self.models, config.backend, settings=config.detector_settings(),
                                       cache_root=config.cache_root(), device_type=self.device.type)
        self.batch_size = batch_size_for(config.batch_size, self.device)

    def score(self, prepared: tuple[int, PreparedVideo, JobInfo]) -> tuple[int, ScoredVideo, JobInfo]:
        index, video_in, info = prepared
        timing = RunTiming(None, list(self.config.levels), list(self.config.detectors))
        scorer = BatchScorer(self.models, self.batch_size, self.config.aggregate, timing, self.config.precision,
                             timeout=self.config.detector_timeout)
        video = scorer.video(video_in.rows)
        video.cache_keys = video_in.cache_keys
        for position, level, faces in video_in.inputs:
            scorer.submit(video, video.rows[position], faces, level)
        rows = finish_scoring(scorer, self.reuse)
        timing.add_levels(video_in.levels)
        log = CacheLog()  # the prepare task's and this actor's (a read-only score cache found while storing)
        log.merge(info.cache)
        log.merge(CACHE_LOG.drain())
        return index, ScoredVideo(rows, timing.session["levels"]), replace(info, cache=log)

    def describe(self) -> dict:
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
