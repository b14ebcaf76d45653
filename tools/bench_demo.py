"""Wall time of the README's demo command and of generating the demo data, over repeats (not a test; machines are
noisy, so every figure is a min-max range with the machine it was measured on).

Usage: python -m tools.bench_demo [--frames 32] [--repeats 3]
Target (issue 2): the cold demo run finishes in under 3 minutes on 2 CPU cores.

Measures, each `--repeats` times: generating the demo dataset into an empty folder (what a fresh machine pays once),
the demo run (`meso` at `none` and `heavy`) with an empty face cache (cold) and again on the cached faces (warm).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.config import RunConfig
from benchmarks.runner import run
from datasets.demo import generate_demo
from tools.machine import describe

TARGET_SECONDS = 180.0


def timed_run(frames: int, data_root: Path, cache_dir: Path, out: Path) -> float:
    start = time.perf_counter()
    run(RunConfig(detectors=["meso"], levels=["heavy"], num_frames=frames, data_root=str(data_root),
                  cache_dir=str(cache_dir), out=str(out)), progress=False)
    return time.perf_counter() - start


def timed_generation(root: Path) -> float:
    start = time.perf_counter()
    generate_demo(root)
    return time.perf_counter() - start


def span(values: list[float]) -> str:
    return f"{min(values):6.1f}-{max(values):6.1f} s" if len(values) > 1 else f"{values[0]:6.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(describe(), flush=True)
    generation, cold, warm = [], [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            generation.append(timed_generation(tmp_path / "demo"))
            cold.append(timed_run(args.frames, tmp_path / "demo", tmp_path / "cache", tmp_path / "cold"))
            warm.append(timed_run(args.frames, tmp_path / "demo", tmp_path / "cache", tmp_path / "warm"))
        print(f"  repeat {repeat + 1}: generation {generation[-1]:.1f} s, cold {cold[-1]:.1f} s, "
              f"warm {warm[-1]:.1f} s", flush=True)
    print(f"demo data generation (80 clips):  {span(generation)}")
    print(f"demo run, meso, none+heavy, {args.frames} frames/video (data already generated), over {args.repeats} "
          "repeats:")
    print(f"  cold face cache: {span(cold)}   target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if max(cold) < TARGET_SECONDS else 'MISSED'}")
    print(f"  warm face cache: {span(warm)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
