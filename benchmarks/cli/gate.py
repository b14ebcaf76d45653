"""`baseline` and `check`: the robustness regression gate on the command line.

Exit codes of `check`: 0 every metric within tolerance, 1 a regression (or a baseline level missing from the
run), 2 bad input, including a check that would check nothing or skip what was asked for (an empty baseline, a
`--levels` name or metric the baseline lacks, a baseline detector absent from the run). The markdown verdict table is printed and appended to $GITHUB_STEP_SUMMARY when set. A run whose protocol
(frames, sampling, faces, weights, data, levels) differs from the baseline's is refused (exit 2) naming the fields,
unless --allow-protocol-mismatch, which compares with a warning.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import benchmarks
from reports.run_files import write_json

from ..metrics.aggregate import AGGREGATIONS
from ..metrics.names import DEFAULT_MAX_DROP, DEFAULT_RESAMPLES, GATE_METRICS, did_you_mean
from .arguments import fraction, non_negative_float, positive_int, seed_int


def cmd_baseline(args) -> int:
    if args.aggregate not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {args.aggregate!r}")
    data = benchmarks.build_baseline(args.run_dir, args.aggregate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, data)
    n = sum(len(v) for v in data["detectors"].values())
    print(f"baseline: {args.out} ({n} detector x level entries from {args.run_dir})")
    return 0


def cmd_check(args) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in GATE_METRICS]
    if unknown or not metrics:
        hint = did_you_mean(unknown[0], list(GATE_METRICS)) if unknown else ""
        raise ValueError(f"--metrics: unknown {', '.join(unknown) or '(empty)'}{hint} (choose from "
                         f"{', '.join(GATE_METRICS)})")
    if args.significant:
        mode, tolerance, rule = "significant", 0.0, "paired bootstrap change excludes zero (worse)"
    elif args.max_relative_drop is not None:
        mode, tolerance, rule = "relative", args.max_relative_drop, f"max relative drop {args.max_relative_drop}"
    else:
        tolerance = DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
        mode, rule = "absolute", f"max drop {tolerance}"
    only = [v.strip() for v in args.levels.split(",") if v.strip()] if args.levels is not None else None
    if only == []:  # `--levels ""` would otherwise mean every level
        raise ValueError("--levels: empty (give a comma list of baseline levels, or leave the option out)")
    if args.two_sided:
        if mode == "significant":
            raise ValueError("--two-sided goes with --max-drop or --max-relative-drop, not --significant")
        rule += ", two-sided"
    baseline = benchmarks.load_baseline(args.baseline)
    warning = protocol_warning(args, baseline)
    verdicts = benchmarks.check(args.run_dir, baseline, metrics, mode, tolerance,
                                args.resamples, args.seed, only, two_sided=args.two_sided,
                                baseline_name=f"baseline {args.baseline}",
                                allow_protocol_mismatch=args.allow_protocol_mismatch)
    table = benchmarks.verdict_table(verdicts, f"Robustness regression check of `{args.run_dir}` against `{args.baseline}` "
                                    f"({rule})")
    if warning:
        table = f"**{warning}**\n\n{table}"
    print(table)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(table + "\n")
    return 1 if any(not v.ok for v in verdicts) else 0


def protocol_warning(args, baseline: dict) -> str:
    """The loud line (on stderr, and atop the verdict table) when the protocols cannot be compared or differ and
    --allow-protocol-mismatch was given; '' when they agree. A difference without the flag is refused by `check`."""
    differing = benchmarks.protocol_differences(args.run_dir, baseline)
    if differing is None:
        warning = (f"WARNING: {args.baseline} records no protocol (written before baselines did): frames, sampling, "
                   "faces, weights and data of the run cannot be compared with it; write it again with `baseline`")
    elif differing and args.allow_protocol_mismatch:
        warning = ("WARNING: " + benchmarks.protocol_mismatch(args.run_dir, f"baseline {args.baseline}", differing)
                   .split("; the comparison")[0] + "; compared anyway (--allow-protocol-mismatch)")
    else:
        return ""
    print(warning, file=sys.stderr)
    return warning


def add_parser(subparsers) -> None:
    base = subparsers.add_parser("baseline", help="store a run's metrics and per-video scores as a regression baseline",
                                 description="Write per detector x level the metrics and per-video scores of RUN_DIR.")
    base.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    base.add_argument("--out", type=Path, required=True, help="baseline JSON file to write")
    base.add_argument("--aggregate", default="mean", help=f"video score from frames: {', '.join(AGGREGATIONS)}")
    base.set_defaults(handler=cmd_baseline)

    chk = subparsers.add_parser("check", help="fail (exit 1) when a run is worse than a baseline",
                                description="Compare RUN_DIR with a baseline; exit 0 ok, 1 regression or a baseline "
                                "level missing from the run, 2 bad input (also an empty baseline, a --levels name or "
                                "metric the baseline lacks, or a baseline detector absent from the run: a check of "
                                "nothing never passes, and a run whose protocol differs from the one the baseline "
                                "records, naming the fields). Default tolerance: --max-drop 0.02.")
    chk.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    chk.add_argument("--baseline", type=Path, required=True)
    rule = chk.add_mutually_exclusive_group()
    rule.add_argument("--max-drop", type=fraction,
                      help=f"largest allowed absolute worsening, 0 to 1 (default {DEFAULT_MAX_DROP})")
    rule.add_argument("--max-relative-drop", type=non_negative_float, help="largest allowed worsening as a fraction of the baseline")
    rule.add_argument("--significant", action="store_true",
                      help="fail only when the paired bootstrap interval of the change excludes zero (worse)")
    chk.add_argument("--two-sided", action="store_true",
                     help="also fail when a metric IMPROVES by more than the tolerance: catches a perturbation that "
                     "silently stopped perturbing (used by the project's own CI)")
    chk.add_argument("--metrics", default="auc,ap,accuracy", help="comma list of auc, ap, accuracy, log_loss")
    chk.add_argument("--levels", help="check only these baseline levels (comma list; e.g. none,heavy when the run "
                     "scored fewer levels than the baseline); a listed level missing from the run still fails")
    chk.add_argument("--allow-protocol-mismatch", action="store_true",
                     help="compare even when the run's protocol (frames, sampling, face settings, weights sha256, "
                     "dataset, seed, level steps) differs from the one the baseline records: a loud warning instead "
                     "of the refusal (exit 2) naming the differing fields")
    chk.add_argument("--resamples", type=positive_int, default=DEFAULT_RESAMPLES, help="bootstrap resamples (--significant)")
    chk.add_argument("--seed", type=seed_int, default=0, help="bootstrap seed, >= 0 (--significant)")
    chk.set_defaults(handler=cmd_check)
