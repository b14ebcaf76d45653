"""The face stage of one video as a job any executor can run: plain data in, (index, payload, JobInfo) out.

Kept free of torch and the detectors, so processes that only extract faces never import them; whole-video jobs
(`jobs`) build on these.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2

try:
    import resource
except ImportError:  # Windows: no getrusage; peak_rss_mb then reports 0
    resource = None

from ..config import FaceSettings
from ..hashing import CACHE_LOG, CacheLog
from ..pipeline.face_cache import FaceCache
from ..pipeline.face_detectors import make_detector
from ..pipeline.faces import FaceCrops

__all__ = ["FaceJob", "JobInfo", "FaceStageStats", "DetectorSlot", "WORKER_FACE_DETECTOR", "extract_job", "run_job",
           "peak_rss_mb", "face_jobs"]


@dataclass(frozen=True)
class JobInfo:
    """How one face job went: seconds in the job (cache lookup included), whether the cache had the crops,
    the peak RSS of the process that ran it, and (from a worker process) the cache entries it discarded and
    the caches it found read-only, for the main process to report."""

    seconds: float
    cache_hit: bool
    peak_rss_mb: float
    cache: CacheLog | None = None


@dataclass(frozen=True)
class FaceJob:
    """One video's face stage; plain data so it pickles to a worker process or a Ray node."""

    index: int
    path: str
    num_frames: int
    settings: FaceSettings
    cache_root: str

    def run(self, detector=None, single_thread: bool = False) -> tuple[int, FaceCrops, JobInfo]:
        return extract_job(self, detector, single_thread)


@dataclass
class DetectorSlot:
    """The face detector of one worker process, built on its first job (CenterFace loads an ONNX file)."""

    settings: FaceSettings | None = None
    detector: object = None

    def get(self, settings: FaceSettings):
        if self.detector is None or self.settings != settings:
            self.detector, self.settings = make_detector(settings), settings
        return self.detector


WORKER_FACE_DETECTOR = DetectorSlot()  # per worker process only: the main process passes its own detector explicitly


def extract_job(job: FaceJob, detector=None, single_thread: bool = False) -> tuple[int, FaceCrops, JobInfo]:
    """Cached face crops of one video, and how long it took (the worker entry point).

    `single_thread` (pool workers and Ray tasks, one per core): decode and detect on one thread. With every core
    already running a job, FFmpeg's frame threads and OpenCV's thread pool only add switching (decoding a 1080p
    DFDC video took 7-18% more CPU with frame threads).
    """
    if single_thread:
        cv2.setNumThreads(1)  # this worker process's own pool
    start = time.perf_counter()
    cache = FaceCache(job.cache_root)
    key = cache.key(job.path, job.num_frames, job.settings) if os.path.isfile(job.path) else ""
    crops = cache.load(key) if key else None
    hit = crops is not None
    if not hit:
        detector = detector if detector is not None else WORKER_FACE_DETECTOR.get(job.settings)
        crops = (cache.extract(job.path, key, job.num_frames, job.settings, detector, decode_threads=not single_thread)
                 if key else cache.get_or_extract(job.path, job.num_frames, job.settings, detector))
    crops.cache_key = key  # identifies the crops for the score cache
    return job.index, crops, JobInfo(time.perf_counter() - start, hit, peak_rss_mb())


def run_job(job, detector=None, single_thread: bool = False) -> tuple:
    """The worker entry point for any job: a FaceJob (faces only) or a `jobs.VideoJob` (faces and scores); the
    result carries what this process logged about the caches since its previous job."""
    index, payload, info = job.run(detector, single_thread)
    return index, payload, replace(info, cache=CACHE_LOG.drain())


def peak_rss_mb() -> float:
    """Peak resident memory of the calling process in MiB (workers report their own: with forkserver or Ray
    they are not children of the main process, so RUSAGE_CHILDREN would not see them).

    On Linux from VmHWM in /proc/self/status: ru_maxrss carries over the parent's peak through fork and exec,
    so a run started from a big process (a benchmark script) would report that process's peak instead."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    if resource is None:
        return 0.0
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / divisor, 1)


@dataclass
class FaceStageStats:
    """What the face stage of this session did: jobs run, cache hits, seconds summed over jobs (extraction
    and cache loads separately) and the largest worker peak RSS; read by the runner for timing.json."""

    jobs: int = 0
    cache_hits: int = 0
    extract_seconds: float = 0.0  # decode + detect + crop + cache write, summed over jobs that missed the cache
    cache_seconds: float = 0.0  # content hash + cache load, summed over jobs that hit it
    worker_mb: float = 0.0
    last_hit: bool = False  # whether the latest job found its crops in the cache (workers then mostly idle)
    cache: CacheLog = field(default_factory=CacheLog)  # what worker processes logged about the caches

    def take(self, result: tuple[int, object, JobInfo]) -> tuple[int, object]:
        """(index, payload): FaceCrops for a face job, `jobs.ScoredVideo` for a whole-video job."""
        index, payload, info = result
        self.jobs += 1
        self.cache_hits += info.cache_hit
        self.last_hit = info.cache_hit
        if info.cache_hit:
            self.cache_seconds += info.seconds
        else:
            self.extract_seconds += info.seconds
        self.worker_mb = max(self.worker_mb, info.peak_rss_mb)
        self.cache.merge(info.cache)
        return index, payload


def face_jobs(pending: list, *, num_frames: int, faces: FaceSettings, cache_root: Path) -> Iterator[FaceJob]:
    """The face stage of each pending (item, todo), as plain data for any executor (index into `pending`)."""
    for index, (item, _) in enumerate(pending):
        yield FaceJob(index, os.path.abspath(item.path), num_frames, faces, str(cache_root))
