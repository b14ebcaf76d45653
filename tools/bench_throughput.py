"""Throughput per stage and for whole runs, against the sequential decode floor (a script, not a test).

Stages, each timed sequentially in this process without a face cache, so their shares add up: decode only
(the floor: frames must be decoded whatever else happens; the fastest of 3 passes per video), decode + face detection and crop, face-stage
perturbation per level, detector inference, the quality measurement (PSNR + SSIM per perturbed level, with its share
of the other stages: aim <= 10%). Then whole runs, each a fresh `python -m benchmarks run` process
(so its peak RSS is its own): the 3-level `meso` run with a fresh face cache for `--workers 1` and the core
count, then second runs on the cached faces with a new level (`GB:3`, plus the clean `none` every run has) and
with a new detector (`meso4`, 3 levels), the new detector again with the opt-in `--cache-perturbed` (after a run
that stored the perturbed crops), and for comparison a first run with `--detect-every 4` (face detection on
every 4th sampled frame; not the default). Two ratios answer the issue's aims:

- whole run / decode floor: the first run's scoring loop per video over the sequential decode per video (aim: <= 2);
- second run on cached faces / first run: scoring loops, second over the first with the core count (aim: < 10%).

Each is given twice: over the whole scoring loop, and steady (per video after the first: `timing.json` records
when the first video's rows were written), which leaves out what a run pays once (worker start-up, imports, model
loading) and is what each further video of a long run costs.

Run time is the scoring loop of `timing.json` (faces, perturbation, inference, rows written); the all-in process
time (interpreter start, imports, model loading, metrics, report) is printed next to it. Exits 1 when a run
fails or scores fewer rows than expected, so CI can run `--short` (2 generated clips, 8 frames, only the first
runs and the new-level run: about a minute). The full mode prints markdown ready to paste into the README.

The finish (metrics with `--bootstrap` resamples, gallery, report) of every run is its own column, and a ratio row
gives the second run over the first with the finish included. `--backend onnxruntime` runs the inference stage and
every run on ONNX Runtime. `--isa avx2` emulates an AVX2-only CPU on a machine with AVX-512/AMX: it restarts this
script with ONNX Runtime/oneDNN and ATen capped at AVX2 and OpenCV's AVX-512 dispatch off (`ISA_ENV`), which every
run inherits, and the machine line says so (an emulation: same caches and clock as the real machine).

Usage: python -m tools.bench_throughput [--short] [--frames 32] [--data DIR] [--no-real] [--no-generated]
       [--stages-only] [--backend torch|onnxruntime] [--isa native|avx2] [--bootstrap 1000]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import torch

import detectors
import perturbations
from benchmarks.config import FaceSettings
from benchmarks.execution.local import default_workers
from benchmarks.inference.device import CPU_BATCH
from benchmarks.inference.models import predict_frames
from benchmarks.inference.onnx_backend import apply_backend
from benchmarks.pipeline.decode import read_frames, write_video
from benchmarks.pipeline.face_detectors import make_detector
from benchmarks.pipeline.faces import extract_faces, inner_crop
from benchmarks.pipeline.quality import crop_quality
from datasets.demo import generate_demo
from reports.run_files import read_scores
from tools.machine import describe

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
LEVELS = ["none", "flip", "heavy"]
NEW_LEVEL = "GB:3"  # the second run's new level
NEW_DETECTOR = "meso4"  # the second run's new detector
STEADY_MIN_VIDEOS = 4  # steady figures need more videos than workers (--short has 2: shown as nan)
ISA_ENV = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",  # torch: oneDNN and ATen kernels
                    # OpenCV's dispatch (dnn, resize, colour conversion); its names are hyphenated (AVX512_SKX is
                    # "unknown" to it and changes nothing): checked by `machine` with checkHardwareSupport
                    "OPENCV_CPU_DISABLE": "AVX512F,AVX512-SKX,AVX512-COMMON,AVX512-CNL,AVX512-CLX,AVX512-ICL"}}
OPENCV_AVX512_SKX = 256  # cv::CPU_AVX512_SKX (the Python module has no constant for it)
FLOOR_PASSES = 3  # decode passes per video for the floor; the fastest counts (a lower floor, a stricter ratio)


class BenchError(RuntimeError):
    """A run that failed or scored less than it should: the benchmark exits 1."""


@dataclass
class RunTimes:
    """One whole run: all-in process seconds, the scoring loop of timing.json, peak RSS (main, largest worker)."""

    label: str
    process: float
    loop: float
    first: float  # loop seconds until the first video's rows (start-up + one video)
    faces: dict
    finish: float  # metrics (with the bootstrap), gallery and report after the loop (timing.json)
    main_mb: float
    worker_mb: float


@dataclass
class StageTimes:
    """Seconds per stage over one video set; `levels` is the perturbation time per level."""

    name: str
    videos: int
    frames: int
    decode: float = 0.0
    faces: float = 0.0
    levels: dict[str, float] = field(default_factory=dict)
    inference: float = 0.0
    quality: float = 0.0  # PSNR + SSIM of the perturbed crops against the clean ones (every perturbed level)
    runs: list[RunTimes] = field(default_factory=list)


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

    demo = generate_demo(folder / "demo", seed=0, n_train=0, n_test=count, frames=frames)
    clips = sorted(demo.rglob("*.mp4"))[:count]
    out = []
    for i, clip in enumerate(clips):
        sample = read_frames(clip, frames)
        big = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_LINEAR) for f in sample.frames]
        label = "real" if "real" in clip.parts else "fake"
        out.append((write_video(folder / f"hd_{i}.mp4", big, fps=25), label))
    return out


def time_stages(name: str, videos: list[tuple[Path, str]], frames: int, backend: str = "torch") -> StageTimes:
    """Each stage over all videos, sequentially in this process (no cache)."""

    settings = FaceSettings()
    face_detector = make_detector(settings)  # model loading is not timed
    model = detectors.create("meso", random_init=True)
    model = apply_backend({"meso": model}, backend)[0]["meso"]
    for module in perturbations.step_modules(perturbations.get(lvl) for lvl in LEVELS):
        importlib.import_module(module)  # imgaug's import (0.7 s) is not the perturbation's cost: runs preload it
    times = StageTimes(name, len(videos), frames, levels={lvl: 0.0 for lvl in LEVELS})
    for path, _ in videos:
        passes = []
        for _ in range(FLOOR_PASSES):  # the fastest of several: noise on a shared machine only ever adds time
            start = time.perf_counter()
            read_frames(path, frames)
            passes.append(time.perf_counter() - start)
        times.decode += min(passes)
        start = time.perf_counter()
        crops = extract_faces(path, frames, settings, face_detector)
        times.faces += time.perf_counter() - start
        if not crops.ok:
            raise BenchError(f"{path.name}: {crops.message}")
        for lvl in LEVELS:
            level = perturbations.get(lvl)
            start = time.perf_counter()
            perturbed = level.split_by_stage("face")["face"].apply(crops.crops, perturbations.seed_for(0, path.stem, lvl))
            faces = inner_crop(perturbed, settings.context)
            times.levels[lvl] += time.perf_counter() - start
            if not level.is_identity:  # what `perturb_level` adds per video and level
                start = time.perf_counter()
                crop_quality(inner_crop(crops.crops, settings.context), faces, crops.frame_indices, crops.frame_indices)
                times.quality += time.perf_counter() - start
            start = time.perf_counter()
            predict_frames(model, faces, CPU_BATCH)  # the run's default on CPU
            times.inference += time.perf_counter() - start
    return times


def folder_dataset(videos: list[tuple[Path, str]], data: Path) -> Path:
    """A `folder` dataset of symlinks (real/, fake/), nothing copied."""
    for i, (path, label) in enumerate(videos):
        (data / label).mkdir(parents=True, exist_ok=True)
        link = data / label / f"{i:02d}_{path.name}"
        if not link.exists():
            link.symlink_to(path.resolve())
    return data


def whole_run(label: str, data: Path, out: Path, cache: Path, frames: int, workers: int, n_videos: int,
              detector: str = "meso", levels: list[str] | None = None, extra: tuple[str, ...] = (),
              backend: str = "torch", bootstrap: int = 1000) -> RunTimes:
    """`python -m benchmarks run` in a fresh process; BenchError unless every video is scored at every level."""
    levels = levels or LEVELS
    # trained weights where the project has them (meso): the score cache reuses rows of trained detectors only
    weights = ["--weights", str(detectors.default_weights(detector))] if detector == "meso" else ["--random-init"]
    command = [sys.executable, "-m", "benchmarks", "run", "--dataset", "folder", "--data-root", str(data),
               "--detector", detector, "--level", ",".join(levels), *weights, "--frames", str(frames),
               "--bootstrap", str(bootstrap), "--backend", backend, "--cache-dir", str(cache), "--out", str(out), "--workers", str(workers),
               "--device", "cpu", "-q", "--follow-symlinks", *extra]  # the data folder links to the clips
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    process = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"{label}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    rows = [r for r in _read_scores(out) if r["status"] == "ok"]
    expected = n_videos * len(set(["none", *levels]))
    if len(rows) != expected:
        raise BenchError(f"{label}: {len(rows)} scored rows, expected {expected}")
    timing = json.loads((out / "timing.json").read_text())
    execution = json.loads((out / "manifest.json").read_text())["execution"]
    return RunTimes(label, process, timing["loop_seconds"], timing.get("first_video_seconds", 0.0), timing["faces"],
                    timing.get("finish_seconds", float("nan")),
                    execution["peak_rss_mb"], execution["worker_peak_rss_mb"])


def _read_scores(run_dir: Path) -> list[dict]:
    return read_scores(run_dir)


def time_runs(times: StageTimes, videos: list[tuple[Path, str]], workers: list[int], work: Path,
              short: bool = False, **run_options) -> None:
    """First runs with a fresh face cache for each worker count, then second runs on the cached faces (a new level;
    unless `short` also a new detector, and a first run with `--detect-every 4` for comparison)."""
    data = folder_dataset(videos, work / f"{times.name}-data")
    n = len(videos)
    for w in workers:
        cache = work / f"{times.name}-cache-{w}"
        times.runs.append(whole_run(f"first run, --workers {w}, fresh face cache", data,
                                    work / f"{times.name}-run-{w}", cache, times.frames, w, n, **run_options))
    w = workers[-1]
    cache = work / f"{times.name}-cache-{w}"
    times.runs.append(whole_run(f"second run, new level {NEW_LEVEL} (+ none), cached faces", data,
                                work / f"{times.name}-level", cache, times.frames, w, n, levels=[NEW_LEVEL], **run_options))
    if short:
        return
    times.runs.append(whole_run(f"second run, new detector {NEW_DETECTOR} ({len(LEVELS)} levels), cached faces",
                                data, work / f"{times.name}-detector", cache, times.frames, w, n,
                                detector=NEW_DETECTOR, **run_options))
    # opt-in: perturbed crops stored by one run (meso again, scored afresh so it perturbs), loaded by the new detector
    times.runs.append(whole_run("storing run: meso again with --cache-perturbed --no-score-cache, cached faces",
                                data, work / f"{times.name}-store", cache, times.frames, w, n,
                                extra=("--cache-perturbed", "--no-score-cache"), **run_options))
    times.runs.append(whole_run(f"second run, new detector {NEW_DETECTOR} ({len(LEVELS)} levels) with "
                                "--cache-perturbed, cached faces", data, work / f"{times.name}-detector-stored",
                                cache, times.frames, w, n, detector=NEW_DETECTOR, extra=("--cache-perturbed",), **run_options))
    times.runs.append(whole_run(f"first run, --workers {w} --detect-every 4 (not the default), fresh face cache",
                                data, work / f"{times.name}-every4", work / f"{times.name}-cache-every4",
                                times.frames, w, n, extra=("--detect-every", "4"), **run_options))


def report(times: StageTimes) -> str:
    """Markdown: stage table, whole-run table and the two ratios."""
    n = max(times.videos, 1)
    floor = times.decode / n
    stages = {"decode only (the floor)": times.decode, "decode + faces": times.faces,
              **{f"perturb {lvl}": s for lvl, s in times.levels.items()},
              f"inference meso ({len(LEVELS)} levels)": times.inference,
              "quality: PSNR + SSIM per perturbed level": times.quality}
    sequential = times.faces + sum(times.levels.values()) + times.inference + times.quality
    lines = [f"#### {times.name}: {times.videos} videos, {times.frames} frames each", "",
             "| stage (sequential, one process) | seconds | per video s | x decode floor | share |",
             "|---|---:|---:|---:|---:|"]
    for stage, seconds in stages.items():
        share = "-" if stage.startswith("decode only") else f"{seconds / sequential:.0%}"
        lines.append(f"| {stage} | {seconds:.2f} | {seconds / n:.2f} | {seconds / n / floor:.2f} | {share} |")
    lines.append(f"| sum of stages | {sequential:.2f} | {sequential / n:.2f} | {sequential / n / floor:.2f} | 100% |")
    rest = sequential - times.quality - times.faces  # a run on cached faces: perturbation + inference
    lines += ["", f"Quality measurement: {times.quality / max(sequential - times.quality, 1e-9):.1%} of the other "
              f"stages, {times.quality / max(rest, 1e-9):.1%} of perturbation + inference (a run on cached faces); "
              "aim <= 10%."]
    lines += ["", "| whole run (`python -m benchmarks run`, meso unless said) | scoring loop s | per video s | "
              "x decode floor | steady per video s | x decode floor | all-in process s | "
              "peak RSS main / largest worker MB | finish s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in times.runs:
        steady = _steady(run, n)
        lines.append(f"| {run.label} | {run.loop:.2f} | {run.loop / n:.2f} | {run.loop / n / floor:.2f} | "
                     f"{steady:.2f} | {steady / floor:.2f} | {run.process:.1f} | {run.main_mb:.0f} / {run.worker_mb:.0f} | "
                     f"{run.finish:.2f} |")
    firsts = [r for r in times.runs if r.label.startswith("first")]
    default_firsts = [r for r in firsts if "detect-every" not in r.label]
    seconds = [r for r in times.runs if r.label.startswith("second")]
    lines += ["", "| ratio | whole loop | steady | aim |", "|---|---:|---:|---:|"]
    for run in firsts:
        lines.append(f"| whole run / decode floor, {run.label.split(', ')[1]} | {run.loop / n / floor:.2f} | "
                     f"{_steady(run, n) / floor:.2f} | <= 2 |")
    if default_firsts:
        first = default_firsts[-1]
        for run in seconds:
            what = run.label.split(", ")[1]
            lines.append(f"| second run on cached faces / first run ({what}; first: "
                         f"{first.label.split(', ')[1]}) | {run.loop / first.loop:.0%} | "
                         f"{_steady(run, n) / _steady(first, n):.0%} | < 10% |")
            lines.append(f"| the same, finish included (finish: {run.finish:.1f} s of {run.loop + run.finish:.1f} s) | "
                         f"{(run.loop + run.finish) / (first.loop + first.finish):.0%} | - | < 10% |")
    return "\n".join(lines)


def _steady(run: RunTimes, n: int) -> float:
    """Seconds per video after the first one: what each further video of a long run costs, without start-up
    (worker processes, imports, model loading) and the pipeline filling, which a run of n videos pays once."""
    if n < STEADY_MIN_VIDEOS or run.first <= 0:  # with as few videos as workers they finish together: no rate
        return float("nan")
    return (run.loop - run.first) / (n - 1)


def machine(isa: str = "native") -> str:
    """One line describing the machine, for the README; with `--isa avx2` what the emulation took effect as."""
    line = describe({"torch": torch.__version__, "opencv": cv2.__version__, "PyAV": av.__version__})
    if isa == "native":
        return line
    capability = torch.backends.cpu.get_cpu_capability()
    opencv = "AVX-512 dispatch off" if not cv2.checkHardwareSupport(OPENCV_AVX512_SKX) else "AVX-512 STILL ON"
    return (f"{line}; EMULATED {isa.upper()}-only: torch CPU capability {capability}, oneDNN capped at "
            f"{os.environ.get('ONEDNN_MAX_CPU_ISA', '?')}, OpenCV {opencv}; ONNX Runtime (CenterFace in the face "
            "stage, --backend onnxruntime) NOT capped: its MLAS kernels pick AVX-512 by cpuid, no switch")


def emulate(isa: str, argv: list[str]) -> None:
    """Restart this script with `ISA_ENV[isa]` set (torch and OpenCV read it when loaded); no-op once it is set."""
    wanted = ISA_ENV[isa]
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    os.execve(sys.executable, [sys.executable, "-m", "tools.bench_throughput", *argv], {**os.environ, **wanted})


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true",
                        help="CI size: 2 generated 1080p clips, 8 frames, no real videos (about a minute)")
    parser.add_argument("--frames", type=int, help="frames sampled per video (default 32; 8 with --short)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with ffpp/ and dfdc/ samples")
    parser.add_argument("--no-real", action="store_true", help="skip the real FF++/DFDC samples")
    parser.add_argument("--no-generated", action="store_true", help="skip the generated 1080p clips")
    parser.add_argument("--stages-only", action="store_true", help="time the stages only (the quality measurement "
                        "among them), no whole runs")
    parser.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                        help="inference backend of the inference stage and of every run (default torch)")
    parser.add_argument("--isa", choices=["native", *ISA_ENV], default="native",
                        help="native (default), or avx2: emulate an AVX2-only CPU (torch/oneDNN and OpenCV capped; "
                        "the machine line says EMULATED)")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples of every run's metrics (default 1000, a run's default): the finish")
    args = parser.parse_args(argv)
    if args.isa != "native":
        emulate(args.isa, sys.argv[1:] if argv is None else argv)
    frames = args.frames or (8 if args.short else 32)
    workers = sorted({1, default_workers()})
    print(f"Machine: {machine(args.isa)}. Frames per video: {frames}; workers compared: {workers}; "
          f"backend {args.backend}; bootstrap {args.bootstrap}.\n", flush=True)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="dfbench-throughput-") as tmp:
            work = Path(tmp)
            sets: list[tuple[str, list]] = []
            if not (args.no_real or args.short):
                real = real_videos(args.data) if args.data.is_dir() else []
                if real:
                    sets.append(("real FF++ c23 + DFDC", real))
                else:
                    print(f"real samples not present under {args.data}: skipped\n")
            if not args.no_generated:
                sets.append(("generated 1080p", generated_videos(work, 2 if args.short else 4, max(frames, 16))))
            for name, videos in sets:
                times = time_stages(name.split()[0], videos, frames, args.backend)
                if not args.stages_only:
                    time_runs(times, videos, workers, work, short=args.short, backend=args.backend,
                              bootstrap=args.bootstrap)
                times.name = name
                print(f"Machine: {machine(args.isa)}\n\n{report(times)}\n", flush=True)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"({time.perf_counter() - started:.0f} s in all; load average now {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
