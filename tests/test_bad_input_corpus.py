"""A corpus of bad and unusual inputs: each gets its documented status or error, and a run over a dataset
holding all the video cases finishes and reports every one."""
from __future__ import annotations

import csv
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from benchmarks import runner
from benchmarks.config import RunConfig
from benchmarks.pipeline.decode import read_frames, write_video
from datasets.demo import generate_demo
from reports import run_files as results
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def face_frames(tmp_path_factory) -> np.ndarray:
    """12 real-looking frames with a face (from a generated demo clip)."""
    root = tmp_path_factory.mktemp("corpus-demo") / "demo"
    generate_demo(root, seed=2, n_train=0, n_test=2, frames=12)
    with (root / "manifest.csv").open() as handle:
        first = next(csv.DictReader(handle))["path"]
    return read_frames(root / first, 12).frames


def _rotated(path: Path, frames: np.ndarray) -> None:
    """Stored turned clockwise, with display metadata saying 'turn 90 degrees counter-clockwise' (as phones do)."""
    stored = np.ascontiguousarray(np.rot90(frames, -1, axes=(1, 2)))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = stored.shape[2], stored.shape[1], "yuv420p"
        stream.set_display_rotation(90)
        for frame in stored:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def _variable_frame_rate(path: Path, frames: np.ndarray) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for i, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = pts, Fraction(1, 1000)
            pts += 20 if i % 2 else 70  # alternating 50 fps and ~14 fps intervals
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        samples = (0.2 * np.sin(np.arange(22050) / 10)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, face_frames) -> tuple[Path, dict[str, set[str]]]:
    """A `folder` dataset (manifest.csv) of every video-level case, with the statuses each may get."""
    root = tmp_path_factory.mktemp("corpus")
    good = write_video(root / "good.mp4", face_frames, fps=12)
    cases: dict[str, tuple[str, set[str]]] = {}

    def add(name: str, label: str, allowed: set[str]) -> Path:
        cases[name] = (label, allowed)
        return root / f"{name}.mp4"

    (add("corrupt", "fake", {"unreadable"})).write_bytes(np.random.default_rng(0).bytes(20000))
    data = good.read_bytes()
    add("truncated", "fake", {"unreadable"}).write_bytes(data[: len(data) * 3 // 10])  # index (moov) is at the end
    faststart = write_video(root / "faststart_src.mp4", face_frames, fps=12, faststart=True).read_bytes()
    add("truncated_faststart", "real", {"ok", "unreadable", "no_frames"}).write_bytes(faststart[: len(faststart) // 2])
    add("empty", "real", {"unreadable"}).write_bytes(b"")
    add("text_named_mp4", "fake", {"unreadable"}).write_text("this is not a video\n" * 50)
    _audio_only(add("audio_only", "real", {"no_video_stream"}))
    write_video(add("one_frame", "real", {"ok"}), face_frames[:1], fps=12)
    _rotated(add("rotated", "fake", {"ok"}), face_frames)
    big = np.stack([cv2.resize(f, (3840, 2160), interpolation=cv2.INTER_LINEAR) for f in face_frames[:2]])
    write_video(add("uhd_4k", "fake", {"ok"}), big, fps=12, crf=35)
    grey = np.repeat(face_frames.mean(axis=3, keepdims=True).astype(np.uint8), 3, axis=3)
    write_video(add("grayscale", "real", {"ok"}), grey, fps=12)
    _variable_frame_rate(add("variable_frame_rate", "fake", {"ok"}), face_frames)
    noise = np.random.default_rng(3).integers(0, 50, (6, 120, 160, 3), dtype=np.uint8)
    write_video(add("no_face", "real", {"no_face"}), noise, fps=12)
    cases["missing_file"] = ("fake", {"missing_file"})  # listed in the manifest, never created
    cases["good"] = ("real", {"ok"})
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "case"])
        for name, (label, _) in cases.items():
            writer.writerow([f"{name}.mp4", label, name])
    (root / "faststart_src.mp4").unlink()
    return root, {name: allowed for name, (_, allowed) in cases.items()}


def test_every_video_case_gets_its_status_and_the_run_reports_it(corpus, tmp_path):
    root, expected = corpus
    assert len(expected) >= 14
    config = RunConfig(detectors=["meso"], levels=["heavy"], dataset="folder", data_root=str(root),
                       random_init=True, num_frames=4, out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    result = runner.run(config, progress=False)
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 2 * len(expected)  # every case at both levels, nothing dropped
    status = {r["video_id"]: r["status"] for r in rows if r["level"] == "none"}
    for name, allowed in expected.items():
        assert status[name] in allowed, (name, status[name])
        message = next(r["message"] for r in rows if r["video_id"] == name)
        assert status[name] == "ok" or (message and "\n" not in message)
    one_frame = next(r for r in rows if r["video_id"] == "one_frame")
    assert one_frame["n_frames"] == "1"
    report = (result.run_dir / "report.md").read_text()
    skipped = [name for name, s in status.items() if s != "ok"]
    assert f"{len(skipped)} videos could not be scored" in report
    assert all(f"`{name}`" in report for name in skipped)


def test_rotated_video_is_decoded_upright(corpus, face_frames):
    root, _ = corpus
    frame = read_frames(root / "rotated.mp4", 1).frames[0]
    assert frame.shape == face_frames[0].shape
    assert np.abs(frame.astype(int) - face_frames[0]).mean() < 12


@pytest.mark.parametrize("manifest, message", [
    ("path,label\nok.mp4,real\nbad.mp4,maybe\n", "manifest.csv:3"),
    ("path,label\n../escape.mp4,fake\n", "escapes the data root"),
    ("path,label\n/etc/passwd,fake\n", "manifest.csv:2"),
])
def test_dataset_level_errors_are_one_line_cli_errors(tmp_path, manifest, message):
    (tmp_path / "manifest.csv").write_text(manifest)
    out = subprocess.run([sys.executable, "-m", "benchmarks", "run", "--dataset", "folder", "--data-root",
                          str(tmp_path), "--random-init", "-q", "--out", str(tmp_path / "run")],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_malformed_json_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.json").write_text('[{"path": "a.mp4", "label": "real"},')
    out = subprocess.run([sys.executable, "-m", "benchmarks", "run", "--dataset", "folder", "--data-root",
                          str(tmp_path), "--random-init", "-q", "--out", str(tmp_path / "run")],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "manifest.json" in out.stderr and "Traceback" not in out.stderr
