"""Fault cases: caches (see tools/faults/__init__.py).

Each case fills the cache of its scratch folder with a first run, damages entries as a user or a bad copy would
(two videos' files swapped, a score edited by hand), runs the same command again and checks that the damaged
entries were discarded and computed again: the rows equal the first run's, timing.json counts the discards and
one warning line names them.
"""
from __future__ import annotations

import json
from pathlib import Path

import detectors

from . import FaultBroken, fault
from .common import cli, score_rows, tiny_dataset


def _run(scratch: Path, out: str, *extra: str, trained: bool = False, level: str = "none") -> tuple[list[tuple], dict,
                                                                                                list[str]]:
    """The CLI run into scratch/OUT with the case's cache: its (video, detector, level, status, score) rows, its
    timing.json and its warning lines."""
    # the score cache keeps rows of trained detectors only
    model = ["--weights", str(detectors.default_weights("meso"))] if trained else ["--random-init"]
    done = cli(scratch, "run", "--dataset", "folder", "--data-root", str(tiny_dataset(scratch)), "--detector", "meso",
               *model, "--frames", "4", "--level", level, "--bootstrap", "0", "--workers", "1",
               "--out", str(scratch / out), "-q", *extra)
    if done.returncode != 0:
        raise FaultBroken(f"run {out} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    rows = sorted((r["video_id"], r["detector"], r["level"], r["status"], r["score"])
                  for r in score_rows(scratch / out))
    timing = json.loads((scratch / out / "timing.json").read_text())
    return rows, timing, [line for line in done.stderr.splitlines() if line.startswith("warning:")]


def _swap(a: Path, b: Path) -> None:
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


def _same_rows(clean: list[tuple], again: list[tuple], tolerance: float = 0.0) -> bool:
    return len(clean) == len(again) and all(
        a[:4] == b[:4] and (a[4] == b[4] or abs(float(a[4]) - float(b[4])) <= tolerance) for a, b in zip(clean, again))


def _check(kind: str, count: int, clean: list[tuple], again: list[tuple], timing: dict, warnings: list[str],
           tolerance: float = 0.0) -> str:
    """The promise after `count` damaged entries of cache `kind`; the outcome line."""
    if not _same_rows(clean, again, tolerance):
        changed = sum(a != b for a, b in zip(clean, again))
        raise FaultBroken(f"{changed} of {len(clean)} rows differ from the clean run: damaged {kind} entries were used")
    counted = (timing.get("cache_discarded") or {}).get(kind)
    if counted != count:
        raise FaultBroken(f"timing.json cache_discarded.{kind} is {counted!r}, expected {count}")
    discards = [line for line in warnings if "discarded and recomputed" in line]
    if len(discards) != 1:
        raise FaultBroken(f"expected one warning line naming the discarded entries, got {warnings}")
    return f"rows equal the clean run, {count} {kind} entries counted; {discards[0]}"


@fault("caches")
def swapped_face_cache_entries(scratch: Path) -> str:
    """Two videos' face-cache files swapped: each video is extracted again (not scored with the other's crops)."""
    clean, _, _ = _run(scratch, "clean")
    first, second = sorted((scratch / "cache" / "faces").rglob("*.npz"))[:2]
    _swap(first, second)
    again, timing, warnings = _run(scratch, "again")
    return _check("faces", 2, clean, again, timing, warnings)


@fault("caches")
def swapped_perturbed_cache_entries(scratch: Path) -> str:
    """Two entries of the perturbed-crop cache (--cache-perturbed) swapped: both levels are perturbed again."""
    clean, _, _ = _run(scratch, "clean", "--cache-perturbed", level="flip")
    first, second = sorted((scratch / "cache" / "perturbed").rglob("*.npz"))[:2]
    _swap(first, second)
    again, timing, warnings = _run(scratch, "again", "--cache-perturbed", level="flip")
    return _check("perturbed", 2, clean, again, timing, warnings)


def _edit_score_entry(scratch: Path, score) -> str:
    """A trained run, one score-cache entry's score set to `score` by hand, the same run again."""
    clean, _, _ = _run(scratch, "clean", trained=True)
    entry = sorted((scratch / "cache" / "scores").rglob("*.json"))[0]
    data = json.loads(entry.read_text())
    row = data.get("row", data)  # ("row" holds the fields since entries carry their key; before, the file did)
    row["score"] = score
    entry.write_text(json.dumps(data))
    again, timing, warnings = _run(scratch, "again", trained=True)
    if str(score) in {r[4] for r in again}:
        raise FaultBroken(f"the edited score {score!r} of {entry} reached scores.csv")
    return _check("scores", 1, clean, again, timing, warnings, tolerance=1e-6)


@fault("caches")
def edited_score_cache_entry(scratch: Path) -> str:
    """A score-cache entry's score edited (frame scores left): discarded and scored again, not reused."""
    return _edit_score_entry(scratch, "0.987654")


@fault("caches")
def non_numeric_score_entry(scratch: Path) -> str:
    """A score-cache entry whose score is not a number: discarded and scored again; the run does not fail."""
    return _edit_score_entry(scratch, "high")
