"""The run folder's lock: one run writes a folder at a time.

Two runs appending to one scores.csv interleave their rows (every video twice, metrics over twice the videos),
so a run holds an exclusive `flock` on `run.lock` in its folder from before it writes anything until it returns
or raises; a second run on the folder fails at once with the holder's pid and host, which the holder writes into
the lock file. The kernel releases a flock when the holding process ends however it ends (kill -9 and power loss
included: a lock on a local file does not survive a reboot either), so a lock is never left stale and there is
nothing to clean up by hand; the file itself stays, and an unlocked file means "free" whatever it says.

The lock file is opened close-on-exec and workers are started by forkserver or spawn, not forked from the run,
so no worker inherits the lock and keeps it after the run has died. On platforms without `fcntl` (Windows) there
is no lock. On network file systems flock is as good as the server's lock support (NFSv4: yes).
"""
from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from reports.run_files import LOCK_FILE

from ..config import RunError

try:
    import fcntl
except ImportError:  # Windows: no advisory file locks of this kind
    fcntl = None

__all__ = ["RunFolderLock", "RunFolderBusy", "holder"]


class RunFolderBusy(RunError):
    """Another live run holds the folder's lock."""


def _describe(text: str) -> str:
    """'pid N on HOST' from the lock file's text, or why it is not known."""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" not in fields:
        return "pid unknown: the run is just starting"
    return f"pid {fields['pid']} on {fields.get('host', 'an unknown host')}, since {fields.get('since', '?')}"


def holder(run_dir: Path) -> str | None:
    """'pid N on HOST, since T' when a live run holds `run_dir`'s lock, else None (no lock file, or nobody holds
    it). Takes and drops a shared lock, so it never blocks and never waits for the run."""
    path = Path(run_dir) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _describe(handle.read())
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


class RunFolderLock:
    """`with RunFolderLock(run_dir):` holds the folder for this process or raises RunFolderBusy at once."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> RunFolderLock:
        if fcntl is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            raise RunFolderBusy(f"{self.run_dir} is in use by another run ({_describe(text)}); wait for it to end "
                                "or choose another --out (the lock goes with the process, so a run that died "
                                "does not hold it)") from None
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} host={socket.gethostname()} since={since}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # the next holder writes its own; an empty unlocked file reads as free
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
