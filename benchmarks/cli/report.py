"""`python -m benchmarks report`: metrics and report rebuilt from a run's files, or several runs merged."""
from __future__ import annotations

import argparse
from pathlib import Path

import benchmarks

from ..progress import Progress
from .arguments import add_metric_args, seed_int


def add_parser(subparsers) -> None:
    report = subparsers.add_parser("report", help="rebuild a run's report from its scores.csv, or merge several runs",
                            description="Recompute metrics.json from scores.csv and write report.md. With one "
                            "RUN_DIR the report goes into it; with several, a merged comparison goes to --out. "
                            "A scores.csv with a duplicated or malformed line is refused, naming the line.")
    report.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    report.add_argument("--out", type=Path, help="report file or folder (default RUN_DIR/report.<format>, or "
                        "runs/comparison/ for several runs)")
    report.add_argument("--format", choices=["md", "html", "csv", "json"],
                        help="md (default, or from the --out suffix), html (one self-contained file), csv, json")
    add_metric_args(report, defaults=False)
    report.add_argument("--seed", type=seed_int, help="bootstrap seed, >= 0 (default: the run's seed)")
    report.add_argument("-q", "--quiet", action="store_true",
                        help="no progress lines (without it: one line per stage on stderr; stdout names the report)")
    report.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    out = benchmarks.report(args.run_dirs, out=args.out, fmt=args.format, aggregate=args.aggregate,
                     bootstrap=args.bootstrap, reference=args.reference, seed=args.seed,
                     progress=Progress(enabled=not args.quiet))
    print(f"report: {out}")
    return 0
