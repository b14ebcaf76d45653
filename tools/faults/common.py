"""What fault cases share: a tiny generated dataset, the CLI run as a user runs it, run-folder reading, and the
processes a run leaves behind."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from datasets.demo import generate_demo

__all__ = ["tiny_dataset", "cli", "start_cli", "score_rows", "descendants", "alive", "wait_gone", "kill_session",
           "PROJECT_ROOT"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_DATASET_PARAMS = dict(seed=0, n_train=2, n_test=6, frames=12)


def tiny_dataset(scratch: Path) -> Path:
    """A 6-test-video generated demo set (3 real, 3 fake, 12 frames), copied into `scratch` so a case may damage
    it; generated once per process into a shared folder beside the scratch folders."""
    shared = scratch.parent / "_tiny_demo" / "demo"
    if not (shared / "manifest.csv").is_file():
        generate_demo(shared, **_DATASET_PARAMS)
    target = scratch / "data"
    if not target.exists():
        shutil.copytree(shared, target)
    return target


def _env(scratch: Path, extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["DFBENCH_CACHE_DIR"] = str(scratch / "cache")  # faces and scores of this case only
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def cli(scratch: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m benchmarks ARGS` from `scratch` (never the checkout), as a user runs it; output captured."""
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=scratch, env=_env(scratch, env),
                          capture_output=True, text=True, timeout=timeout)


def start_cli(scratch: Path, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """The same, started in its own session (so signals to it reach only the run) and not waited for.

    A child inherits ignored signals: a shell starts background jobs with SIGINT ignored (CI scripts included) and
    `nohup` ignores SIGHUP, and an ignored stop signal stays ignored in the run (by design). So the run is started as
    from a terminal, from any thread: a small interpreter sets SIGINT, SIGTERM and SIGHUP to their defaults and
    execs `python -m benchmarks` in the same process (dispositions at their default survive exec; no preexec_fn,
    which is unsafe in a threaded parent)."""
    return subprocess.Popen([sys.executable, "-c", RESET_AND_EXEC, *args], cwd=scratch, env=_env(scratch, env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **popen)


RESET_AND_EXEC = ("import os, signal, sys\n"
                  "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):\n"
                  "    signal.signal(s, signal.SIG_DFL)\n"
                  "os.execv(sys.executable, [sys.executable, '-m', 'benchmarks', *sys.argv[1:]])\n")


def score_rows(run_dir: Path) -> list[dict]:
    """scores.csv as plain dicts (no validation: the case inspects what is really there)."""
    with open(run_dir / "scores.csv", newline="") as f:
        return list(csv.DictReader(f))


def descendants(pid: int) -> set[int]:
    """Processes of the session `pid` leads (a run started with `start_cli`), itself excluded: found by session
    id, so workers reparented after their parent died are still found."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == pid:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pid and fields[0] != "Z":  # field 6 of stat: session id
            found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies count as gone)."""
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def wait_gone(pids: set[int], seconds: float = 20) -> set[int]:
    """Wait up to `seconds` for `pids` to end; those still alive."""
    deadline = time.monotonic() + seconds
    while (left := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def kill_session(process: subprocess.Popen) -> None:
    """Whatever is left of a run started with `start_cli` once a case or test has looked: a broken promise must not
    leave 2 GB of orphans behind."""
    for pid in descendants(process.pid) | ({process.pid} if process.poll() is None else set()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.communicate()
