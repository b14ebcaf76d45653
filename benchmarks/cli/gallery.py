"""`python -m benchmarks gallery`: one face crop under several perturbation levels, as a labelled PNG grid."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

import datasets
import perturbations

from ..config import FaceSettings
from ..pipeline.face_cache import FaceCache
from ..pipeline.face_detectors import make_detector
from .arguments import non_negative_int, positive_int, seed_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("gallery", help="PNG grid of one face crop under perturbation levels",
                              description="Take one video's cached face crop (the face pipeline of `run`), apply "
                              "each level with the run's seeding, and write a labelled PNG grid of what the "
                              "detector sees (the central face crop).")
    p.add_argument("--level", action="append", default=[], metavar="SPEC",
                   help="level spec, repeatable or comma list (heavy, GB:3, df:3, df:mix, ...); default heavy")
    p.add_argument("--levels-file", action="append", default=[], metavar="TOML", help="extra levels file(s)")
    p.add_argument("--dataset", default="demo", help="dataset name (default demo)")
    p.add_argument("--data-root", help="dataset folder")
    p.add_argument("--split", default="test", help="dataset split (default test)")
    p.add_argument("--video", type=non_negative_int, default=0, metavar="N", help="index of the video in the split (default 0)")
    p.add_argument("--frame", type=non_negative_int, default=0, help="which sampled frame to show (default 0)")
    p.add_argument("--frames", type=positive_int, default=8, help="frames sampled (codecs/temporal steps see them; default 8)")
    p.add_argument("--seed", type=seed_int, default=0, help="run seed (default 0: the pixels of a run with --seed 0)")
    p.add_argument("--columns", type=positive_int, help="grid columns (default ceil(sqrt(levels)))")
    p.add_argument("--cache-dir", help="face-crop cache (default as for `run`)")
    p.add_argument("--out", type=Path, default=Path("gallery.png"), help="PNG to write (default gallery.png)")
    p.set_defaults(handler=cmd_gallery)
    return p


def cmd_gallery(args) -> int:
    for path in args.levels_file:
        perturbations.load_levels_file(path)
    specs = ",".join(args.level) or "heavy"
    perturbations.expand(specs)  # validate before any decoding
    items = list(datasets.open(args.dataset, args.data_root, split=args.split))
    if not 0 <= args.video < len(items):
        raise ValueError(f"--video {args.video}: the {args.split} split of {args.dataset!r} has {len(items)} videos")
    item = items[args.video]
    settings = FaceSettings()
    cache = FaceCache(args.cache_dir)
    crops = cache.get_or_extract(item.path, args.frames, settings,
                                 detector=make_detector(settings))
    if not crops.ok:
        raise RuntimeError(f"{item.video_id}: no face crop ({crops.status}: {crops.message})")
    start = min(max(args.frame, 0), len(crops.crops) - 1)
    grid = perturbations.make_gallery(crops.crops[start:], specs, seed=args.seed, video_id=item.video_id,
                                      label=item.label, columns=args.columns, inner=settings.context)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), np.ascontiguousarray(grid[..., ::-1])):
        raise OSError(f"could not write {args.out}")
    print(f"gallery: {args.out} ({item.video_id}, {grid.shape[1]}x{grid.shape[0]})", file=sys.stderr)
    return 0
