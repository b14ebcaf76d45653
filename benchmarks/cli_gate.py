"""Regression gate: `baseline` stores a run's metrics and per-video scores; `check` compares a new run with it.

Exit codes of `check`: 0 every metric within tolerance, 1 a regression (or a detector/level missing from the
run), 2 bad input. The markdown verdict table is printed and appended to $GITHUB_STEP_SUMMARY when set.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import bootstrap as boot
from . import results
from .metrics import AGGREGATIONS, LOWER_IS_BETTER, binary_metrics, rescore_rows, scored_arrays

BASELINE_SCHEMA = 1
GATE_METRICS = ("auc", "ap", "accuracy", "log_loss")
DEFAULT_MAX_DROP = 0.02


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


def _run_rows(run_dir: Path, aggregate: str) -> tuple[list[dict], list[str], list[str]]:
    run_dir = Path(run_dir)
    if not (run_dir / results.SCORES_FILE).is_file():
        raise FileNotFoundError(f"{run_dir}: no {results.SCORES_FILE} (not a run folder)")
    rows = rescore_rows(results.read_scores(run_dir), aggregate)
    if not rows:
        raise ValueError(f"{run_dir}: {results.SCORES_FILE} has no rows")
    return rows, list(dict.fromkeys(r["detector"] for r in rows)), list(dict.fromkeys(r["level"] for r in rows))


def build_baseline(run_dir: Path, aggregate: str = "mean") -> dict:
    """Metrics per detector x level plus per-video (label, score) for a paired test later."""
    rows, detectors, levels = _run_rows(run_dir, aggregate)
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
    return {"schema": BASELINE_SCHEMA, "source_run": str(run_dir), "aggregate": aggregate,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "detectors": entries}


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
    bad = change.excludes_zero and _worse_by(metric, change.estimate) > 0
    return not bad, f"paired 95% CI [{change.lo:+.4f}, {change.hi:+.4f}] on {len(common)} videos"


def check(run_dir: Path, baseline: dict, metrics: list[str], mode: str = "absolute",
          tolerance: float = DEFAULT_MAX_DROP, n_boot: int = boot.DEFAULT_RESAMPLES, seed: int = 0,
          only_levels: list[str] | None = None, two_sided: bool = False) -> list[Verdict]:
    """One verdict per detector x level x metric of the baseline (restricted to `only_levels` when given)."""
    rows, _, _ = _run_rows(run_dir, baseline.get("aggregate", "mean"))
    verdicts = []
    for det, levels in baseline["detectors"].items():
        for lv, base in levels.items():
            if only_levels and lv not in only_levels:
                continue
            ids, y, p = scored_arrays(rows, det, lv)
            if not ids:
                missing = "detector" if not any(r["detector"] == det for r in rows) else "level"
                verdicts.append(Verdict(det, lv, "*", None, None, None, False,
                                        f"{missing} missing from the run (no scored videos)"))
                continue
            now = binary_metrics(y, p)
            for metric in metrics:
                ok, reason = judge(metric, base, ids, y, p, now[metric], mode, tolerance, n_boot, seed, two_sided)
                before = base.get(metric)
                change = None if before is None or now[metric] is None else now[metric] - before
                verdicts.append(Verdict(det, lv, metric, before, now[metric], change, ok, reason))
    return verdicts


def verdict_table(verdicts: list[Verdict], title: str) -> str:
    failed = sum(not v.ok for v in verdicts)
    head = [f"### {title}: {'FAILED' if failed else 'passed'} ({failed} of {len(verdicts)} checks failed)", "",
            "| detector | level | metric | baseline | now | change | verdict |", "|---|---|---|---:|---:|---:|---|"]
    return "\n".join(head + [v.row() for v in verdicts]) + "\n"


def cmd_baseline(args) -> int:
    if args.aggregate not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {args.aggregate!r}")
    data = build_baseline(args.run_dir, args.aggregate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results.write_json(args.out, data)
    n = sum(len(v) for v in data["detectors"].values())
    print(f"baseline: {args.out} ({n} detector x level entries from {args.run_dir})")
    return 0


def cmd_check(args) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in GATE_METRICS]
    if unknown or not metrics:
        raise ValueError(f"--metrics: unknown {', '.join(unknown) or '(empty)'} (choose from {', '.join(GATE_METRICS)})")
    if args.significant:
        mode, tolerance, rule = "significant", 0.0, "paired bootstrap change excludes zero (worse)"
    elif args.max_relative_drop is not None:
        mode, tolerance, rule = "relative", args.max_relative_drop, f"max relative drop {args.max_relative_drop}"
    else:
        tolerance = DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
        mode, rule = "absolute", f"max drop {tolerance}"
    only = [v.strip() for v in args.levels.split(",") if v.strip()] if args.levels else None
    if args.two_sided:
        if mode == "significant":
            raise ValueError("--two-sided goes with --max-drop or --max-relative-drop, not --significant")
        rule += ", two-sided"
    verdicts = check(args.run_dir, load_baseline(args.baseline), metrics, mode, tolerance, args.resamples, args.seed,
                     only, two_sided=args.two_sided)
    table = verdict_table(verdicts, f"Robustness regression check of `{args.run_dir}` against `{args.baseline}` "
                                    f"({rule})")
    print(table)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(table + "\n")
    return 1 if any(not v.ok for v in verdicts) else 0


def add_parser(subparsers) -> None:
    base = subparsers.add_parser("baseline", help="store a run's metrics and per-video scores as a regression baseline",
                                 description="Write per detector x level the metrics and per-video scores of RUN_DIR.")
    base.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    base.add_argument("--out", type=Path, required=True, help="baseline JSON file to write")
    base.add_argument("--aggregate", default="mean", help=f"video score from frames: {', '.join(AGGREGATIONS)}")
    base.set_defaults(handler=cmd_baseline)

    chk = subparsers.add_parser("check", help="fail (exit 1) when a run is worse than a baseline",
                                description="Compare RUN_DIR with a baseline; exit 0 ok, 1 regression or missing "
                                "detector/level, 2 bad input. Default tolerance: --max-drop 0.02.")
    chk.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    chk.add_argument("--baseline", type=Path, required=True)
    rule = chk.add_mutually_exclusive_group()
    rule.add_argument("--max-drop", type=float, help=f"largest allowed absolute worsening (default {DEFAULT_MAX_DROP})")
    rule.add_argument("--max-relative-drop", type=float, help="largest allowed worsening as a fraction of the baseline")
    rule.add_argument("--significant", action="store_true",
                      help="fail only when the paired bootstrap interval of the change excludes zero (worse)")
    chk.add_argument("--two-sided", action="store_true",
                     help="also fail when a metric IMPROVES by more than the tolerance: catches a perturbation that "
                     "silently stopped perturbing (used by the project's own CI)")
    chk.add_argument("--metrics", default="auc,ap,accuracy", help="comma list of auc, ap, accuracy, log_loss")
    chk.add_argument("--levels", help="check only these baseline levels (comma list; e.g. none,heavy when the run "
                     "scored fewer levels than the baseline); a listed level missing from the run still fails")
    chk.add_argument("--resamples", type=int, default=boot.DEFAULT_RESAMPLES, help="bootstrap resamples (--significant)")
    chk.add_argument("--seed", type=int, default=0, help="bootstrap seed (--significant)")
    chk.set_defaults(handler=cmd_check)
