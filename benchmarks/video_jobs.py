"""A whole video in one worker: faces, every level's perturbation, every detector's scores (`--score-in workers`).

With scoring in the main process, one core perturbs and scores every video while the workers only decode and
detect: on 2 cores the main process was the bottleneck and the workers idled. Here each worker process (or Ray
task) holds its own copy of the detectors, on the CPU with one thread, and returns the finished rows; the main
process only writes them. Scores equal main-process scoring to float noise (batches then hold one video's frames).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .executors import FaceJob, JobInfo, extract_job


@dataclass(frozen=True)
class VideoJob:
    """One video's face stage plus what to score on it: plain data, so it pickles to a worker or a Ray node."""

    faces: FaceJob
    item: object  # datasets.VideoItem
    todo: tuple[tuple[str, str], ...]  # (detector, level) pairs still missing for this video
    config: object  # RunConfig, with levels expanded

    @property
    def index(self) -> int:
        return self.faces.index

    def run(self, detector=None, single_thread: bool = False) -> tuple[int, "ScoredVideo", JobInfo]:
        return score_job(self, detector, single_thread)


@dataclass
class ScoredVideo:
    """A worker's answer: the video's finished rows and its per-level timing (merged into timing.json)."""

    rows: list[dict]
    levels: dict = field(default_factory=dict)


_LEVEL_FILES: set = set()  # user level files registered in this worker or task process


def process_levels(config) -> dict:
    """The run's levels in a worker or task process, registering the run's user level files once per process."""
    import perturbations
    for levels_file in config.levels_files:
        if levels_file not in _LEVEL_FILES:
            perturbations.load_levels_file(levels_file)
            _LEVEL_FILES.add(levels_file)
    return {name: perturbations.get(name) for name in config.levels}


@dataclass
class _Scoring:
    """The detectors, levels and score-cache fingerprints of one worker process, built on its first job."""

    key: str = ""
    models: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    reuse: object = None

    def get(self, config, cache_root: str) -> "_Scoring":
        import torch

        from . import runner
        key = config.fingerprint() + repr(sorted(config.weights.items())) + cache_root
        if key != self.key:
            self.models = runner.load_detectors(config)
            for detector in self.models.values():
                detector.model.to("cpu")
            self.levels = process_levels(config)
            self.reuse = runner.ScoreReuse.for_run(config, Path(cache_root), self.models, self.levels, torch.device("cpu")) \
                if config.score_cache else None
            self.key = key
        return self


_SCORING = _Scoring()  # per worker process only


def queue_job(job: VideoJob, scorer, levels: dict, reuse, timing, detector=None,
              single_thread: bool = False) -> tuple[int, JobInfo]:
    """Faces (from the cache or extracted), then every pending level perturbed and handed to `scorer`
    (`runner.queue_video`: a `BatchScorer`, or the recorder of `ray_actors`); returns the index and face-stage info."""
    from . import runner
    from .cache import FaceCache
    index, crops, info = extract_job(job.faces, detector, single_thread)
    face_detector = detector
    if face_detector is None and runner.redetects(levels, job.config):
        from .executors import _SLOT
        face_detector = _SLOT.get(job.config.faces)
    with tempfile.TemporaryDirectory(prefix="dfbench-") as workdir:
        runner.queue_video(job.item, crops, list(job.todo), scorer, job.config, levels, FaceCache(job.faces.cache_root),
                           face_detector, Path(workdir), timing, reuse)
    return index, info


def score_job(job: VideoJob, detector=None, single_thread: bool = False) -> tuple[int, ScoredVideo, JobInfo]:
    """Faces (from the cache or extracted), then the rows of every pending (detector, level) of the video."""
    import torch

    from . import runner
    if single_thread and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    state = _SCORING.get(job.config, job.faces.cache_root)
    timing = runner.RunTiming(None, list(job.config.levels), list(job.config.detectors))
    scorer = runner.BatchScorer(state.models, runner.batch_size_for(job.config.batch_size, torch.device("cpu")),
                                job.config.aggregate, timing, job.config.precision)
    index, info = queue_job(job, scorer, state.levels, state.reuse, timing, detector, single_thread)
    return index, ScoredVideo(runner.finish_scoring(scorer, state.reuse), timing.session["levels"]), info


def video_jobs(pending: list, config, cache_root: Path):
    """A VideoJob per pending (item, todo), indexed like `pending` (the face part is `runner.face_jobs`'s)."""
    from .runner import face_jobs
    for faces, (item, todo) in zip(face_jobs(pending, config, cache_root), pending):
        yield VideoJob(faces, item, tuple(todo), config)
