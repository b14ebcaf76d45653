"""Where jobs run on this machine: in-process, or a local pool of worker processes (Ray: `ray_cluster`).

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
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from ..config import FaceSettings
from ..pipeline.face_detectors import make_detector
from ..pipeline.faces import FaceCrops
from .face_jobs import FaceJob, FaceStageStats, run_job
from .lifeline import STOP_SIGNALS, exit_with, stop_signals_blocked
from .ray_cluster import RayExecutor

__all__ = ["FaceExecutor", "InProcessExecutor", "PoolExecutor", "make_executor", "default_workers",
           "start_forkserver", "FACE_STAGE_MODULE", "SCORING_MODULE", "BINDING_MODULE"]

# Modules the forkserver imports once for all workers, named here so the main process can start it before it
# imports torch: every worker runs the face stage; workers that score also import torch through the scoring jobs.
FACE_STAGE_MODULE = "benchmarks.execution.face_jobs"
BINDING_MODULE = "benchmarks.binding"  # first: the siblings' generic names bound before anything imports them
SCORING_MODULE = "benchmarks.execution.jobs"


def default_workers() -> int:
    """Cores this process may use (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


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
        for job in jobs:
            if self.detector is None:
                self.detector = make_detector(self.settings)
            yield self.stats.take(job.run(self.detector))

    def close(self) -> None:
        pass

    local_cores = 0  # extraction runs between scoring, never alongside it

    def describe(self) -> dict:
        return {"executor": "local", "workers": 1, "worker_peak_rss_mb": self.stats.worker_mb}


def _worker_init(main_pid: int) -> None:
    """Leave the stop signals to the main process, which stops the pool, and exit if the main process is gone
    without stopping it (kill -9). Ctrl-C, a closed terminal and Slurm's SIGTERM reach the whole process group: a
    worker dying of one before the main process handles it would turn the stop into a "broken pool" error."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    exit_with(main_pid)


def start_forkserver(preload: tuple[str, ...] = ()) -> None:
    """Start this process's forkserver (if the platform has one) with the face stage and `preload` imported.

    Returns at once: the server imports in the background, so calling this early lets those imports overlap
    the caller's own set-up; a pool created later forks its workers from the already-warm server. A server
    that is already running is kept (its preload list no longer changes)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    from multiprocessing import forkserver, resource_tracker
    multiprocessing.get_context("forkserver").set_forkserver_preload([BINDING_MODULE, FACE_STAGE_MODULE, *preload])
    with stop_signals_blocked():
        resource_tracker.ensure_running()  # first: it unblocks SIGINT and SIGTERM once it has started its process
    with stop_signals_blocked():
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
    # Modules beyond the face stage the forkserver imports before forking workers: SCORING_MODULE (torch) for
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
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init,
                                             initargs=(os.getpid(),))
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
        """Cancel queued jobs and end the workers now, rather than waiting for the videos in flight. SIGKILL: the
        workers ignore the stop signals. The forkserver stays for later pools and exits with this process."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
        results = getattr(pool, "_result_queue", None)  # and this
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=10)
        if results is not None:
            # A worker ended in the middle of sending a result leaves half a message in the result pipe, and the
            # pool's manager thread waits for the rest for ever: the interpreter then hangs at exit, joining that
            # thread. With the workers gone, this process holds the pipe's last write end; closing it turns the
            # wait into end-of-file, which the thread treats as a broken pool and ends.
            results._writer.close()

    @property
    def local_cores(self) -> int:
        """Cores of this machine the workers keep busy while they extract faces."""
        return self.workers

    def describe(self) -> dict:
        return {"executor": "local", "workers": self.workers, "start_method": self.start_method,
                "in_flight": self.window, "worker_peak_rss_mb": self.stats.worker_mb}


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
