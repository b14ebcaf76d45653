"""`python -m benchmarks serve`: the local web app over run folders (docs/serve.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

import benchmarks.serve as web

from ..config import RunConfig
from ..preflight import check_files
from ..serve.settings import DEFAULT_PORT, LOCAL_HOST, MAX_UPLOAD_MB, PORT, UPLOAD_MB
from .arguments import add_weights_arg, csv_list, number, positive_int, weights_map

SERVE_EXTRA = "python -m benchmarks serve needs the `serve` extra: pip install -e \".[serve]\""


def add_parser(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="a local web app: browse runs, their videos and face crops, compare "
                                  "runs, check a video of your own",
                                  description="Serve run folders in the browser (offline: nothing is fetched from "
                                  "the network). Binds 127.0.0.1 unless --host says otherwise.")
    serve.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR", help="run folders to show")
    serve.add_argument("--runs-root", type=Path, metavar="DIR", help="also show every run folder under DIR (default: runs/ when no "
                       "RUN_DIR is given)")
    serve.add_argument("--host", default=LOCAL_HOST, help=f"address to bind (default {LOCAL_HOST}, this machine only; "
                       "any other address is warned about: the app has no login)")
    serve.add_argument("--port", type=number(PORT), default=DEFAULT_PORT,
                       help=f"port, 1-65535 (default {DEFAULT_PORT})")
    serve.add_argument("--max-upload-mb", type=number(UPLOAD_MB), default=MAX_UPLOAD_MB,
                       help=f"size limit of a video uploaded on the check page, in MB (default {MAX_UPLOAD_MB:g})")
    serve.add_argument("--detector", default="meso", type=csv_list,
                       help="detector name or comma list the check page offers (default meso)")
    add_weights_arg(serve, ", for the check page")
    serve.add_argument("--demo-weights", action="store_true",
                       help="the check page may also use detectors with the project's bundled demo weights (trained "
                       "on the synthetic demo data: meaningful on demo videos only)")
    serve.add_argument("--frames", type=positive_int, default=RunConfig.num_frames,
                       help=f"frames sampled per uploaded video, >= 1 (default {RunConfig.num_frames}, as `run`)")
    serve.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    runs_root = args.runs_root if args.runs_root or args.run_dirs else Path("runs")
    for run_dir in args.run_dirs:
        if not run_dir.is_dir():
            raise FileNotFoundError(f"{run_dir}: not a folder (name run folders, e.g. runs/RUN_A)")
    if args.runs_root is not None and not args.runs_root.is_dir():
        raise FileNotFoundError(f"--runs-root {args.runs_root}: not a folder")
    try:
        serve = web.serve
    except ImportError as error:
        raise RuntimeError(f"{SERVE_EXTRA} ({error})") from None
    weights = weights_map(args.weights, args.detector)
    check_files(RunConfig(detectors=list(args.detector), weights=weights))  # files, or shipped names, as `run`
    checker = web.Checker(detector_names=tuple(args.detector), weights=weights, demo_weights=args.demo_weights,
                          config=RunConfig(num_frames=args.frames))
    serve(args.run_dirs, runs_root=runs_root, host=args.host, port=args.port, checker=checker,
          max_upload_mb=args.max_upload_mb)
    return 0
