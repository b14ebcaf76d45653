"""Worker processes that end with the run's main process, however it ends.

A pool worker's parent is the multiprocessing forkserver, not the main process, and each worker holds the
forkserver's "alive" pipe and the resource tracker's pipe open. When the main process is killed (`kill -9`, an
out-of-memory kill, a crash), nothing tells the workers: they wait for jobs for ever, keep the forkserver and the
resource tracker alive with them (about 2 GB with scoring workers), and keep the run's stdout open, so
`run ... | tee log` never returns. `exit_with(pid)` makes a worker watch the main process itself and exit once it is
gone; the forkserver and the resource tracker then see end-of-file on their pipes and exit too.

Linux's PR_SET_PDEATHSIG is no help here: it fires on the death of the parent, the forkserver, which stays alive
exactly as long as the workers do.
"""
from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["exit_with", "stop_signals_blocked", "stop_handlers_kept", "ORPHAN_EXIT_CODE", "STOP_SIGNALS"]

# The signals that stop a run: Ctrl-C, a closed terminal or ssh session, and what `timeout`, Slurm and `docker stop`
# send. The main process handles them (workers stopped, finished rows kept, exit 128 + the signal's number).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

ORPHAN_EXIT_CODE = 137  # as if killed with the main process (128 + SIGKILL)


@contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Helper processes started inside this block (the forkserver, the resource tracker, and through the forkserver
    the workers) never act on a stop signal: they inherit the blocked signal mask across exec. A closed terminal or
    Slurm signals the whole process group; the forkserver killed by SIGTERM turned the stop into a "broken pool"
    error, the resource tracker killed by SIGHUP was relaunched at exit and printed KeyError tracebacks. They exit on
    their own once the main process and the workers are gone. This thread's signals arriving meanwhile are delivered
    when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def stop_handlers_kept() -> Iterator[None]:
    """This process's handlers for the stop signals as they were before the block. `ray.init` installs a native
    SIGTERM handler in the driver that prints a stack and aborts (exit -6), which skipped the run's clean stop."""
    if threading.current_thread() is not threading.main_thread():  # handlers are set from the main thread only
        yield
        return
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            if handler is not None:  # None: a handler not installed from Python, left alone
                signal.signal(signum, handler)


def exit_with(pid: int, *, interval: float = 0.5) -> threading.Thread:
    """Start a daemon thread that ends this process (`os._exit`, no clean-up: the run is gone) once process `pid`
    has ended. Waits on a pidfd where the platform has one (Linux 5.3+: woken at once, no polling), else checks
    every `interval` seconds. A `pid` already gone when called ends this process straight away."""
    thread = threading.Thread(target=_wait_then_exit, args=(pid, interval), name=f"exit-with-{pid}", daemon=True)
    thread.start()
    return thread


def _wait_then_exit(pid: int, interval: float) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(ORPHAN_EXIT_CODE)
    except (AttributeError, OSError):  # no pidfd (macOS, old kernels, seccomp): poll
        while _running(pid):
            time.sleep(interval)
    else:
        select.select([fd], [], [])  # readable once the process has exited
    os._exit(ORPHAN_EXIT_CODE)


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (an exited main process its own parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: kill(0) said it exists
