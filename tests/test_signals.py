"""A run stopped by a signal while it writes rows: the exit code names the signal, the finished rows are kept as
complete lines, no process of the run is left (workers, forkserver, resource tracker), the output pipe closes, and
running the same command again ends with the rows of an uninterrupted run.

Each case is a real `python -m benchmarks run --workers 2` in its own session, signalled once scores.csv has a row.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cli.stopping import StopSignals, Terminated
from benchmarks.execution.lifeline import ORPHAN_EXIT_CODE
from tools.faults.common import cli, descendants, kill_session, start_cli, tiny_dataset, wait_gone

pytestmark = pytest.mark.slow

RUN = ("run", "--dataset", "folder", "--detector", "meso", "--random-init", "--frames", "12", "--level",
       "heavy,flip", "--workers", "2", "-q")


def run_args(scratch: Path, data: Path) -> tuple[str, ...]:
    return (*RUN, "--data-root", str(data), "--out", str(scratch / "run"))


def score_set(run_dir: Path) -> set[tuple]:
    """The rows that must match: (video_id, detector, level, score to 1e-6); every line complete."""
    text = (run_dir / "scores.csv").read_text()
    assert text.endswith("\n"), "scores.csv ends in the middle of a line"
    rows = list(csv.DictReader(text.splitlines()))
    assert all(None not in row and None not in row.values() for row in rows), "a row of scores.csv is cut short"
    return {(r["video_id"], r["detector"], r["level"], round(float(r["score"]), 6) if r["score"] else "")
            for r in rows}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("signals-data"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data) -> set[tuple]:
    scratch = tmp_path_factory.mktemp("signals-whole")
    done = cli(scratch, *run_args(scratch, data))
    assert done.returncode == 0, done.stderr
    return score_set(scratch / "run")


def rows_written(run_dir: Path) -> int:
    try:
        return max(0, len((run_dir / "scores.csv").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def signal_while_writing(scratch: Path, data: Path, signum: int, group: bool) -> tuple[subprocess.Popen, int]:
    """Start the run, wait for its first row, send the signal; returns the process and the rows seen before."""
    process = start_cli(scratch, *run_args(scratch, data))
    deadline = time.monotonic() + 600
    while (before := rows_written(scratch / "run")) < 1:
        assert process.poll() is None, f"the run ended before any row: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no row within 10 minutes"
        time.sleep(0.05)
    assert len(descendants(process.pid)) >= 3, "expected the forkserver, the resource tracker and workers"
    (os.killpg if group else os.kill)(process.pid, signum)
    return process, before


# SIGTERM and SIGHUP to the main process alone are the fault cases `signals.sigterm_with_workers` and
# `signals.sighup_with_workers` (python -m tools.fault_injection, run by CI): here they go to the whole group, and
# every signal is followed by the resume.
@pytest.mark.parametrize("name,group,code", [
    ("SIGTERM", True, 143), ("SIGHUP", True, 129), ("SIGINT", False, 130), ("SIGINT", True, 130),
    ("SIGKILL", False, -9),
], ids=["SIGTERM-group", "SIGHUP-group", "SIGINT", "SIGINT-group", "SIGKILL"])
def test_a_signalled_run_keeps_its_rows_leaves_no_process_and_resumes(tmp_path, data, uninterrupted, name, group,
                                                                      code):
    signum = getattr(signal, name)
    process, before = signal_while_writing(tmp_path, data, signum, group)
    try:
        try:
            _, err = process.communicate(timeout=60)  # also: every holder of its stdout and stderr pipes is gone
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name}: the run's output pipes were still open 60 s later (processes "
                        f"{sorted(descendants(process.pid))})")
        assert process.returncode == code, err[-2000:]
        if signum != signal.SIGKILL:
            assert "interrupted: finished videos are saved in" in err
            assert (f"stopped by {name}" in err) == (signum != signal.SIGINT), err[-2000:]
            assert "Traceback" not in err, err[-2000:]
        left = wait_gone(descendants(process.pid), seconds=10)
        assert not left, f"{name}: processes of the run still alive 10 s after it ended: {sorted(left)}"
    finally:  # a failure must not leave the run's processes behind
        kill_session(process)
    kept = score_set(tmp_path / "run")
    assert len(kept) >= before and kept <= uninterrupted
    resumed = cli(tmp_path, *run_args(tmp_path, data))
    assert resumed.returncode == 0, resumed.stderr
    assert score_set(tmp_path / "run") == uninterrupted


def test_stop_signals_raise_terminated_once_and_name_the_exit_code(capsys):
    """In-process: SIGTERM inside the block is a `Terminated` naming it, a second one during clean-up is ignored,
    the exit code is 128 + its number, and the previous handlers are back afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        with pytest.raises(Terminated, match="stopped by SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs at the next bytecode; never reached
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: clean-up goes on
        time.sleep(0.1)
    assert stop.exit_code(0) == 143
    assert "stopped by SIGTERM" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is previous
    with StopSignals() as calm:
        pass
    assert calm.exit_code(0) == 0


def test_an_ignored_stop_signal_stays_ignored():
    """`nohup` starts the command with SIGHUP ignored: a closed terminal must not stop the run."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with StopSignals() as stop:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.1)
        assert stop.exit_code(0) == 0
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_worker_exits_when_the_process_it_watches_is_gone(tmp_path):
    """The lifeline alone: a child watching a process that is killed exits within a second or so."""
    watched = subprocess.Popen(["sleep", "60"])
    code = ("import sys, time; from benchmarks.execution.lifeline import exit_with; "
            f"exit_with({watched.pid}, interval=0.1); time.sleep(60); sys.exit(3)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    watcher = subprocess.Popen([sys.executable, "-c", code], env=env)
    time.sleep(1)
    assert watcher.poll() is None, "the watcher ended while the watched process was alive"
    watched.kill()
    watched.wait()
    assert watcher.wait(timeout=10) == ORPHAN_EXIT_CODE
