"""Fault cases: inputs (see tools/faults/__init__.py). Bad input is caught early and named: a gate that would check
nothing, a file reached through a symlink outside the data root, unreadable entries of a folder scan, a numeric
argument out of range, a NUL byte in a manifest path."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from . import FaultBroken, fault
from .common import cli, tiny_dataset

RUN_ARGS = ("--detector", "meso", "--random-init", "--frames", "4", "-q")


def _scored_run(scratch: Path) -> tuple[Path, Path]:
    """A real run of the tiny set at levels none and heavy, and its baseline; made once per process (beside the
    scratch folders, like the tiny set) since the gate cases only read them."""
    shared = scratch.parent / "_inputs_gate"
    run, baseline = shared / "run", shared / "baseline.json"
    if not baseline.is_file():
        shared.mkdir(exist_ok=True)
        done = cli(shared, "run", "--dataset", "folder", "--data-root", str(tiny_dataset(shared)), *RUN_ARGS,
                   "--level", "heavy", "--out", str(run))
        if done.returncode != 0:
            raise FaultBroken(f"the clean run failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
        done = cli(shared, "baseline", str(run), "--out", str(baseline))
        if done.returncode != 0:
            raise FaultBroken(f"baseline failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return run, baseline


def _expect_exit_2(done, *needles: str, what: str) -> str:
    """The one `error:` line of a refused command, checked for `needles`; FaultBroken otherwise."""
    err = done.stderr.strip()
    if done.returncode != 2 or not all(n in err for n in needles):
        raise FaultBroken(f"{what}: exit {done.returncode}, stderr {err[-300:]!r}, stdout {done.stdout.strip()[-200:]!r}")
    return err.splitlines()[-1]


@fault("inputs")
def gate_empty_baseline(scratch: Path) -> str:
    """`check` against a baseline with no detectors: exit 2 'nothing to check', never 'passed (0 of 0 ...)'."""
    run, baseline = _scored_run(scratch)
    empty = scratch / "empty.json"
    empty.write_text(json.dumps({**json.loads(baseline.read_text()), "detectors": {}}))
    done = cli(scratch, "check", str(run), "--baseline", str(empty))
    if "passed" in done.stdout:
        raise FaultBroken(f"an empty baseline passed: {done.stdout.strip().splitlines()[0]}")
    return _expect_exit_2(done, "nothing to check", str(empty), what="empty baseline")


@fault("inputs")
def gate_typo_level(scratch: Path) -> str:
    """`check --levels none,haevy`: exit 2 naming the level with a did-you-mean, not a check of `none` only."""
    run, baseline = _scored_run(scratch)
    done = cli(scratch, "check", str(run), "--baseline", str(baseline), "--levels", "none,haevy")
    return _expect_exit_2(done, "'haevy'", "did you mean 'heavy'?", what="typo level")


@fault("inputs")
def symlink_escape(scratch: Path) -> str:
    """fake/ is a symlink to videos outside the data root: `run` refuses (exit 2) naming the manifest line and
    writes nothing; `datasets check` lists each escaping file (exit 1); --follow-symlinks lets check pass."""
    root = tiny_dataset(scratch)
    outside = scratch / "elsewhere"
    shutil.move(root / "fake", outside)
    (root / "fake").symlink_to(outside, target_is_directory=True)
    first = next(n for n, line in enumerate((root / "manifest.csv").read_text().splitlines(), 1)
                 if line.startswith("fake/") and ",test," in line)
    done = cli(scratch, "run", "--dataset", "folder", "--data-root", str(root), *RUN_ARGS, "--level", "none",
               "--out", str(scratch / "run"))
    line = _expect_exit_2(done, f"manifest.csv:{first}: 'fake/", "outside the data root", what="run")
    if (scratch / "run").exists():
        raise FaultBroken("the refused run still created its run folder")
    check = cli(scratch, "datasets", "check", "--dataset", "folder", "--data-root", str(root), "--split", "test",
                "--no-duplicates")
    if check.returncode != 1 or "escapes root: 3" not in check.stdout:
        raise FaultBroken(f"datasets check: exit {check.returncode}, {check.stdout.strip()[-300:]!r}")
    follow = cli(scratch, "datasets", "check", "--dataset", "folder", "--data-root", str(root), "--split", "test",
                 "--no-duplicates", "--no-probe", "--follow-symlinks")
    if follow.returncode != 0:
        raise FaultBroken(f"datasets check --follow-symlinks: exit {follow.returncode}, {follow.stdout.strip()[-300:]!r}")
    return f"run: {line}; datasets check: escapes root: 3 (exit 1); with --follow-symlinks: exit 0"


@fault("inputs")
def scan_loop_dangling_directory(scratch: Path) -> str:
    """A real/+fake/ folder with a symlink loop, a dangling link and a directory named x.mp4: `datasets check`
    names each on one line (exit 1) instead of the scan leaving them out without a word."""
    data = tiny_dataset(scratch)
    root = scratch / "scan"
    for label in ("real", "fake"):
        shutil.copytree(data / label, root / label)
    (root / "real" / "x.mp4").mkdir()
    os.symlink("nowhere.mp4", root / "fake" / "gone.mp4")
    os.symlink("loop2.mp4", root / "fake" / "loop1.mp4")
    os.symlink("loop1.mp4", root / "fake" / "loop2.mp4")
    done = cli(scratch, "datasets", "check", "--dataset", "folder", "--data-root", str(root), "--no-duplicates",
               "--no-probe")
    wanted = ("symlink loop: 2", "dangling link: 1\n  fake/gone:", "not a file: 1\n  real/x: 'real/x.mp4' is a directory")
    if done.returncode != 1 or not all(w in done.stdout for w in wanted):
        raise FaultBroken(f"datasets check: exit {done.returncode}, {done.stdout.strip()[-400:]!r}")
    return "datasets check exit 1: symlink loop: 2, dangling link: 1, not a file: 1 (real/x.mp4 is a directory)"


@fault("inputs")
def frames_zero(scratch: Path) -> str:
    """`run --frames 0`: a parse error with the range (exit 2), no run folder, no rows with 0 frames."""
    done = cli(scratch, "run", "--dataset", "folder", "--data-root", str(tiny_dataset(scratch)), "--detector", "meso",
               "--random-init", "--frames", "0", "--level", "none", "--out", str(scratch / "run"), "-q")
    err = done.stderr.strip()
    if done.returncode != 2 or "argument --frames: must be an integer >= 1, got 0" not in err:
        raise FaultBroken(f"--frames 0: exit {done.returncode}, stderr {err[-300:]!r}")
    if (scratch / "run").exists():
        raise FaultBroken("--frames 0 created a run folder")
    return err.splitlines()[-1]


@fault("inputs")
def nul_byte_in_manifest(scratch: Path) -> str:
    """A NUL byte in a manifest path: `run` exits 2 naming the manifest and line, before a run folder (or a
    detector) is made, instead of 'embedded null byte' from deep inside."""
    root = tiny_dataset(scratch)
    manifest = root / "manifest.csv"
    lines = manifest.read_text().splitlines()
    number = next(n for n, line in enumerate(lines, 1) if ",test," in line)
    lines[number - 1] = lines[number - 1].replace("/", "/\x00", 1)
    manifest.write_text("\n".join(lines) + "\n")
    done = cli(scratch, "run", "--dataset", "folder", "--data-root", str(root), *RUN_ARGS, "--level", "none",
               "--out", str(scratch / "run"))
    line = _expect_exit_2(done, f"manifest.csv:{number}: path", "contains a NUL byte", what="NUL byte")
    if (scratch / "run").exists():
        raise FaultBroken("the refused run still created its run folder")
    return line
