"""Detector faults: outputs checked at the boundary, exceptions and hangs as `detector_error` rows, plug-in load
failures as one line. The plug-in (`tools.faults.detectors.PLUGIN_SOURCE`) scores a frame by its brightness and
misbehaves only on the frames brighter than a threshold chosen from a clean run, so exactly one video is hit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import detectors
from benchmarks import runner
from benchmarks.config import RunConfig
from benchmarks.inference.guard import DetectorFault, check_scores, check_timeout, guarded_predict
from benchmarks.inference.score_cache import ScoreCache
from datasets.demo import generate_demo
from reports import run_files
from tools.faults.detectors import PLUGIN_MODULE, PLUGIN_SOURCE, Reference, write_plugin

ROOT = Path(__file__).resolve().parents[1]
NAME = "faulty"  # the plug-in registered under a name (in this process; workers need the module:Class form)


# --- the checks on their own ----------------------------------------------------------------------------------

def test_check_scores_accepts_one_probability_per_frame():
    assert check_scores("d", np.array([0.0, 0.5, 1.0]), 3).tolist() == [0.0, 0.5, 1.0]
    assert check_scores("d", np.array([[0.25], [0.75]]), 2).tolist() == [0.25, 0.75]
    assert check_scores("d", torch.tensor([0.5, 0.1], dtype=torch.bfloat16, requires_grad=True), 2).shape == (2,)
    assert check_scores("d", [0.5], 1).dtype == np.float64
    assert check_scores("d", np.zeros(0), 0).shape == (0,)


@pytest.mark.parametrize("scores, n, message", [
    (np.full(7, 0.5), 8, "meso2: returned 7 scores for 8 frames"),
    (np.full(9, 0.5), 8, "meso2: returned 9 scores for 8 frames"),
    (np.full((4, 2), 0.5), 4, "meso2: returned scores of shape (4, 2) for 4 frames (expected (4,) or (4, 1))"),
    (np.float64(0.5), 1, "meso2: returned scores of shape () for 1 frames (expected (1,) or (1, 1))"),
    (np.array([0.1, np.nan, 0.2]), 3, "meso2: returned NaN for frame 2 of 3"),
    (np.array([0.1, 0.2, -np.inf]), 3, "meso2: returned -inf for frame 3 of 3"),
    (np.array([0.1, 1.7]), 2, "meso2: score 1.7 outside [0, 1] (frame 2 of 2)"),
    (torch.tensor([-0.5, 0.5]), 2, "meso2: score -0.5 outside [0, 1] (frame 1 of 2)"),
    (None, 2, "meso2: returned scores of shape () for 2 frames (expected (2,) or (2, 1))"),
])
def test_check_scores_refuses_anything_else(scores, n, message):
    with pytest.raises(DetectorFault) as caught:
        check_scores("meso2", scores, n)
    assert str(caught.value) == message


def test_check_scores_refuses_text():
    with pytest.raises(DetectorFault, match=r"^d: returned list, not one number per frame"):
        check_scores("d", ["a", "b"], 2)


class _Waits:
    """predict blocks until released (a hang the test can end)."""

    def __init__(self) -> None:
        self.release = __import__("threading").Event()
        self.calls = 0

    def predict(self, x):
        self.calls += 1
        self.release.wait(30)
        return np.zeros(len(x))


def test_a_timed_out_detector_is_abandoned_for_the_rest_of_the_process():
    det = _Waits()
    x = torch.zeros(2, 3, 4, 4)
    start = time.monotonic()
    with pytest.raises(DetectorFault) as caught:
        guarded_predict("slow", det, x, timeout=0.2)
    assert str(caught.value) == "slow: timed out after 0.2 s" and caught.value.timed_out
    with pytest.raises(DetectorFault) as again:
        guarded_predict("slow", det, x, timeout=0.2)
    assert str(again.value) == "slow: skipped: detector timed out earlier (after 0.2 s)"
    assert det.calls == 1 and time.monotonic() - start < 5  # not called again, not waited for again
    det.release.set()


def test_exceptions_become_faults_with_or_without_timeout():
    class Raises:
        def predict(self, x):
            raise RuntimeError("CUDA error:\n  device-side assert")

    for timeout in (None, 5.0):
        with pytest.raises(DetectorFault) as caught:
            guarded_predict("r", Raises(), torch.zeros(1, 3, 2, 2), timeout=timeout)
        assert str(caught.value) == "r: RuntimeError: CUDA error: device-side assert"
        assert not caught.value.timed_out


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1"])
def test_timeout_must_be_positive(bad, tmp_path):
    with pytest.raises(ValueError, match="detector timeout must be a positive number of seconds"):
        check_timeout(bad)
    with pytest.raises(ValueError, match="detector timeout"):
        runner.run(RunConfig(detector_timeout=bad, out=str(tmp_path / "run")), progress=False)
    assert not (tmp_path / "run").exists()


def test_timeout_is_execution_only():
    assert RunConfig(detector_timeout=3.0).fingerprint() == RunConfig().fingerprint()


# --- whole runs with the plug-in ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 6-video demo set, the plug-in module on sys.path and registered as NAME, and the clean run."""
    root = tmp_path_factory.mktemp("detector-faults")
    data = root / "demo"
    generate_demo(data, seed=0, n_train=0, n_test=6, frames=12)
    write_plugin(root / "plugin")
    sys.path.insert(0, str(root / "plugin"))
    detectors.register(NAME, f"{PLUGIN_MODULE}:Bright", "fault-test plug-in")
    clean = runner.run(config(root, data, root / "clean"), progress=False)
    yield root, data, Reference(run_files.read_scores(clean.run_dir))
    detectors.unregister(NAME)
    sys.path.remove(str(root / "plugin"))
    sys.modules.pop(PLUGIN_MODULE, None)


def config(root: Path, data: Path, out: Path, name: str = NAME, **options) -> RunConfig:
    extra = {k: options.pop(k) for k in ("batch_size", "detector_timeout", "workers", "weights", "random_init")
             if k in options}
    return RunConfig(**{**dict(detectors=[name], levels=["none"], dataset="folder", data_root=str(data),
                                random_init=True, num_frames=4, bootstrap=0, cache_dir=str(root / "cache"),
                                out=str(out), workers=1, score_cache=False, batch_size=8,
                                detector_options={name: options} if options else {}), **extra})


def faulty_run(setup, out: Path, kind: str, **extra) -> tuple[Reference, dict[str, dict]]:
    root, data, ref = setup
    result = runner.run(config(root, data, out, fault=kind, threshold=ref.threshold, **extra), progress=False)
    assert result.complete
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "complete"
    rows = {r["video_id"]: r for r in run_files.read_scores(result.run_dir)}
    assert set(rows) == set(ref.rows)  # no video missing
    return ref, rows


def assert_others_unchanged(ref: Reference, rows: dict, spare: set[str] = frozenset()) -> None:
    for video, row in rows.items():
        if video == ref.target or video in spare:
            continue
        assert row["status"] == "ok", (video, row["message"])
        assert float(row["score"]) == pytest.approx(float(ref.rows[video]["score"]), abs=1e-9)
        assert row["frame_scores"] == ref.rows[video]["frame_scores"]


@pytest.mark.parametrize("kind, expected", [
    ("fewer", "faulty: returned {n_less} scores for {n} frames"),
    ("more", "faulty: returned {n_more} scores for {n} frames"),
    ("nan-score", "faulty: returned NaN for frame {hit} of {n}"),
    ("out-of-range", "faulty: score 1.7 outside [0, 1] (frame {hit} of {n})"),
    ("raise", "faulty: RuntimeError: cannot score a bright frame"),
])
def test_a_faulty_video_gets_detector_error_and_the_others_keep_their_scores(setup, tmp_path, kind, expected):
    ref, rows = faulty_run(setup, tmp_path / "run", kind)
    target = rows[ref.target]
    n = ref.n_frames
    assert (target["status"], target["score"], target["n_frames"], target["frame_scores"]) == \
        ("detector_error", "", "0", "")
    assert target["message"] == expected.format(n=n, n_less=n - 1, n_more=n + 1, hit=ref.first_hit)
    assert_others_unchanged(ref, rows)  # batches of 8 hold two videos: the neighbour's scores are its own
    entry = json.loads((tmp_path / "run" / "metrics.json").read_text())["video"][0]
    assert (entry["n_scored"], entry["n_skipped"]) == (len(rows) - 1, 1)
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"`{ref.target}`" in report and target["message"] in report


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_batch_boundaries_do_not_spread_a_fault(setup, tmp_path, batch_size):
    """Segments cut across batches (3), one frame per batch (1), every video in one batch (64)."""
    ref, rows = faulty_run(setup, tmp_path / "run", "more", batch_size=batch_size)
    assert rows[ref.target]["status"] == "detector_error"
    assert rows[ref.target]["message"].startswith("faulty: returned ")
    assert_others_unchanged(ref, rows)


def test_a_hang_times_out_and_the_detector_is_abandoned(setup, tmp_path):
    start = time.monotonic()
    ref, rows = faulty_run(setup, tmp_path / "run", "hang", detector_timeout=0.5)
    assert time.monotonic() - start < 60  # the hung call waits 120 s
    assert rows[ref.target]["message"] == "faulty: timed out after 0.5 s"
    failed = {v for v, r in rows.items() if r["status"] != "ok"}
    for video in failed - {ref.target}:  # its batch neighbour, and every video scored after the hang
        assert rows[video]["message"] in ("faulty: timed out after 0.5 s",
                                          "faulty: skipped: detector timed out earlier (after 0.5 s)")
    assert_others_unchanged(ref, rows, spare=failed)


def test_clip_models_are_checked_too(setup, tmp_path):
    root, data, _ = setup
    spec = f"{PLUGIN_MODULE}:Clip"
    result = runner.run(config(root, data, tmp_path / "bad", spec, fault="fewer", threshold=-1.0), progress=False)
    rows = run_files.read_scores(result.run_dir)
    assert {(r["status"], r["message"]) for r in rows} == {("detector_error", f"{spec}: returned 3 scores for 4 frames")}
    good = runner.run(config(root, data, tmp_path / "good", spec), progress=False)
    assert {r["status"] for r in run_files.read_scores(good.run_dir)} == {"ok"}


def test_failed_rows_are_not_stored_in_the_score_cache(setup, tmp_path):
    root, data, ref = setup
    weights = tmp_path / "bright.bin"
    weights.write_bytes(b"weights")  # a weight file makes the plug-in cacheable
    cfg = config(root, data, tmp_path / "run", fault="nan-score", threshold=ref.threshold, weights={NAME: str(weights)},
                 random_init=False)
    cfg.score_cache, cfg.cache_dir = True, str(tmp_path / "cache")
    rows = run_files.read_scores(runner.run(cfg, progress=False).run_dir)
    assert sum(r["status"] == "detector_error" for r in rows) == 1
    assert ScoreCache(tmp_path / "cache").entries() == len(rows) - 1


# --- through the CLI, with worker processes -------------------------------------------------------------------

def cli(args: list[str], cwd: Path, plugin: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)]),
           "DFBENCH_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_two_workers_score_around_a_raising_plug_in(setup, tmp_path):
    root, data, ref = setup
    spec = f"{PLUGIN_MODULE}:Bright"
    done = cli(["run", "--dataset", "folder", "--data-root", str(data), "--detector", spec, "--random-init",
                "--frames", "4", "--level", "none", "--out", str(tmp_path / "run"), "--workers", "2", "--bootstrap",
                "0", "--no-score-cache", "-q", "--detector-option", "fault=raise",
                "--detector-option", f"threshold={ref.threshold!r}"], tmp_path, root / "plugin")
    assert done.returncode == 0, done.stderr
    rows = {r["video_id"]: r for r in run_files.read_scores(tmp_path / "run")}
    assert rows[ref.target]["message"] == f"{spec}: RuntimeError: cannot score a bright frame"
    assert_others_unchanged(ref, rows)
    assert "1 row(s) with status detector_error" in done.stdout
    assert f"  {ref.target} [none]: {spec}: RuntimeError: cannot score a bright frame" in done.stdout


@pytest.mark.parametrize("value", ["0", "-2", "soon", "inf"])
def test_cli_refuses_a_bad_timeout(tmp_path, value):
    done = cli(["run", "--detector-timeout", value], tmp_path, tmp_path)
    assert done.returncode == 2
    assert f"--detector-timeout: must be a positive number of seconds, got {value!r}" in done.stderr


# --- plug-ins that cannot be built ----------------------------------------------------------------------------

def test_a_syntax_error_names_the_detector_and_the_line(tmp_path, monkeypatch):
    path = tmp_path / "broken_syntax.py"
    path.write_text("x = 1\ndef broken(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(detectors.DetectorLoadError) as caught:
        detectors.create("broken_syntax:Bright", random_init=True)
    assert str(caught.value) == f"detector 'broken_syntax:Bright': SyntaxError: invalid syntax (at {path}:2)"


def test_registered_factories_failing_are_one_line(tmp_path, monkeypatch):
    path = tmp_path / "failing_factory.py"
    path.write_text("import math\n\n\ndef create(weights=None, random_init=False):\n    return math.sqrt(-1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    detectors.register("sqrt", "failing_factory:create")
    detectors.register("missing", "no_such_module_xyz.sub:create")
    try:
        with pytest.raises(detectors.DetectorLoadError) as caught:
            detectors.create("sqrt", random_init=True)
        assert str(caught.value) == f"detector 'sqrt': ValueError: math domain error (at {path}:5)"
        with pytest.raises(detectors.DetectorLoadError, match=r"^detector 'missing': ModuleNotFoundError: No module "
                           r"named 'no_such_module_xyz'$"):
            detectors.create("missing", random_init=True)
        with pytest.raises(detectors.CheckpointError, match="needs weights"):  # a weights problem stays as it was
            detectors.create("failing_factory:create")
    finally:
        detectors.unregister("sqrt")
        detectors.unregister("missing")
        sys.modules.pop("failing_factory", None)


def test_cli_prints_one_line_and_the_traceback_only_with_debug(setup, tmp_path):
    path = write_plugin(tmp_path / "plugin", PLUGIN_SOURCE.replace("self.model = torch.nn.Conv2d(3, 1, 1)",
                                                                   'self.model = torch.nn.Conv2d(3, 1, 1, padding_mode="mirror")'))
    line = [text.strip() for text in PLUGIN_SOURCE.splitlines()].index("self.model = torch.nn.Conv2d(3, 1, 1)") + 1
    args = ["run", "--dataset", "folder", "--data-root", str(setup[1]), "--detector",
            f"{PLUGIN_MODULE}:Bright", "--random-init", "--level", "none", "--out", str(tmp_path / "run"),
            "-q"]  # no progress lines: the error is all stderr holds
    done = cli(args, tmp_path, path.parent)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: detector '{PLUGIN_MODULE}:Bright': ValueError: padding_mode must be ")
    assert done.stderr.rstrip().endswith(f"(at {path}:{line})") and done.stderr.count("\n") == 1
    debug = cli(["--debug", *args], tmp_path, path.parent)
    assert debug.returncode == 2 and "Traceback (most recent call last)" in debug.stderr
    last = debug.stderr.rstrip().splitlines()[-1]  # the same line after the traceback (set order aside)
    assert last.startswith(f"error: detector '{PLUGIN_MODULE}:Bright': ValueError: ") and last.endswith(f":{line})")
