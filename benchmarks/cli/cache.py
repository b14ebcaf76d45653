"""`python -m benchmarks cache info|clear`: where the face-crop cache is and how big; empty it."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..inference.score_cache import ScoreCache
from ..pipeline.face_cache import FaceCache
from ..pipeline.perturbed_cache import PerturbedCache


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("cache", help="show the size of the face-crop, score and perturbed-crop caches, "
                                   "or clear them",
                                   description="The face-crop cache holds context crops keyed by video content "
                                   "and face settings; a changed setting never returns stale crops. The score cache "
                                   "beside it holds rows of earlier runs, keyed by everything a score depends on; "
                                   "the perturbed-crop cache (`run --cache-perturbed`) holds each level's crops. "
                                   "Every entry holds its key and a checksum, checked before use: a swapped, damaged "
                                   "or implausible entry is discarded and computed again; a read-only cache is used "
                                   "without storing new entries.")
    parser.add_argument("action", choices=["info", "clear"])
    parser.add_argument("--cache-dir", type=Path, help="cache root (default: $DFBENCH_CACHE_DIR or the user cache dir)")
    parser.set_defaults(handler=run_cache_command)


def run_cache_command(args: argparse.Namespace) -> int:
    cache = FaceCache(args.cache_dir)
    scores = ScoreCache(cache.root)
    perturbed = PerturbedCache(cache.root)
    if args.action == "clear":
        freed = cache.size_bytes() + scores.size_bytes() + perturbed.size_bytes()
        cache.clear()
        scores.clear()
        perturbed.clear()
        print(f"cleared {cache.root}: {freed / 1e6:.1f} MB freed")
        return 0
    entries = sum(1 for _ in cache.faces_dir.rglob("*.npz")) if cache.faces_dir.is_dir() else 0
    print(f"face cache: {cache.faces_dir}\n  entries: {entries}\n  size: {cache.size_bytes() / 1e6:.1f} MB")
    print(f"score cache: {scores.dir}\n  entries: {scores.entries()}\n  size: {scores.size_bytes() / 1e6:.1f} MB")
    print(f"perturbed-crop cache: {perturbed.dir}\n  entries: {perturbed.entries()}\n"
          f"  size: {perturbed.size_bytes() / 1e6:.1f} MB")
    return 0
