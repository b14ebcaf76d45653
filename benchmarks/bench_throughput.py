"""Throughput per stage and for whole runs, with 1 and N face-stage workers (a script, not a test).

Stages, each timed sequentially in this process without a face cache, so their shares add up:
decode only (the floor: frames must be decoded whatever else happens), decode + face detection and crop,
face-stage perturbation per level, detector inference; then whole runs (`runner.run`, fresh cache) with
`--workers 1` and with the core count, which overlaps the face stage with inference.

Usage: python -m benchmarks.bench_throughput [--short] [--frames 32] [--data DIR] [--no-real] [--no-generated]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
LEVELS = ["none", "flip", "heavy"]


@dataclass
class StageTimes:
    """Seconds per stage over one video set; `levels` is the perturbation time per level."""

    name: str
    videos: int
    decode: float = 0.0
    faces: float = 0.0
    levels: dict[str, float] = field(default_factory=dict)
    inference: float = 0.0
    runs: dict[str, float] = field(default_factory=dict)  # "workers=N" -> wall seconds of a whole run
    peak_rss_mb: dict[str, tuple[float, float]] = field(default_factory=dict)  # run -> (main, largest worker)


def real_videos(root: Path) -> list[tuple[Path, str]]:
    """(path, label) of the FF++ c23 and DFDC samples; labels from folder names / DFDC metadata."""
    found: list[tuple[Path, str]] = []
    for path in sorted((root / "ffpp").rglob("*.mp4")):
        found.append((path, "real" if "original_sequences" in path.parts else "fake"))
    labels: dict[str, str] = {}
    for meta in (root / "dfdc").rglob("*metadata.json"):
        try:
            labels.update({k: v.get("label", "FAKE").lower() for k, v in json.loads(meta.read_text()).items()})
        except (OSError, ValueError, AttributeError):
            continue
    for path in sorted((root / "dfdc").rglob("*.mp4")):
        found.append((path, labels.get(path.name, "fake")))
    return found


def generated_videos(folder: Path, count: int, frames: int) -> list[tuple[Path, str]]:
    """1080p clips: small demo clips (with faces CenterFace finds) scaled up to 1920x1080 and re-encoded."""
    from benchmarks.video import read_frames, write_video
    from datasets.demo import generate_demo

    demo = generate_demo(folder / "demo", seed=0, n_train=0, n_test=count, frames=frames)
    clips = sorted(demo.rglob("*.mp4"))[:count]
    out = []
    for i, clip in enumerate(clips):
        sample = read_frames(clip, frames)
        big = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_LINEAR) for f in sample.frames]
        label = "real" if "real" in clip.parts else "fake"
        out.append((write_video(folder / f"hd_{i}.mp4", big, fps=25), label))
    return out


def time_stages(name: str, videos: list[tuple[Path, str]], frames: int) -> StageTimes:
    """Each stage over all videos, sequentially in this process (no cache)."""
    import perturbations
    from benchmarks.faces import FaceSettings, extract_faces, inner_crop, make_detector
    from benchmarks.runner import predict_frames
    import detectors

    settings = FaceSettings()
    face_detector = make_detector(settings)  # model loading is not timed
    model = detectors.create("meso", random_init=True)
    times = StageTimes(name, len(videos), levels={lvl: 0.0 for lvl in LEVELS})
    from benchmarks.video import read_frames
    for path, _ in videos:
        start = time.perf_counter()
        read_frames(path, frames)
        times.decode += time.perf_counter() - start
        start = time.perf_counter()
        crops = extract_faces(path, frames, settings, face_detector)
        times.faces += time.perf_counter() - start
        if not crops.ok:
            continue
        for lvl in LEVELS:
            level = perturbations.get(lvl)
            start = time.perf_counter()
            perturbed = level.split_by_stage("face")["face"].apply(crops.crops, perturbations.seed_for(0, path.stem, lvl))
            faces = inner_crop(perturbed, settings.context)
            times.levels[lvl] += time.perf_counter() - start
            start = time.perf_counter()
            predict_frames(model, faces, 64)
            times.inference += time.perf_counter() - start
    return times


def time_runs(times: StageTimes, videos: list[tuple[Path, str]], frames: int, workers: list[int], work: Path) -> None:
    """Whole runs on a `folder` dataset of symlinks, each with a fresh face cache."""
    from benchmarks import runner
    from benchmarks.config import RunConfig

    data = work / f"{times.name}-data"
    for i, (path, label) in enumerate(videos):
        (data / label).mkdir(parents=True, exist_ok=True)
        link = data / label / f"{i:02d}_{path.name}"
        if not link.exists():
            link.symlink_to(path.resolve())
    for n in workers:
        config = RunConfig(detectors=["meso"], levels=list(LEVELS), dataset="folder", data_root=str(data),
                           random_init=True, num_frames=frames, bootstrap=0, cache_dir=str(work / f"cache-{times.name}-{n}"),
                           out=str(work / f"run-{times.name}-{n}"), workers=n, device="cpu")
        start = time.perf_counter()
        result = runner.run(config, progress=False)
        times.runs[f"workers={n}"] = time.perf_counter() - start
        manifest = json.loads((result.run_dir / "manifest.json").read_text())
        execution = manifest["execution"]
        times.peak_rss_mb[f"workers={n}"] = (execution["peak_rss_mb"], execution["worker_peak_rss_mb"])


def report(times: StageTimes) -> str:
    """A markdown table: seconds, videos/s and share of the sequential per-video total for each stage."""
    n = max(times.videos, 1)
    stages = {"decode only (floor)": times.decode, "decode + faces": times.faces,
              **{f"perturb {lvl}": s for lvl, s in times.levels.items()}, f"inference ({len(LEVELS)} levels)": times.inference}
    sequential = times.faces + sum(times.levels.values()) + times.inference
    lines = [f"### {times.name}: {times.videos} videos", "", "| stage | seconds | videos/s | share of sequential |",
             "|---|---:|---:|---:|"]
    for stage, seconds in stages.items():
        share = "(inside decode + faces)" if stage.startswith("decode only") else f"{seconds / sequential:.0%}"
        lines.append(f"| {stage} | {seconds:.2f} | {n / seconds if seconds else float('inf'):.2f} | {share} |")
    lines.append(f"| sum of stages (sequential) | {sequential:.2f} | {n / sequential:.2f} | 100% |")
    for run, seconds in times.runs.items():
        main_mb, worker_mb = times.peak_rss_mb.get(run, (0.0, 0.0))
        lines.append(f"| whole run, {run} | {seconds:.2f} | {n / seconds:.2f} | peak RSS main {main_mb:.0f} MB, "
                     f"largest worker {worker_mb:.0f} MB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.executors import default_workers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="CI size: 8 frames, 2 generated clips, 4 real videos")
    parser.add_argument("--frames", type=int, help="frames sampled per video (default 32; 8 with --short)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with ffpp/ and dfdc/ samples")
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--no-generated", action="store_true")
    args = parser.parse_args(argv)
    frames = args.frames or (8 if args.short else 32)
    workers = sorted({1, default_workers()})
    with tempfile.TemporaryDirectory(prefix="dfbench-throughput-") as tmp:
        work = Path(tmp)
        sets: list[tuple[str, list]] = []
        if not args.no_real:
            real = real_videos(args.data) if args.data.is_dir() else []
            if real:
                sets.append(("real FF++ c23 + DFDC", real[:4] if args.short else real))
            else:
                print(f"real samples not present under {args.data}: skipped")
        if not args.no_generated:
            sets.append(("generated 1080p", generated_videos(work, 2 if args.short else 4, max(frames, 16))))
        print(f"cores: {os.cpu_count()}, frames per video: {frames}, workers compared: {workers}\n")
        for name, videos in sets:
            times = time_stages(name.split()[0], videos, frames)
            time_runs(times, videos, frames, workers, work)
            times.name = name
            print(report(times) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
