"""Fault cases: signals (see tools/faults/__init__.py).

A `--workers 2` run on the tiny demo set is signalled once scores.csv has a row, as `timeout`, Slurm or
`docker stop` (SIGTERM), a closed terminal or ssh session (SIGHUP) and the out-of-memory killer or `kill -9` do.
Promised: exit 128 + the signal's number (143, 129; -9 for kill -9), the rows written before kept as complete
lines, the output pipes closed, and no process of the run alive (workers, forkserver, resource tracker) within
10 s of its end.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from . import FaultBroken, fault
from .common import descendants, kill_session, score_rows, start_cli, tiny_dataset, wait_gone

__all__ = ["sigterm_with_workers", "sighup_with_workers", "kill_9_with_workers"]

ROWS_WAIT = 300  # seconds for the first row (a loaded machine)


def _signal_run(scratch: Path, signum: int) -> str:
    run_dir = scratch / "run"
    process = start_cli(scratch, "run", "--dataset", "folder", "--data-root", str(tiny_dataset(scratch)),
                        "--detector", "meso", "--random-init", "--frames", "12", "--level", "heavy,flip",
                        "--workers", "2", "--out", str(run_dir), "-q")
    try:
        deadline = time.monotonic() + ROWS_WAIT
        while not (run_dir / "scores.csv").is_file() or len(score_rows(run_dir)) < 1:
            if process.poll() is not None:
                raise FaultBroken(f"the run ended (exit {process.returncode}) before writing a row: "
                                  f"{process.communicate()[1].strip()[-300:]}")
            if time.monotonic() > deadline:
                raise FaultBroken(f"no row in scores.csv within {ROWS_WAIT} s")
            time.sleep(0.05)
        before = len(score_rows(run_dir))
        helpers = len(descendants(process.pid))
        os.kill(process.pid, signum)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise FaultBroken(f"{signal.Signals(signum).name}: the run's output pipes still open 60 s later (a "
                              f"`| tee` would never return); processes {sorted(descendants(process.pid))}") from None
        left = wait_gone(descendants(process.pid), seconds=10)
    finally:
        kill_session(process)
    expected = -signum if signum == signal.SIGKILL else 128 + signum
    name = signal.Signals(signum).name
    rows = score_rows(run_dir)
    if process.returncode != expected:
        raise FaultBroken(f"{name}: exit {process.returncode}, expected {expected}: {err.strip()[-300:]}")
    if left:
        raise FaultBroken(f"{name}: {len(left)} processes of the run still alive 10 s after it ended "
                          f"(pids {sorted(left)}; it had {helpers} besides the main process)")
    if len(rows) < before or any(None in row or None in row.values() for row in rows):
        raise FaultBroken(f"{name}: {before} rows before the signal, {len(rows)} complete rows after")
    if signum != signal.SIGKILL and not ("interrupted: finished videos" in err and f"stopped by {name}" in err):
        raise FaultBroken(f"{name}: no 'interrupted: ...' and 'stopped by {name}' lines on stderr: "
                          f"{err.strip()[-300:]}")
    return (f"{name} with --workers 2: exit {process.returncode}, {len(rows)} rows kept ({before} before the "
            f"signal), processes left 0 of {helpers}")




@fault("signals")
def sigterm_with_workers(scratch: Path) -> str:
    """SIGTERM to a `--workers 2` run (timeout, Slurm, docker stop): exit 143, rows kept, workers, forkserver and
    resource tracker gone."""
    return _signal_run(scratch, signal.SIGTERM)


@fault("signals")
def sighup_with_workers(scratch: Path) -> str:
    """SIGHUP to a `--workers 2` run (closed terminal or ssh session): exit 129, rows kept, no process left."""
    return _signal_run(scratch, signal.SIGHUP)


@fault("signals")
def kill_9_with_workers(scratch: Path) -> str:
    """kill -9 of a `--workers 2` run's main process: the workers notice and exit, the forkserver and resource
    tracker follow, the output pipe closes (`| tee` returns), rows written before are kept; no orphan 10 s on."""
    return _signal_run(scratch, signal.SIGKILL)
