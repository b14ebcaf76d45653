"""Command line: `python -m benchmarks COMMAND` (see README). Every subcommand is a module of this package with
`add_parser(subparsers)`, which sets the handler; `COMMANDS` lists them explicitly, in the order `--help` shows.

Building the parser imports no torch and no scikit-learn: each handler reaches the library through the lazy
package face (`benchmarks.run`, `benchmarks.report`, `benchmarks.train`), so mistakes in arguments are reported
at once.
"""
from __future__ import annotations

import argparse
import sys
import traceback

from . import cache, datasets, gallery, gate, leaderboard, levels, listing, predict, report, run, serve, train, weights
from .stopping import StopSignals

EPILOG = "Examples:\n  python -m benchmarks run --detector meso --level heavy\n" \
         "  python -m benchmarks run --dataset folder --data-root DIR --weights MesoInception_DF --level all\n" \
         "  python -m benchmarks report runs/RUN_A runs/RUN_B --out comparison.md\n" \
         "  python -m benchmarks predict my_video.mp4 --weights MesoInception_DF --level GB:1,GB:3,GB:5"

# In the order `--help` lists them; `gate` adds `baseline` and `check`.
COMMANDS = (run, predict, listing, report, leaderboard, cache, datasets, gallery, levels, gate, train, weights, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Robustness benchmark for deepfake "
                                     "video detectors: AUC, AP and accuracy under perturbations.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="on an error, print the full traceback (of a plug-in detector's failure too) before "
                        "the one-line message")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The exit code: 0, 2 for a bad input (one `error:` line), 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `run --protocol` tells typed flags from defaults
    code = 1
    with StopSignals() as stop:  # SIGTERM and SIGHUP stop a run like Ctrl-C
        code = _handle(args)
    return stop.exit_code(code)


def _handle(args: argparse.Namespace) -> int:
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return 2

