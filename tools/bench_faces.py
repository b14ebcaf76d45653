"""Wall time of frame sampling alone vs. the full face stage on the real DFDC sample (not a test).

Usage: python -m tools.bench_faces [VIDEO]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.config import FaceSettings
from benchmarks.pipeline.decode import read_frames
from benchmarks.pipeline.face_detectors import make_detector
from benchmarks.pipeline.faces import extract_faces

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "dfdc" / "samples" / "lynaeydofd.mp4"
NUM_FRAMES = 32


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else DEFAULT_VIDEO
    if not path.exists():
        print(f"video not present: {path}")
        return 0
    settings = FaceSettings()
    detector = make_detector(settings)  # model load not timed

    start = time.perf_counter()
    sample = read_frames(path, NUM_FRAMES)
    read_s = time.perf_counter() - start

    start = time.perf_counter()
    faces = extract_faces(path, NUM_FRAMES, settings, detector)
    faces_s = time.perf_counter() - start

    print(f"video: {path.name} {sample.frames.shape[2]}x{sample.frames.shape[1]}, {sample.total_frames} frames")
    print(f"read_frames({NUM_FRAMES}):   {read_s:6.2f} s")
    print(f"extract_faces({NUM_FRAMES}): {faces_s:6.2f} s  [{faces.message}]")
    print(f"ratio extract/read:  {faces_s / read_s:6.2f}")
    sparse = FaceSettings(detect_every=4)
    start = time.perf_counter()
    faces = extract_faces(path, NUM_FRAMES, sparse, detector)
    sparse_s = time.perf_counter() - start
    print(f"extract_faces({NUM_FRAMES}, detect_every=4): {sparse_s:6.2f} s  [{faces.message}]")
    print(f"ratio extract/read:  {sparse_s / read_s:6.2f}   (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
