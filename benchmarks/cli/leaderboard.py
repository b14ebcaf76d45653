"""`python -m benchmarks leaderboard`: detectors of one or many runs (or entry JSON files) ranked, with significance."""
from __future__ import annotations

import argparse
from pathlib import Path

import benchmarks

from ..metrics.names import DEFAULT_RESAMPLES, METRIC_NAMES
from .arguments import fraction, non_negative_int, seed_int


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("leaderboard", help="rank detectors of runs or entry files by mean perturbed AUC, "
                              "with pairwise significance",
                              description="Rank detectors (from run folders over the same dataset and videos, or "
                              "leaderboard entry JSON files from other machines) by their mean metric over the "
                              "perturbed levels they all have, with clean value, drop, mCE, breaking points and "
                              "paired-bootstrap tests between every two (Holm-corrected). Entries whose protocol or "
                              "dataset fingerprint differ are refused. --out x.json writes one entry per detector "
                              "(docs/leaderboard.md), which this command reads back.")
    p.add_argument("sources", nargs="+", type=Path, metavar="RUN_DIR_OR_JSON",
                   help="run folders, entry JSON files or earlier leaderboard .json files")
    p.add_argument("--out", type=Path, help="write the board to FILE.md, FILE.html or FILE.json (default: print "
                   "the markdown)")
    p.add_argument("--metric", default="auc", choices=METRIC_NAMES, help="metric to rank by (default auc; "
                   "log_loss ranks lowest first)")
    p.add_argument("--bootstrap", type=non_negative_int, default=DEFAULT_RESAMPLES, metavar="N",
                   help=f"paired bootstrap resamples per pair (default {DEFAULT_RESAMPLES})")
    p.add_argument("--seed", type=seed_int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--alpha", type=fraction, default=0.05, help="family-wise error rate after Holm's correction "
                   "(default 0.05)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    for source in args.sources:
        if not source.exists():
            raise FileNotFoundError(f"{source}: no such run folder or entry file")
    _, text = benchmarks.leaderboard(args.sources, out=args.out, metric=args.metric, n_boot=args.bootstrap,
                                     seed=args.seed, alpha=args.alpha)
    print(f"leaderboard: {args.out}" if args.out else text)
    return 0
