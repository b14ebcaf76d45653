"""`python -m benchmarks predict VIDEO ...`: is this video fake, and would the verdict survive perturbations?"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import benchmarks
import perturbations

from ..config import RunConfig
from ..metrics.aggregate import AGGREGATIONS
from ..prediction.output import format_table, rows_json, write_outputs
from ..prediction.profile import severity_profiles
from .arguments import (
    add_detector_args,
    add_face_args,
    csv_list,
    detector_options,
    face_settings,
    fraction,
    positive_int,
    seed_int,
    weights_map,
)
from .run import timeout_seconds

DESCRIPTION = ("Score single videos, no dataset needed: P(fake) and the verdict per detector and level, through the "
               "same pipeline, defaults and caches as `run` (so a video's score at `none` equals its score in a run "
               "over a folder that contains it). With --level, the video's score under each level and, per graded "
               "type, the lowest severity at which the verdict flips. A missing, unreadable or corrupt file, or a "
               "video without a face, gets a row with that status; the exit code is then still 0.")
EPILOG = ("Examples:\n  python -m benchmarks predict clip.mp4 --weights MesoInception_DF\n"
          "  python -m benchmarks predict clip.mp4 --weights MesoInception_DF --level GB:1,GB:3,GB:5,JPEG:5 "
          "--out clip-profile\n"
          "  python -m benchmarks predict a.mp4 b.mp4 --weights W.h5 --threshold-from runs/RUN --json > rows.json")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="P(fake) and verdict of single videos, with a robustness profile",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (any format FFmpeg reads)")
    parser.add_argument("--detector", default="meso", type=csv_list, help="detector name or comma list (default meso)")
    add_detector_args(parser)
    parser.add_argument("--demo-weights", action="store_true",
                        help="a detector without --weights uses the project's bundled demo weights (trained on the "
                        "synthetic demo data: meaningful on demo videos only)")
    parser.add_argument("--level", default="none",
                        help="level spec or comma list, as for `run` (default none; `none` is always added): e.g. "
                        "GB:1,GB:2,GB:3,GB:4,GB:5 for a severity curve, df:all for the 35 DeeperForensics levels, heavy")
    parser.add_argument("--levels-file", action="append", default=[], metavar="TOML",
                        help="add the levels defined in a TOML file; repeatable")
    parser.add_argument("--apply-at", choices=["face", "frame"], default="face",
                        help="face (default): perturb the face crops; frame: perturb full frames before face detection")
    parser.add_argument("--df-write-back", choices=list(perturbations.WRITE_BACK_MODES), default="none",
                        help="DeeperForensics types written back as XVID then H.264 (as for `run`); default none")
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=fraction, default=None,
                           help="verdict threshold on P(fake), 0 to 1: fake when P(fake) >= it (default 0.5)")
    threshold.add_argument("--threshold-from", metavar="RUN_DIR",
                           help="use each detector's clean threshold from a finished run folder (Youden's J on its "
                           "`none` scores, in metrics.json); a note names any setting that differs from the run's")
    add_face_args(parser)
    parser.add_argument("--aggregate", choices=list(AGGREGATIONS), default="mean",
                        help="video score from frame P(fake) (default mean, as `run`)")
    parser.add_argument("--seed", type=seed_int, default=0,
                        help="seed of the perturbation parameters, >= 0 (default 0, as `run`); drawn per video id "
                        "and level")
    parser.add_argument("--video-id", action="append", default=None, metavar="ID",
                        help="the video id that seeds a VIDEO's perturbation draws, once per VIDEO in order "
                        "(default: the file name without extension); a run's video_id (e.g. fake/clip) gives that "
                        "run's perturbed scores")
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help="frames per forward pass (default: 8 on CPU, 64 on a GPU)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                        help="inference device (default auto)")
    parser.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                        help="inference arithmetic (default fp32; the others change the scores slightly)")
    parser.add_argument("--detector-timeout", type=timeout_seconds, default=None, metavar="SECONDS",
                        help="longest a detector call may take; its rows then get status detector_error")
    parser.add_argument("--no-score-cache", dest="score_cache", action="store_false",
                        help="score again instead of reusing rows earlier runs computed from identical inputs")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON list of rows {video, detector, level, p_fake, verdict, n_frames, status, "
                        "message, frame_scores} and nothing else on stdout")
    parser.add_argument("--out", metavar="DIR",
                        help="also write predictions.json (the rows), profile.json (thresholds, flip severities) and "
                        "per video and detector a severity figure and frame-score curves (PNG) into DIR")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=main)


def build_config(args: argparse.Namespace) -> RunConfig:
    """Every pipeline setting of the command line as the `RunConfig` a run with the same flags would have."""
    names = args.detector
    return RunConfig(detectors=names, weights=weights_map(args.weights, names), random_init=args.random_init,
                     backbone_weights={k: v for k, v in weights_map(args.backbone_weights, names).items() if v},
                     detector_options=detector_options(args.detector_option, names), apply_at=args.apply_at,
                     df_write_back=args.df_write_back, levels_files=[str(Path(f).resolve()) for f in args.levels_file],
                     num_frames=args.frames, seed=args.seed, batch_size=args.batch_size, aggregate=args.aggregate,
                     faces=face_settings(args), cache_dir=args.cache_dir, device=args.device,
                     precision=args.precision, score_cache=args.score_cache, detector_timeout=args.detector_timeout)


def main(args: argparse.Namespace) -> int:
    if not args.detector:
        raise ValueError("--detector: give at least one detector name")
    if args.video_id is not None and len(args.video_id) != len(args.videos):
        raise ValueError(f"--video-id: give one per VIDEO ({len(args.videos)}), got {len(args.video_id)}")
    config = build_config(args)
    for levels_file in config.levels_files:
        perturbations.load_levels_file(levels_file)
    levels = perturbations.expand(args.level)  # an unknown level fails here, before any model loads
    rows = benchmarks.predict(args.videos, detectors=args.detector, levels=levels, demo_weights=args.demo_weights,
                              threshold=args.threshold, threshold_from=args.threshold_from, config=config,
                              progress=not args.quiet, video_ids=args.video_id)
    profiles = severity_profiles(rows)
    written = write_outputs(rows, profiles, Path(args.out)) if args.out else []
    if args.json:
        print(rows_json(rows))
    else:
        print(format_table(rows, profiles))
        if written:
            print(f"\nwritten to {args.out}: {len(written)} files ({written[0].name}, {written[1].name}, figures)")
    if written and args.json:
        print(f"written to {args.out}: {len(written)} files", file=sys.stderr)
    return 0
