"""The regression gate's judgement: a baseline is a run's metrics and per-video scores; `check` compares a new run
with it, one `Verdict` per detector x level x metric (the CLI's `baseline` and `check` print and exit by them)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from reports.run_files import MANIFEST_FILE, SCORES_FILE, read_json, read_scores

from ..run_folder.manifest import protocol_fields
from . import bootstrap as boot
from .aggregate import rescore_rows
from .binary import binary_metrics, scored_arrays
from .names import DEFAULT_MAX_DROP, DEFAULT_RESAMPLES, GATE_METRICS, LOWER_IS_BETTER, did_you_mean

BASELINE_SCHEMA = 1


@dataclass
class Verdict:
    detector: str
    level: str
    metric: str
    baseline: float | None
    now: float | None
    change: float | None
    ok: bool
    reason: str

    def row(self) -> str:
        f = lambda v, s="": "n/a" if v is None else f"{v:{s}.4f}"  # noqa: E731
        return (f"| {self.detector} | {self.level} | {self.metric} | {f(self.baseline)} | {f(self.now)} | "
                f"{f(self.change, '+')} | {'ok' if self.ok else '**FAIL**'}: {self.reason} |")


def run_rows(run_dir: Path, aggregate: str) -> tuple[list[dict], list[str], list[str]]:
    run_dir = Path(run_dir)
    if not (run_dir / SCORES_FILE).is_file():
        raise FileNotFoundError(f"{run_dir}: no {SCORES_FILE} (not a run folder)")
    rows = rescore_rows(read_scores(run_dir), aggregate)
    if not rows:
        raise ValueError(f"{run_dir}: {SCORES_FILE} has no rows")
    return rows, list(dict.fromkeys(r["detector"] for r in rows)), list(dict.fromkeys(r["level"] for r in rows))


def build_baseline(run_dir: Path, aggregate: str = "mean") -> dict:
    """Metrics per detector x level plus per-video (label, score) for a paired test later."""
    rows, detectors, levels = run_rows(run_dir, aggregate)
    entries: dict = {}
    for det in detectors:
        for lv in levels:
            ids, y, p = scored_arrays(rows, det, lv)
            if not len(ids):
                continue
            m = binary_metrics(y, p)
            entries.setdefault(det, {})[lv] = {
                "n_scored": len(ids), **{k: m[k] for k in GATE_METRICS},
                "videos": {v: [int(label), float(score)] for v, label, score in zip(ids, y, p)}}
    manifest = Path(run_dir) / MANIFEST_FILE
    protocol = {"protocol": protocol_fields(read_json(manifest))} if manifest.is_file() else {}
    return {"schema": BASELINE_SCHEMA, "source_run": str(run_dir), "aggregate": aggregate,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **protocol, "detectors": entries}


def protocol_differences(run_dir: Path, baseline: dict) -> list[str] | None:
    """`name (baseline X, run Y)` for each protocol field of the baseline the run differs in (frames, sampling,
    faces.*, weights.*, dataset.*, level.* of the levels both have, ...), [] when none does; None when the baseline
    records no protocol (written before baselines did). A field the run's manifest does not record (a run written
    before it was recorded) cannot be compared and is left out. A folder without a manifest is not a run folder."""
    manifest = Path(run_dir) / MANIFEST_FILE
    if not manifest.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no {MANIFEST_FILE})")
    recorded = baseline.get("protocol")
    if not isinstance(recorded, dict):
        return None
    now = protocol_fields(read_json(manifest))
    return [f"{name} (baseline {_short(before)}, run {_short(now[name])})" for name, before in recorded.items()
            if name in now and now[name] != before]


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:16] + "..." + text[-8:]


def load_baseline(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("schema") != BASELINE_SCHEMA or "detectors" not in data:
        raise ValueError(f"{path}: not a baseline file of this tool (schema {BASELINE_SCHEMA})")
    return data


def _worse_by(metric: str, change: float) -> float:
    """How much worse (positive = worse) a signed change is, for the metric's direction."""
    return change if metric in LOWER_IS_BETTER else -change


def judge(metric: str, base: dict, ids: list[str], y: np.ndarray, p: np.ndarray, now: float | None, mode: str,
          tolerance: float, n_boot: int, seed: int, two_sided: bool = False) -> tuple[bool, str]:
    before = base.get(metric)
    if before is None:
        return True, "undefined in baseline"
    if now is None:
        return False, "undefined now"
    worse = abs(now - before) if two_sided else _worse_by(metric, now - before)
    if two_sided and mode in ("absolute", "relative"):  # a perturbation that stopped hurting is a bug too
        limit = tolerance if mode == "absolute" else tolerance * abs(before)
        return worse <= limit + 1e-12, f"changed by {worse:.4f} (max {limit:.4f} either way)"
    if mode == "absolute":
        return worse <= tolerance + 1e-12, f"worse by {max(worse, 0.0) + 0.0:.4f} (max {tolerance})"
    if mode == "relative":
        limit = tolerance * abs(before)
        return worse <= limit + 1e-12, f"worse by {max(worse, 0.0) / abs(before) if before else 0.0:.1%} (max {tolerance:.0%})"
    videos = base.get("videos", {})
    common = [i for i, v in enumerate(ids) if v in videos]
    if not common:
        return False, "no videos in common with the baseline"
    yc = y[common]
    if np.any(yc != np.array([videos[ids[i]][0] for i in common])):
        raise ValueError("labels differ between the run and the baseline for the same video ids")
    pb = np.array([videos[ids[i]][1] for i in common])
    change = boot.paired_change(yc, pb, p[common], n_boot, seed, metrics=(metric,))[metric]
    if change.lo is None:
        return True, f"no interval ({len(common)} common videos)"
    bad = change.excludes_zero and _worse_by(metric, change.estimate) > boot.ZERO_TOLERANCE
    return not bad, f"paired 95% CI [{change.lo:+.4f}, {change.hi:+.4f}] on {len(common)} videos"


def gate_scope(baseline: dict, run_detectors: list[str], metrics: list[str], only_levels: list[str] | None,
               name: str = "the baseline", run_name: str = "the run") -> list[tuple[str, str, dict]]:
    """The (detector, level, baseline entry) triples a check compares; a ValueError naming what is wrong when it
    would compare nothing or skip what was asked for, so a typo or an empty baseline never passes as '0 of 0
    checks failed': an empty baseline, a --levels name or a metric the baseline lacks, a detector not in the run."""
    entries = {det: levels for det, levels in baseline["detectors"].items() if levels}
    if not entries:
        raise ValueError(f"{name} has no detector x level entries: nothing to check")
    known_levels = list(dict.fromkeys(lv for levels in entries.values() for lv in levels))
    for lv in only_levels or []:
        if lv not in known_levels:
            raise ValueError(f"--levels: {name} has no level {lv!r}{did_you_mean(lv, known_levels)}; "
                             f"its levels: {', '.join(known_levels)}")
    absent = [det for det in entries if det not in run_detectors]
    if absent:
        hint = did_you_mean(absent[0], run_detectors) if len(absent) == 1 else ""
        raise ValueError(f"detector(s) {', '.join(absent)} of {name} not in {run_name}{hint}; it has "
                         f"{', '.join(run_detectors)}")
    scope = [(det, lv, base) for det, levels in entries.items() for lv, base in levels.items()
             if not only_levels or lv in only_levels]
    for det, lv, base in scope:
        lacking = [m for m in metrics if m not in base]
        if lacking:
            stored = [k for k in base if k not in ("n_scored", "videos")]
            raise ValueError(f"{name} has no metric {lacking[0]!r} for {det} x {lv}"
                             f"{did_you_mean(lacking[0], stored)}; it holds {', '.join(stored) or 'none'}")
    return scope


def check(run_dir: Path, baseline: dict, metrics: list[str], mode: str = "absolute",
          tolerance: float = DEFAULT_MAX_DROP, n_boot: int = DEFAULT_RESAMPLES, seed: int = 0,
          only_levels: list[str] | None = None, two_sided: bool = False,
          baseline_name: str = "the baseline", allow_protocol_mismatch: bool = False) -> list[Verdict]:
    """One verdict per detector x level x metric of the baseline (restricted to `only_levels` when given); a
    ValueError when that would be nothing or would skip what was asked for (`gate_scope`), or when the run's
    protocol differs from the baseline's (`protocol_differences`) unless `allow_protocol_mismatch`."""
    rows, run_detectors, _ = run_rows(run_dir, baseline.get("aggregate", "mean"))
    differing = protocol_differences(run_dir, baseline)
    if differing and not allow_protocol_mismatch:
        raise ValueError(protocol_mismatch(run_dir, baseline_name, differing))
    if not metrics:
        raise ValueError("no metric to check")
    verdicts = []
    for det, lv, base in gate_scope(baseline, run_detectors, metrics, only_levels, baseline_name, f"run {run_dir}"):
        ids, y, p = scored_arrays(rows, det, lv)
        if not ids:  # the detector is in the run (gate_scope), this level has no scored video: a regression
            verdicts.append(Verdict(det, lv, "*", None, None, None, False, "level missing from the run (no scored videos)"))
            continue
        now = binary_metrics(y, p)
        for metric in metrics:
            ok, reason = judge(metric, base, ids, y, p, now[metric], mode, tolerance, n_boot, seed, two_sided)
            before = base.get(metric)
            change = None if before is None or now[metric] is None else now[metric] - before
            verdicts.append(Verdict(det, lv, metric, before, now[metric], change, ok, reason))
    return verdicts


def protocol_mismatch(run_dir: Path, baseline_name: str, differing: list[str]) -> str:
    """One line: the run and the baseline measured different things, and which fields say so."""
    return (f"run {run_dir} and {baseline_name} differ in protocol: {'; '.join(differing)}; the comparison would "
            "measure the change of protocol, not of the detector (pass --allow-protocol-mismatch to compare anyway)")


def verdict_table(verdicts: list[Verdict], title: str) -> str:
    failed = sum(not v.ok for v in verdicts)
    head = [f"### {title}: {'FAILED' if failed else 'passed'} ({failed} of {len(verdicts)} checks failed)", "",
            "| detector | level | metric | baseline | now | change | verdict |", "|---|---|---|---:|---:|---:|---|"]
    return "\n".join(head + [v.row() for v in verdicts]) + "\n"
