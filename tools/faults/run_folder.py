"""Fault cases: run_folder (see tools/faults/__init__.py): two runs on one folder, a hand-edited scores.csv, a
truncated manifest.json, and data changed between an interrupted run and its resume."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

from . import FaultBroken, fault
from .common import cli, score_rows, start_cli, tiny_dataset


def _run_args(scratch: Path, out: Path) -> list[str]:
    return ["run", "--dataset", "folder", "--data-root", str(tiny_dataset(scratch)), "--detector", "meso",
            "--random-init", "--frames", "4", "--level", "none", "--out", str(out), "-q"]


def _run(scratch: Path, out: Path) -> None:
    done = cli(scratch, *_run_args(scratch, out))
    if done.returncode != 0:
        raise FaultBroken(f"the plain run failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")


def _one_error_line(done, *expected: str) -> str:
    """The single `error:` line of a refused command, checked to contain each of `expected`."""
    lines = done.stderr.strip().splitlines()
    if done.returncode != 2 or len(lines) != 1 or not lines[0].startswith("error: ") \
            or not all(e in lines[0] for e in expected):
        raise FaultBroken(f"expected exit 2 and one `error:` line naming {expected}; got exit {done.returncode}, "
                          f"stderr {done.stderr.strip()[-400:]!r}")
    return lines[0]


@fault("run_folder")
def concurrent_runs_on_one_folder(scratch: Path) -> str:
    """Two runs with the same --out started together: one fails at once (exit 2) naming the other's pid, the
    other finishes with each video once in scores.csv."""
    out = scratch / "run"
    tiny_dataset(scratch)
    runs = [start_cli(scratch, *_run_args(scratch, out)) for _ in range(2)]
    try:
        results = [(run.pid, *run.communicate(timeout=600), run.returncode) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
    codes = sorted(code for *_, code in results)
    keys = [(r["video_id"], r["detector"], r["level"]) for r in score_rows(out)]
    if codes != [0, 2] or len(keys) != len(set(keys)) or len(keys) != 6:
        raise FaultBroken(f"exit codes {codes} (wanted 0 and 2); scores.csv holds {len(keys)} rows for "
                          f"{len(set(keys))} keys (6 videos)")
    (winner, *_), (_, _, err, _) = sorted(results, key=lambda r: r[3])
    line = _one_error_line(subprocess.CompletedProcess([], 2, "", err), "is in use by another run", f"pid {winner}")
    return f"one run: exit 2, {line[:120]}...; the other: 6 rows, none twice"


@fault("run_folder")
def edited_scores_then_report_check_resume(scratch: Path) -> str:
    """scores.csv edited by hand (one row duplicated, one garbage line): `report`, `check` and a resume each fail
    with exit 2 and one line naming scores.csv and the line, instead of counting the video twice."""
    out = scratch / "run"
    _run(scratch, out)
    baseline = scratch / "baseline.json"
    made = cli(scratch, "baseline", str(out), "--out", str(baseline))
    if made.returncode != 0:
        raise FaultBroken(f"baseline failed: {made.stderr.strip()[-300:]}")
    lines = (out / "scores.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "scores.csv").write_text("".join([*lines, lines[1], "this is not a row\n"]), encoding="utf-8")
    outcomes = []
    for name, args in (("report", ["report", str(out)]), ("check", ["check", str(out), "--baseline", str(baseline)]),
                       ("resume", _run_args(scratch, out))):
        line = _one_error_line(cli(scratch, *args), "scores.csv:8:", "second row for video")
        outcomes.append(name)
    return f"{', '.join(outcomes)}: exit 2, {line}"


@fault("run_folder")
def truncated_manifest_then_report(scratch: Path) -> str:
    """manifest.json cut in half: `report` fails with exit 2 and one line naming manifest.json and where the JSON
    breaks (not a bare parser message)."""
    out = scratch / "run"
    _run(scratch, out)
    manifest = out / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[: manifest.stat().st_size // 2])
    line = _one_error_line(cli(scratch, "report", str(out)), str(manifest), "not valid JSON")
    return f"report: exit 2, {line}"


@fault("run_folder")
def data_changed_before_resume(scratch: Path) -> str:
    """An interrupted run (its last videos' rows missing, manifest incomplete), then a label fixed in the dataset
    manifest and a video file replaced, then the same command again: the resume names both videos, rescores them,
    and ends with the rows a fresh run on the new data gives and the new data's fingerprint."""
    data = tiny_dataset(scratch)
    out = scratch / "run"
    _run(scratch, out)
    rows = score_rows(out)  # the interruption: the session ended after 4 of 6 videos
    with open(out / "scores.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:4])
    state = json.loads((out / "manifest.json").read_text())
    state["status"] = "incomplete"
    (out / "manifest.json").write_text(json.dumps(state))
    table = (data / "manifest.csv").read_text()
    (data / "manifest.csv").write_text(table.replace("real/test_001.mp4,real,", "real/test_001.mp4,fake,"))
    shutil.copyfile(data / "real" / "test_002.mp4", data / "real" / "test_000.mp4")
    resumed = cli(scratch, *_run_args(scratch, out))
    if resumed.returncode != 0:
        raise FaultBroken(f"the resume failed (exit {resumed.returncode}): {resumed.stderr.strip()[-300:]}")
    named = [v for v in ("real/test_000", "real/test_001") if f"changed since the interrupted session: {v}"
             in resumed.stderr]
    fresh = scratch / "fresh"
    _run(scratch, fresh)
    row_set = lambda d: sorted((r["video_id"], r["label"], r["status"], round(float(r["score"]), 5) if r["score"] else "")  # noqa: E731
                               for r in score_rows(d))
    fingerprint = lambda d: json.loads((d / "manifest.json").read_text())["dataset"]["fingerprint"]  # noqa: E731
    if row_set(out) != row_set(fresh) or fingerprint(out) != fingerprint(fresh) or len(named) != 2:
        raise FaultBroken(f"resume over changed data: videos named {named}, rows equal to a fresh run: "
                          f"{row_set(out) == row_set(fresh)}, fingerprints equal: {fingerprint(out) == fingerprint(fresh)}"
                          f"; stderr {resumed.stderr.strip()[-300:]!r}")
    return (f"resume named {', '.join(named)} as changed and rescored them; rows and dataset fingerprint equal a "
            "fresh run on the new data")
