"""Jobs as Ray tasks on a cluster or a local Ray instance (`--executor ray`), optionally feeding inference actors.

Video paths and the cache root must be the same paths on every node (shared storage), and the project installed
in each node's Python. Ray itself is imported when the executor starts: it is an optional extra.
"""
from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..pipeline.faces import FaceCrops
from .face_jobs import FaceJob, FaceStageStats, run_job
from .lifeline import stop_handlers_kept

__all__ = ["RayExecutor", "RAY_MISSING"]

RAY_MISSING = 'the ray executor needs Ray: pip install -e ".[ray]"'


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
                    check_reachable(self.address)
                try:
                    with stop_handlers_kept():  # Ctrl-C, SIGTERM and SIGHUP keep stopping the run cleanly
                        ray.init(**kwargs, include_dashboard=False, log_to_driver=False,
                                 runtime_env={"env_vars": {"PYTHONPATH": project_path()}} if not self.address else None)
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


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error at once when nothing listens at a plain HOST:PORT address: `ray.init` would retry for
    minutes. Other forms (`auto`, `ray://...`) are left to Ray."""
    host, _, port = address.rpartition(":")
    if not host or "/" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise RuntimeError(f"no Ray cluster at --ray-address {address} ({error.strerror or error}); start one with "
                           "`ray start --head --port=PORT` on the head node, or leave --ray-address out for a local "
                           "instance") from None


def project_path() -> str:
    """The folder holding the `benchmarks` package, so a local Ray instance's workers import this code."""
    return str(Path(__file__).resolve().parents[2])
