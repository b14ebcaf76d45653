"""Peak memory of a run against the number of sampled frames (not a test; figures depend on the machine).

One 2-minute 1080p clip (a generated demo face, scaled up and looped, 3600 frames at 30 fps) is scored by `meso`
at `none` and `heavy` with 32, 300 and 3600 sampled frames, and at 300 frames with `--smooth 5` (which holds frames
until every box of the track is known). Each run is a fresh process with a fresh face cache; the peak resident
memory is the one the run records in manifest.json (main process; `--workers 1`, so the face stage is in it too).

Usage: python -m tools.bench_memory [--frames 32,300,3600] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

from benchmarks.pipeline.decode import read_frames
from datasets.demo import generate_demo
from tools.machine import describe as machine

CLIP_FRAMES = 3600
FPS = 30


def long_clip(folder: Path, frames: int = CLIP_FRAMES) -> Path:
    """A 1080p H.264 clip of `frames` frames: 48 demo frames played forwards and backwards, encoded as they are
    made (holding 3600 1080p frames would itself take 22 GB)."""
    target = folder / "data" / "real" / "long1080.mp4"
    if target.is_file():
        return target
    demo = generate_demo(folder / "demo", seed=0, n_train=0, n_test=2, frames=48)
    clip = sorted(demo.rglob("*.mp4"))[0]
    loop = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_LINEAR) for f in read_frames(clip, 48).frames]
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(target), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"crf": "23", "preset": "ultrafast"}
        for i in range(frames):
            frame = loop[i % 48] if (i // 48) % 2 == 0 else loop[47 - i % 48]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return target


def measure(data: Path, work: Path, frames: int, smooth: int) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one fresh run."""
    out, cache = work / f"run-{frames}-{smooth}", work / f"cache-{frames}-{smooth}"
    command = [sys.executable, "-m", "benchmarks", "run", "--dataset", "folder", "--data-root", str(data),
               "--detector", "meso", "--random-init", "--level", "heavy", "--frames", str(frames),
               "--smooth", str(smooth), "--workers", "1", "--bootstrap", "0", "--cache-dir", str(cache),
               "--out", str(out), "--fresh", "-q"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"frames={frames}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    execution = json.loads((out / "manifest.json").read_text())["execution"]
    return float(execution["peak_rss_mb"]), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="32,300,3600", help="comma list of sampled frames per video")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep the clip and runs (default: a temp folder)")
    args = parser.parse_args(argv)
    counts = [int(v) for v in args.frames.split(",")]
    with tempfile.TemporaryDirectory(prefix="dfbench-mem-") as tmp:
        work = args.keep or Path(tmp)
        clip = long_clip(work, max(CLIP_FRAMES, *counts))
        print(machine())
        print(f"clip: {clip.name}, 1920x1080, {max(CLIP_FRAMES, *counts)} frames; meso at none + heavy, --workers 1")
        print("| frames | --smooth | peak RSS (MB) | wall (s) |\n|---:|---:|---:|---:|")
        cases = [(n, 1) for n in counts] + ([(300, 5)] if 300 in counts else [])
        for frames, smooth in cases:
            peak, wall = measure(clip.parent.parent, work, frames, smooth)
            print(f"| {frames} | {smooth} | {peak:.0f} | {wall:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
