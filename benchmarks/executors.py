"""Where decoding + face detection run: in-process, a local process pool, or Ray tasks.

The face stage (decode, detect, crop, cache) is the expensive part of a run and needs nothing from the
detectors, so it is fanned out while the main process perturbs and scores. Every executor yields
`(index, FaceCrops)` for the jobs it is given, in completion order, keeping at most `window` jobs in flight
so no stage holds the whole dataset in memory. The main process stays the only writer of scores.csv, so
resume works the same whatever executed the face stage.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .faces import FaceCrops, FaceSettings

__all__ = ["FaceJob", "JobInfo", "FaceStageStats", "FaceExecutor", "InProcessExecutor", "PoolExecutor",
           "RayExecutor", "make_executor", "extract_job", "default_workers", "peak_rss_mb", "start_forkserver",
           "RAY_MISSING"]

RAY_MISSING = 'the ray executor needs Ray: pip install -e ".[ray]"'


@dataclass(frozen=True)
class FaceJob:
    """One video's face stage; plain data so it pickles to a worker process or a Ray node."""

    index: int
    path: str
    num_frames: int
    settings: FaceSettings
    cache_root: str

    def run(self, detector=None, single_thread: bool = False) -> tuple[int, FaceCrops, "JobInfo"]:
        return extract_job(self, detector, single_thread)


def default_workers() -> int:
    """Cores this process may use (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass
class _DetectorSlot:
    """The face detector of one worker process, built on its first job (CenterFace loads an ONNX file)."""

    settings: FaceSettings | None = None
    detector: object = None

    def get(self, settings: FaceSettings):
        from .faces import make_detector
        if self.detector is None or self.settings != settings:
            self.detector, self.settings = make_detector(settings), settings
        return self.detector


_SLOT = _DetectorSlot()  # per worker process only: the main process passes its own detector explicitly


@dataclass(frozen=True)
class JobInfo:
    """How one face job went: seconds in the job (cache lookup included), whether the cache had the crops,
    and the peak RSS of the process that ran it."""

    seconds: float
    cache_hit: bool
    peak_rss_mb: float


def extract_job(job: FaceJob, detector=None, single_thread: bool = False) -> tuple[int, FaceCrops, JobInfo]:
    """Cached face crops of one video, and how long it took (the worker entry point).

    `single_thread` (pool workers and Ray tasks, one per core): decode and detect on one thread. With every core
    already running a job, FFmpeg's frame threads and OpenCV's thread pool only add switching (decoding a 1080p
    DFDC video took 7-18% more CPU with frame threads).
    """
    from .cache import FaceCache
    if single_thread:
        import cv2
        cv2.setNumThreads(1)  # this worker process's own pool
    start = time.perf_counter()
    cache = FaceCache(job.cache_root)
    key = cache.key(job.path, job.num_frames, job.settings) if os.path.isfile(job.path) else ""
    crops = cache.load(key) if key else None
    hit = crops is not None
    if not hit:
        detector = detector if detector is not None else _SLOT.get(job.settings)
        crops = cache.get_or_extract(job.path, job.num_frames, job.settings, detector, decode_threads=not single_thread)
    crops.cache_key = key  # identifies the crops for the score cache
    return job.index, crops, JobInfo(time.perf_counter() - start, hit, peak_rss_mb())


def run_job(job, detector=None, single_thread: bool = False) -> tuple:
    """The worker entry point for any job: a FaceJob (faces only) or a `video_jobs.VideoJob` (faces and scores)."""
    return job.run(detector, single_thread)


def peak_rss_mb() -> float:
    """Peak resident memory of the calling process in MiB (workers report their own: with forkserver or Ray
    they are not children of the main process, so RUSAGE_CHILDREN would not see them).

    On Linux from VmHWM in /proc/self/status: ru_maxrss carries over the parent's peak through fork and exec,
    so a run started from a big process (a benchmark script) would report that process's peak instead."""
    import resource
    import sys
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
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

    def take(self, result: tuple[int, object, JobInfo]) -> tuple[int, object]:
        """(index, payload): FaceCrops for a face job, `video_jobs.ScoredVideo` for a whole-video job."""
        index, payload, info = result
        self.jobs += 1
        self.cache_hits += info.cache_hit
        self.last_hit = info.cache_hit
        if info.cache_hit:
            self.cache_seconds += info.seconds
        else:
            self.extract_seconds += info.seconds
        self.worker_mb = max(self.worker_mb, info.peak_rss_mb)
        return index, payload


class FaceExecutor(Protocol):
    stats: FaceStageStats  # this session's face-stage totals, updated as results arrive
    local_cores: int  # cores of this machine kept busy by extraction alongside the main process

    def map(self, jobs: Iterable[FaceJob]) -> Iterator[tuple[int, FaceCrops]]:
        """(job index, crops) per job, in completion order."""
        ...

    def close(self) -> None:
        """Stop workers at once (also on KeyboardInterrupt); jobs in flight are lost."""
        ...

    def describe(self) -> dict:
        """For the manifest."""
        ...


@dataclass
class InProcessExecutor:
    """`--workers 1`: the face stage in the main process, one video at a time, as before."""

    settings: FaceSettings
    detector: object = None  # shared with the main process's re-detection of perturbed videos
    stats: FaceStageStats = field(default_factory=FaceStageStats)

    def map(self, jobs: Iterable[FaceJob]) -> Iterator[tuple[int, FaceCrops]]:
        from .faces import make_detector
        for job in jobs:
            if self.detector is None:
                self.detector = make_detector(self.settings)
            yield self.stats.take(job.run(self.detector))

    def close(self) -> None:
        pass

    local_cores = 0  # extraction runs between scoring, never alongside it

    def describe(self) -> dict:
        return {"executor": "local", "workers": 1, "worker_peak_rss_mb": self.stats.worker_mb}


def _worker_init() -> None:
    """Ctrl-C goes to the whole process group: only the main process handles it (and stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_forkserver(preload: tuple[str, ...] = ()) -> None:
    """Start this process's forkserver (if the platform has one) with `benchmarks.cache` and `preload` imported.

    Returns at once: the server imports in the background, so calling this early lets those imports overlap
    the caller's own set-up; a pool created later forks its workers from the already-warm server. A server
    that is already running is kept (its preload list no longer changes)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    from multiprocessing import forkserver
    multiprocessing.get_context("forkserver").set_forkserver_preload(["benchmarks.cache", *preload])
    forkserver.ensure_running()


@dataclass
class PoolExecutor:
    """A local pool of worker processes started with forkserver (spawn where unavailable).

    Not fork: the main process has already started torch's and OpenCV's thread pools, and a forked child
    inherits their locks in whatever state they were (deadlocks in OpenMP / cv2.dnn).
    """

    workers: int
    window: int = 0  # jobs in flight; default 2 x workers
    start_method: str = ""
    # Modules beyond benchmarks.cache the forkserver imports before forking workers: "benchmarks.runner" (torch) for
    # workers that score, so each does not import torch itself. Importing starts no thread pool, so forking stays safe.
    preload: tuple[str, ...] = ()
    stats: FaceStageStats = field(default_factory=FaceStageStats)
    _pool: ProcessPoolExecutor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.window = self.window or 2 * self.workers
        methods = multiprocessing.get_all_start_methods()
        self.start_method = self.start_method or ("forkserver" if "forkserver" in methods else "spawn")

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                start_forkserver(self.preload)  # cv2, av, numpy imported once, not per worker
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
        return self._pool

    def map(self, jobs: Iterable[FaceJob]) -> Iterator[tuple[int, FaceCrops]]:
        pool = self._start()
        pending: set[Future] = set()
        queue = iter(jobs)
        for job in queue:
            pending.add(pool.submit(run_job, job, None, True))
            if len(pending) >= self.window:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield self.stats.take(future.result())  # a worker's exception or death surfaces here
                job = next(queue, None)
                if job is not None:
                    pending.add(pool.submit(run_job, job, None, True))

    def close(self) -> None:
        """Cancel queued jobs and end the workers now, rather than waiting for the videos in flight."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)

    @property
    def local_cores(self) -> int:
        """Cores of this machine the workers keep busy while they extract faces."""
        return self.workers

    def describe(self) -> dict:
        return {"executor": "local", "workers": self.workers, "start_method": self.start_method,
                "in_flight": self.window, "worker_peak_rss_mb": self.stats.worker_mb}


@dataclass
class RayExecutor:
    """Face extraction as Ray tasks (one CPU each), results streamed back to the driver.

    `address` connects to a running cluster (`ray start --head` on the head node); without it a local
    instance with `num_cpus` is started and shut down on close. Video paths and the cache root must be
    the same paths on every node (shared storage), and the project installed in each node's Python.
    """

    address: str | None = None
    num_cpus: int | None = None
    window: int = 0  # tasks in flight; default 2 x the cluster's CPUs
    cluster_cpus: float | None = None
    stats: FaceStageStats = field(default_factory=FaceStageStats)
    _ray: object = field(default=None, repr=False)
    _started: bool = False
    _pending: list = field(default_factory=list, repr=False)
    _actors: list = field(default_factory=list, repr=False)
    _tasks: list = field(default_factory=list, repr=False)  # the prepare tasks behind actor calls in flight
    actors_info: list = field(default_factory=list)  # device, host and pid of each inference actor

    def _start(self):
        if self._ray is None:
            try:
                import ray
            except ImportError:
                raise RuntimeError(RAY_MISSING) from None
            if not ray.is_initialized():
                kwargs = {"address": self.address} if self.address else {"num_cpus": self.num_cpus}
                if self.address:
                    _check_reachable(self.address)
                try:
                    ray.init(**kwargs, include_dashboard=False, log_to_driver=False,
                             runtime_env={"env_vars": {"PYTHONPATH": _project_path()}} if not self.address else None)
                except ConnectionError as error:
                    raise RuntimeError(f"{str(error).splitlines()[0]}; is the cluster up (`ray status` on the head "
                                       "node)? Ray 2.59+ clusters check a token: give this process the head's "
                                       "RAY_AUTH_TOKEN (`ray get-auth-token` there) and RAY_AUTH_MODE=token") from None
                self._started = True
            self._ray = ray
            self.cluster_cpus = ray.cluster_resources().get("CPU")
            self.window = self.window or 2 * max(1, int(self.cluster_cpus or 1))
        return self._ray

    def map(self, jobs: Iterable[FaceJob]) -> Iterator[tuple[int, FaceCrops]]:
        ray = self._start()
        remote = ray.remote(num_cpus=1, max_retries=2)(run_job)
        queue = iter(jobs)
        self._pending = [remote.remote(job, None, True) for _, job in zip(range(self.window), queue)]  # range first: no job lost
        while self._pending:
            done, self._pending = ray.wait(self._pending, num_returns=1)
            yield self.stats.take(ray.get(done[0]))
            job = next(queue, None)
            if job is not None:
                self._pending.append(remote.remote(job, None, True))

    def map_to_actors(self, jobs: Iterable, actor_class: type, actor_args: tuple, actors: int, gpus: bool
                      ) -> Iterator[tuple[int, object]]:
        """Each job as a one-CPU task whose result goes straight to one of `actors` actors (`actor.score`), the
        least busy; yields the actors' (index, result) in completion order. `gpus`: one GPU per actor."""
        ray = self._start()
        remote = ray.remote(num_cpus=1, max_retries=2)(run_job)
        options = {"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": 1}
        self._actors = [ray.remote(**options)(actor_class).remote(*actor_args) for _ in range(actors)]
        self.actors_info = ray.get([actor.describe.remote() for actor in self._actors])
        busy = [0] * actors
        owner: dict = {}
        queue = iter(jobs)

        def submit(job) -> None:
            slot = busy.index(min(busy))
            busy[slot] += 1
            task = remote.remote(job, None, True)
            ref = self._actors[slot].score.remote(task)
            owner[ref] = slot, task
            self._tasks.append(task)
            self._pending.append(ref)

        for _, job in zip(range(self.window), queue):  # range first: no job lost
            submit(job)
        while self._pending:
            done, self._pending = ray.wait(self._pending, num_returns=1)
            slot, task = owner.pop(done[0])
            busy[slot] -= 1
            self._tasks.remove(task)
            yield self.stats.take(ray.get(done[0]))
            job = next(queue, None)
            if job is not None:
                submit(job)

    def close(self) -> None:
        if self._ray is None:
            return
        for ref in self._pending + self._tasks:
            try:
                self._ray.cancel(ref, force=True)
            except (ValueError, TypeError):  # an actor call: ended with its actor below
                pass
        self._pending, self._tasks = [], []
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False

    @property
    def local_cores(self) -> int:
        """Cores of this machine the tasks keep busy: those of a local instance; none for a cluster's driver."""
        return 0 if self.address else int(self.num_cpus or 0)

    def describe(self) -> dict:
        described = {"executor": "ray", "address": self.address or "local", "in_flight": self.window,
                     "cluster_cpus": self.cluster_cpus, "worker_peak_rss_mb": self.stats.worker_mb}
        if self.actors_info:
            described["inference_actors"] = self.actors_info
        return described

    @property
    def cluster_gpus(self) -> float:
        return self._start().cluster_resources().get("GPU", 0.0)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error at once when nothing listens at a plain HOST:PORT address: `ray.init` would retry for
    minutes. Other forms (`auto`, `ray://...`) are left to Ray."""
    import socket
    host, _, port = address.rpartition(":")
    if not host or "/" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise RuntimeError(f"no Ray cluster at --ray-address {address} ({error.strerror or error}); start one with "
                           "`ray start --head --port=PORT` on the head node, or leave --ray-address out for a local "
                           "instance") from None


def _project_path() -> str:
    """The folder holding the `benchmarks` package, so a local Ray instance's workers import this code."""
    return str(Path(__file__).resolve().parents[1])


def make_executor(kind: str, workers: int, settings: FaceSettings, ray_address: str | None = None,
                  detector=None, preload: tuple[str, ...] = ()) -> FaceExecutor:
    """`local` with 1 worker runs in-process; more workers use a process pool; `ray` uses Ray tasks.
    `preload`: modules the pool's forkserver imports once for all its workers (see `PoolExecutor`)."""
    if kind == "ray":
        return RayExecutor(address=ray_address, num_cpus=workers)
    if kind != "local":
        raise ValueError(f"unknown executor {kind!r}; use local or ray")
    if workers <= 1:
        return InProcessExecutor(settings, detector)
    return PoolExecutor(workers, preload=preload)
