"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

SIGTERM is what `timeout`, Slurm (`scancel`, the time limit) and `docker stop` send; SIGHUP comes when the terminal
or ssh session closes. Their default action kills the main process on the spot: a run's workers were left behind
(with the forkserver and resource tracker, about 2 GB) and `run ... | tee` never returned. Raised as a
`KeyboardInterrupt` subclass, they take the run's interrupt path instead (workers stopped and reaped, finished rows
kept, "interrupted: ..." on stderr), then "stopped by SIGTERM" and the command exits 128 + the signal's number: 143
for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C.

A signal the command was started with ignored stays ignored (`nohup` runs survive a closed terminal). Only the
command line installs these handlers: `benchmarks.run()` called from Python leaves the caller's signal
handling alone (its workers still exit when the calling process is gone, see `execution.lifeline`).
"""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from ..execution.lifeline import STOP_SIGNALS

__all__ = ["Terminated", "StopSignals"]


class Terminated(KeyboardInterrupt):
    """A stop signal other than Ctrl-C arrived; its message names the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class StopSignals:
    """`with StopSignals() as stop:` raises `Terminated` at the first SIGTERM or SIGHUP inside the block; later ones
    are ignored, so a second SIGTERM (Slurm sends one to every process of the job) cannot cut the clean-up short.
    After the block, `stop.exit_code(code)` is 128 + the signal's number if one came; an error raised while stopping
    (a closed terminal refuses the "interrupted" line) does not replace that exit code."""

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum:
            return
        self.signum = signum
        raise Terminated(signum)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # Python handles signals in the main thread only
            for signum in STOP_SIGNALS:
                # An ignored signal stays ignored: `nohup` ignores SIGHUP so that a closed terminal does not stop the
                # run, and a shell starts background jobs with SIGINT ignored (Python then never raises Ctrl-C).
                if signum != signal.SIGINT and signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return bool(self.signum) and isinstance(error, Exception | KeyboardInterrupt)

    def exit_code(self, code: int) -> int:
        """128 + the signal's number after a stop signal, saying which on stderr (the run's own "interrupted: ..."
        line cannot: Ray turns the `Terminated` raised in its waits into a plain KeyboardInterrupt); else `code`."""
        if not self.signum:
            return code
        try:
            print(f"stopped by {signal.Signals(self.signum).name}", file=sys.stderr)
        except OSError:  # the closed terminal of a SIGHUP
            pass
        return 128 + self.signum
