"""`predict`: single videos through `run`'s pipeline. Its score at `none` equals the video's score in a run over a
folder that holds it (real FF++ videos and generated demo videos, computed apart: separate caches, no score cache),
bad files become status rows, thresholds come from a run folder, and the CLI prints a table or exactly the JSON."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

import benchmarks
import detectors
from benchmarks import cli, runner
from benchmarks.config import RunConfig
from benchmarks.pipeline.decode import READ_STATUSES, write_video
from benchmarks.prediction.output import PREDICTIONS_FILE, PROFILE_FILE, format_table, write_outputs
from benchmarks.prediction.profile import severity_profiles
from benchmarks.prediction.rows import JSON_KEYS, Prediction, PredictProgress, verdict_for
from datasets.demo import generate_demo
from reports import run_files
from tests.conftest import shared_path

FRAMES = 4
DEMO_WEIGHTS = {"meso": str(detectors.default_weights("meso"))}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    """Four generated demo videos (2 real, 2 fake) as a `folder` dataset."""
    root = tmp_path_factory.mktemp("predict-demo") / "demo"
    generate_demo(root, seed=0, n_train=0, n_test=4, frames=8)
    return root


@pytest.fixture(scope="module")
def demo_run(demo_root, tmp_path_factory) -> Path:
    """A finished run over the demo folder (its scores and its clean threshold are what predict must meet)."""
    base = tmp_path_factory.mktemp("predict-run")
    config = RunConfig(detectors=["meso"], levels=["none", "heavy"], dataset="folder", data_root=str(demo_root),
                       weights=DEMO_WEIGHTS, num_frames=FRAMES, bootstrap=0, score_cache=False,
                       cache_dir=str(base / "cache"), out=str(base / "run"))
    return runner.run(config, progress=False).run_dir


def run_scores(run_dir: Path, root: Path, level: str = "none") -> dict[Path, float]:
    """{video file: score at `level`} of a run over the folder `root` (video ids are paths without extension)."""
    files = {p.relative_to(root).with_suffix("").as_posix(): p for p in root.rglob("*.mp4")}
    return {files[r["video_id"]]: float(r["score"]) for r in run_files.read_scores(run_dir)
            if r["level"] == level and r["status"] == "ok"}


def test_predict_equals_run_on_demo_videos(demo_root, demo_run, tmp_path):
    expected = run_scores(demo_run, demo_root)
    assert len(expected) == 4
    rows = benchmarks.predict(sorted(expected), detectors=["meso"], weights=DEMO_WEIGHTS,
                              config=RunConfig(num_frames=FRAMES, cache_dir=str(tmp_path / "own-cache"),
                                               score_cache=False))
    assert [r.level for r in rows] == ["none"] * 4 and all(r.ok and r.n_frames == FRAMES for r in rows)
    for row in rows:
        assert row.p_fake == pytest.approx(expected[Path(row.video)], abs=1e-6)
        assert np.mean(row.frame_scores) == pytest.approx(row.p_fake, abs=1e-5)  # mean of the 6-digit frame scores
        assert row.verdict == ("fake" if row.p_fake >= 0.5 else "real") and row.threshold == 0.5


def test_run_video_ids_give_the_runs_perturbed_scores(demo_root, demo_run, tmp_path):
    """Perturbation draws are seeded by (seed, video id, level): with the run's ids, `heavy` (random imgaug
    parameters per video) scores as in the run; with the default ids (file names) the draws differ."""
    expected = run_scores(demo_run, demo_root, "heavy")
    videos = sorted(expected)
    ids = [p.relative_to(demo_root).with_suffix("").as_posix() for p in videos]
    config = RunConfig(num_frames=FRAMES, cache_dir=str(tmp_path / "cache"), score_cache=False)
    rows = benchmarks.predict(videos, levels=["heavy"], weights=DEMO_WEIGHTS, config=config, video_ids=ids)
    heavy = [r for r in rows if r.level == "heavy"]
    assert len(heavy) == 4 and all(r.p_fake == pytest.approx(expected[Path(r.video)], abs=1e-6) for r in heavy)
    assert all(r.params for r in heavy)  # the parameters drawn, as scores.csv records them
    default = benchmarks.predict(videos, levels=["heavy"], weights=DEMO_WEIGHTS, config=config)
    drawn = {r.video: r.params for r in heavy}
    assert all(r.params != drawn[r.video] for r in default if r.level == "heavy")  # heavy's scores are all ~0 here
    with pytest.raises(ValueError, match="one per path"):
        benchmarks.predict(videos, weights=DEMO_WEIGHTS, config=config, video_ids=ids[:1])


@pytest.mark.slow
def test_predict_equals_run_on_real_videos(tmp_path):
    """Original MesoInception_DF weights on real videos: an FF++ c23 original, its NeuralTextures fake, a Deepfakes
    fake, and a 1080p DFDC original."""
    weights = {"meso": str(shared_path("mesonet", "weights", "MesoInception_DF.h5"))}
    videos = shared_path("videos", "ffpp")
    sources = {"real": [videos / "original_sequences/youtube/c23/videos/004.mp4",
                        shared_path("videos", "dfdc", "samples", "lynaeydofd.mp4")],
               "fake": [videos / "manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4",
                        videos / "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"]}
    root = tmp_path / "real-videos"
    for label, files in sources.items():
        (root / label).mkdir(parents=True)
        for source in files:
            (root / label / source.name).symlink_to(source)
    config = RunConfig(detectors=["meso"], levels=["none"], dataset="folder", data_root=str(root), weights=weights,
                       num_frames=FRAMES, bootstrap=0, score_cache=False, follow_symlinks=True,
                       cache_dir=str(tmp_path / "run-cache"), out=str(tmp_path / "run"))
    expected = run_scores(runner.run(config, progress=False).run_dir, root)
    assert len(expected) == 4
    rows = benchmarks.predict([str(p) for p in sorted(expected)], weights=weights,
                              config=RunConfig(num_frames=FRAMES, cache_dir=str(tmp_path / "predict-cache"),
                                               score_cache=False))
    assert len(rows) == 4
    for row in rows:
        assert row.ok and row.p_fake == pytest.approx(expected[Path(row.video)], abs=1e-6)


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((0.2 * np.sin(np.arange(22050) / 10)).astype(np.float32)[None],
                                           format="fltp", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_bad_files_are_status_rows_not_errors(demo_root, tmp_path):
    good = sorted(demo_root.rglob("*.mp4"))[0]
    data = good.read_bytes()
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(20000))
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) * 3 // 10])
    noise = np.random.default_rng(3).integers(0, 50, (4, 120, 160, 3), dtype=np.uint8)
    cases = {"missing.mp4": "missing_file", "text.mp4": "unreadable", "empty.mp4": "unreadable",
             "corrupt.mp4": "unreadable", "truncated.mp4": "unreadable", "audio.mp4": "no_video_stream",
             "noise.mp4": "no_face", "folder": "unreadable"}
    audio_only(tmp_path / "audio.mp4")
    write_video(tmp_path / "noise.mp4", noise, fps=12)
    (tmp_path / "folder").mkdir()
    paths = [str(tmp_path / name) for name in cases]
    steps: list[PredictProgress] = []
    rows = benchmarks.predict(paths, levels=["GB:2"], demo_weights=True, progress=steps.append,
                              config=RunConfig(num_frames=FRAMES, cache_dir=str(tmp_path / "cache")))
    assert len(rows) == 2 * len(cases) and [s.done for s in steps] == list(range(1, 2 * len(cases) + 1))
    assert {s.total for s in steps} == {2 * len(cases)}
    for row in rows:
        assert row.status == cases[Path(row.video).name], row
        assert row.status in (*READ_STATUSES, "no_face")  # the run's own vocabulary
        assert row.p_fake is None and row.verdict is None and row.n_frames == 0 and row.message
    assert "no score: missing_file" in format_table(rows, severity_profiles(rows))


def test_one_frame_video_is_scored_on_the_frame_it_has(demo_root, tmp_path):
    """Too short for the frames asked: scored on what there is, as a run does (n_frames says how many)."""
    good = sorted(demo_root.rglob("*.mp4"))[0]
    with av.open(str(good)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    write_video(tmp_path / "one.mp4", first[None], fps=12)
    [row] = benchmarks.predict([tmp_path / "one.mp4"], demo_weights=True,
                               config=RunConfig(num_frames=FRAMES, cache_dir=str(tmp_path / "cache")))
    assert row.ok and row.n_frames == 1 and len(row.frame_scores) == 1


def test_threshold_from_a_run_folder(demo_root, demo_run, tmp_path, capsys):
    doc = run_files.read_json(demo_run / run_files.METRICS_FILE)
    clean = next(e["threshold_clean"] for e in doc["video"] if e["level"] == "none")
    assert clean is not None
    videos = sorted(demo_root.rglob("*.mp4"))[:2]
    rows = benchmarks.predict(videos, weights=DEMO_WEIGHTS, threshold_from=demo_run,
                              config=RunConfig(num_frames=FRAMES + 1, cache_dir=str(tmp_path / "cache")))
    assert all(r.threshold == pytest.approx(min(1.0, clean)) for r in rows)
    assert all(r.verdict == verdict_for(r.p_fake, r.threshold) for r in rows)
    assert "num_frames differs from the run's (5 here, 4 in" in capsys.readouterr().err  # a note, not silence
    with pytest.raises(FileNotFoundError, match="not a finished run folder"):
        benchmarks.predict(videos, weights=DEMO_WEIGHTS, threshold_from=tmp_path)
    with pytest.raises(ValueError, match="no clean-level entry for detector 'meso4'"):
        benchmarks.predict(videos, detectors=["meso4"], threshold_from=demo_run)
    with pytest.raises(ValueError, match="threshold or threshold_from"):
        benchmarks.predict(videos, threshold=0.3, threshold_from=demo_run)


def rows_for(scores: dict[str, float | None], threshold: float = 0.5) -> list[Prediction]:
    return [Prediction(video="v.mp4", detector="meso", level=lv, p_fake=p, verdict=verdict_for(p, threshold),
                       threshold=threshold, n_frames=4 if p is not None else 0, status="ok" if p is not None else
                       "no_face", message="" if p is not None else "no_face: v.mp4", frame_scores=[p or 0.0] * 4)
            for lv, p in scores.items()]


def test_severity_profiles_find_the_lowest_flipping_severity():
    rows = rows_for({"none": 0.3, "GB:1": 0.4, "GB:3": 0.45, "GB:2": 0.6, "JPEG:2": 0.2, "JPEG:4": None,
                     "heavy": 0.9, "JPEG:5+GNC:2": 0.95})
    profiles = {p.type: p for p in severity_profiles(rows)}
    assert set(profiles) == {"GB", "JPEG"}  # named and combined levels have no severity
    assert profiles["GB"].severities == [1, 2, 3] and profiles["GB"].flips_at == 2
    assert profiles["GB"].clean_verdict == "real" and profiles["GB"].verdicts == ["real", "fake", "real"]
    assert profiles["JPEG"].flips_at is None and profiles["JPEG"].p_fake == [0.2, None]
    no_clean = severity_profiles(rows_for({"none": None, "GB:1": 0.9}))
    assert no_clean[0].flips_at is None and no_clean[0].clean_verdict is None
    table = format_table(rows, list(profiles.values()))
    assert "verdict flips at severity 2 (real -> fake" in table and "verdict real holds" in table


def test_outputs_and_figures(tmp_path):
    rows = rows_for({"none": 0.3, "GB:1": 0.4, "GB:2": 0.6, "heavy": 0.7})
    written = write_outputs(rows, severity_profiles(rows), tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == sorted([PREDICTIONS_FILE, PROFILE_FILE, "01-v-meso-frames.png", "01-v-meso-severity.png"])
    assert all(p.stat().st_size > 0 for p in written)
    assert json.loads((tmp_path / "out" / PREDICTIONS_FILE).read_text()) == [r.to_json() for r in rows]
    profile = json.loads((tmp_path / "out" / PROFILE_FILE).read_text())
    assert profile["thresholds"] == {"meso": 0.5} and profile["profiles"][0]["flips_at"] == 2


def test_cli_json_prints_only_the_rows(demo_root, tmp_path, capsys):
    video = str(sorted(demo_root.rglob("*.mp4"))[0])
    code = cli.main(["predict", video, str(tmp_path / "missing.mp4"), "--demo-weights", "--frames", str(FRAMES),
                     "--cache-dir", str(tmp_path / "cache"), "--json", "-q", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    rows = json.loads(out)
    assert [tuple(r) for r in rows] == [JSON_KEYS] * 2
    assert rows[0]["video"] == video and rows[0]["status"] == "ok" and len(rows[0]["frame_scores"]) == FRAMES
    assert rows[1]["status"] == "missing_file" and rows[1]["p_fake"] is None
    assert json.loads((tmp_path / "out" / PREDICTIONS_FILE).read_text()) == rows


def test_cli_table(demo_root, tmp_path, capsys):
    video = str(sorted(demo_root.rglob("*.mp4"))[0])
    assert cli.main(["predict", video, "--demo-weights", "--frames", str(FRAMES), "--cache-dir",
                     str(tmp_path / "cache"), "--level", "GB:1,GB:5", "-q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"video: {video}\n| level | meso |") and "| GB:5 |" in out
    assert f"meso: {FRAMES} frames scored; verdict threshold 0.5" in out and "meso GB: verdict" in out


@pytest.mark.parametrize("argv, message", [
    (["--detector", "nosuch"], "error: unknown detector 'nosuch'"),
    (["--level", "XX:9"], "error: "),
    (["--threshold-from", "/nonexistent-run"], "error: threshold run /nonexistent-run: not a finished run folder"),
    ([], "error: detector 'meso' needs weights"),
    (["--video-id", "a", "--video-id", "b"], "error: --video-id: give one per VIDEO (1), got 2"),
])
def test_cli_bad_arguments_are_one_error_line(tmp_path, capsys, argv, message):
    code = cli.main(["predict", str(tmp_path / "v.mp4"), "--cache-dir", str(tmp_path / "cache"), "-q", *argv])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith(message) and captured.err.count("\n") == 1, captured.err


def test_cli_threshold_is_checked_when_the_command_line_is_read(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["predict", "v.mp4", "--threshold", "1.5"])
    assert stop.value.code == 2
    assert "argument --threshold: must be a number in [0, 1], got 1.5" in capsys.readouterr().err
