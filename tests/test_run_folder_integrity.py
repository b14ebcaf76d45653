"""Run folders that tell the truth: one run writes a folder at a time, damaged files are refused naming file and
line, and a resume over changed data ends where a fresh run on the new data would."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import pytest

from benchmarks import runner
from benchmarks.cli import main as cli_main
from benchmarks.config import RunConfig
from benchmarks.run_folder.lock import RunFolderBusy, RunFolderLock, holder
from datasets.demo import generate_demo
from reports import run_files
from reports.run_files import read_json, read_scores
from tests.conftest import PROJECT_ROOT

HOLD = ("import sys, time; from benchmarks.run_folder.lock import RunFolderLock; "
        "RunFolderLock(sys.argv[1]).__enter__(); print('held', flush=True); time.sleep(600)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "demo"
    generate_demo(root, seed=0, n_train=2, n_test=6, frames=12)
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def config_for(root, cache_dir, out) -> RunConfig:
    return RunConfig(detectors=["meso"], levels=["none"], dataset="folder", data_root=str(root), split="test",
                     random_init=True, num_frames=4, cache_dir=cache_dir, out=str(out))


def run_args(demo, cache_dir, out) -> list:
    return ["run", "--dataset", "folder", "--data-root", demo, "--detector", "meso", "--random-init", "--frames", "4",
            "--level", "none", "--out", out, "--cache-dir", cache_dir, "-q"]


@pytest.fixture(scope="module")
def finished(demo, cache_dir, tmp_path_factory):
    """A finished run folder made by the command line; tests damage copies of it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert cli_main([str(a) for a in run_args(demo, cache_dir, out)]) == 0
    return out


def copy_of(run_dir, tmp_path):
    return shutil.copytree(run_dir, tmp_path / "run")


def cli(capsys, *args) -> tuple[int, list[str]]:
    code = cli_main([str(a) for a in args])
    return code, capsys.readouterr().err.strip().splitlines()


def holding_process(run_dir) -> subprocess.Popen:
    """Another process holding `run_dir`'s lock (as a running benchmark would)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert proc.stdout.readline().strip() == "held"
    return proc


# --- the lock ---------------------------------------------------------------------------------------------------

def test_a_run_on_a_folder_in_use_fails_at_once_naming_the_holder(demo, cache_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    proc = holding_process(out)
    try:
        assert f"pid {proc.pid} on " in holder(out)
        started = time.monotonic()
        code, err = cli(capsys, *run_args(demo, cache_dir, out))
        assert time.monotonic() - started < 30  # no video was touched
        assert code == 2 and len(err) == 1
        assert err[0].startswith(f"error: {out} is in use by another run (pid {proc.pid} on ")
        assert not (out / run_files.SCORES_FILE).exists() and not (out / run_files.MANIFEST_FILE).exists()
    finally:
        proc.kill()
        proc.wait()


def test_kill_9_never_leaves_a_stale_lock(tmp_path):
    proc = holding_process(tmp_path)
    with pytest.raises(RunFolderBusy, match=f"pid {proc.pid}"):
        RunFolderLock(tmp_path).__enter__()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert f"pid={proc.pid}" in (tmp_path / run_files.LOCK_FILE).read_text()  # the file stays, the lock does not
    assert holder(tmp_path) is None
    with RunFolderLock(tmp_path):
        assert f"pid {os.getpid()}" in holder_from_another_process(tmp_path)
    assert holder(tmp_path) is None


def holder_from_another_process(run_dir) -> str:
    code = "import sys; from benchmarks.run_folder.lock import holder; print(holder(sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, str(run_dir)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}).stdout


def test_the_lock_is_released_when_a_run_raises(demo, cache_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / run_files.MANIFEST_FILE).write_text('{"config_fingerprint": "other"}')
    with pytest.raises(RuntimeError, match="different configuration"):
        runner.run(config_for(demo, cache_dir, out), progress=False)
    with RunFolderLock(out):  # free again in this very process
        pass


def test_report_on_a_folder_in_use_reads_it_and_warns(finished, tmp_path, capsys):
    run_dir = copy_of(finished, tmp_path)
    proc = holding_process(run_dir)
    try:
        code, err = cli(capsys, "report", run_dir, "-q")  # -q: no progress lines, the warning stays
    finally:
        proc.kill()
        proc.wait()
    assert code == 0 and len(err) == 1
    assert err[0].startswith(f"warning: {run_dir} is in use by a run that is still writing it (pid {proc.pid} on ")


# --- damaged files ----------------------------------------------------------------------------------------------

ROW = ("v1", "1", "test", "meso", "none", "0.25", "3", "ok", "", "0.25 0.25 0.25", '"{""a"": ""b""}"', "{}", "0 1 2")


def scores_file(tmp_path, *lines: str, end: str = "\n"):
    path = tmp_path / run_files.SCORES_FILE
    path.write_text(",".join(run_files.SCORE_COLUMNS) + "\n" + "\n".join(lines) + end, encoding="utf-8")
    return path


def line(**changes) -> str:
    values = dict(zip(run_files.SCORE_COLUMNS, ROW)) | changes
    return ",".join(values.values())


@pytest.mark.parametrize("bad, expected", [
    (line(), "scores.csv:3: second row for video v1, detector meso, level none (first at line 2)"),
    ("garbage", "scores.csv:3: 1 fields where the header has 13"),
    ("", "scores.csv:3: empty line"),
    (line(video_id="v2", score="high"), "scores.csv:3: score 'high' is not a number"),
    (line(video_id="v2", score="nan"), "scores.csv:3: score 'nan' is not a number (nan and inf only in skipped"),
    (line(video_id="v2", n_frames="3.5"), "scores.csv:3: n_frames '3.5' is not an integer"),
    (line(video_id="v2", status="OK!"), "scores.csv:3: status 'OK!' is not a status word"),
    (line(video_id="v2", label="fake"), "scores.csv:3: label 'fake' is not 0 (real) or 1 (fake)"),
    (line(video_id="v2", frame_scores="0.1 x"), "scores.csv:3: frame_scores 'x' is not a number"),
    (line(video_id="v2", status="no_face", score="x"), "scores.csv:3: score 'x' is not a number"),
    (line(video_id="v2", groups="[1]"), "scores.csv:3: groups '[1]' is not a JSON object"),
])
def test_strict_reader_names_file_and_line(tmp_path, bad, expected):
    path = scores_file(tmp_path, line(), bad, line(video_id="v3"))
    with pytest.raises(ValueError) as caught:
        read_scores(path)
    assert str(caught.value).startswith(f"{tmp_path}/{expected}")
    assert "\n" not in str(caught.value)


def test_strict_reader_counts_further_bad_lines_and_accepts_good_ones(tmp_path):
    path = scores_file(tmp_path, line(), "x", line(), line(video_id="v2", status="no_face", score="", n_frames="0"))
    with pytest.raises(ValueError, match=r"scores.csv:3: 1 fields .* \(and 1 more bad lines\)$"):
        read_scores(path)
    path = scores_file(tmp_path, line(), line(video_id="v2", status="no_face", score="", n_frames="0"),
                       line(video_id="v3", status="bad_output", score="nan", frame_scores="nan 0.5"))
    assert [r["status"] for r in read_scores(path)] == ["ok", "no_face", "bad_output"]


def test_unterminated_last_line_is_rejected_by_readers_and_dropped_by_a_resume(tmp_path):
    path = scores_file(tmp_path, line(), line(video_id="v2")[:20], end="")
    with pytest.raises(ValueError, match=r"scores.csv:3: unterminated last line"):
        read_scores(path)
    assert [r["video_id"] for r in read_scores(path, unterminated="drop")] == ["v1"]


@pytest.mark.parametrize("damage", ["duplicate", "garbage", "unparseable"])
def test_report_check_and_resume_refuse_a_damaged_scores_file(finished, demo, cache_dir, tmp_path, capsys, damage):
    run_dir = copy_of(finished, tmp_path)
    baseline = tmp_path / "baseline.json"
    assert cli(capsys, "baseline", run_dir, "--out", baseline)[0] == 0
    scores = run_dir / run_files.SCORES_FILE
    lines = scores.read_text().splitlines(keepends=True)
    extra = {"duplicate": lines[3], "garbage": "not,a,row\n", "unparseable": lines[3].replace(",ok,", ",0k!,")}
    scores.write_text("".join(lines[:5] + [extra[damage]] + lines[5:]))
    expected = f"error: {scores}:6: "
    for args in (["report", run_dir], ["check", run_dir, "--baseline", baseline], run_args(demo, cache_dir, run_dir)):
        code, err = cli(capsys, *args)
        assert code == 2 and len(err) == 1 and err[0].startswith(expected), (args[0], err)


def test_truncated_json_files_are_named(finished, tmp_path, capsys):
    run_dir = copy_of(finished, tmp_path)
    manifest = run_dir / run_files.MANIFEST_FILE
    manifest.write_bytes(manifest.read_bytes()[:200])
    code, err = cli(capsys, "report", run_dir)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {manifest}: not valid JSON (line "), err
    metrics = run_dir / run_files.METRICS_FILE  # `report` rewrites it first; the report reader meets it as it is
    metrics.write_bytes(metrics.read_bytes()[:200])
    with pytest.raises(ValueError, match=f"^{metrics}: not valid JSON"):
        run_files.load_run(run_dir)
    with pytest.raises(ValueError, match=f"^{tmp_path}/x.json: not valid JSON \\(line 1 column 1\\)"):
        (tmp_path / "x.json").write_text("")
        read_json(tmp_path / "x.json")


class Payload:
    def __reduce__(self):
        return (os.system, ("echo unpickled code ran",))


def test_a_training_state_with_code_in_it_is_one_error_line(demo, tmp_path):
    out = tmp_path / "meso.safetensors"
    state = out.with_suffix(".train-state.pt")
    with open(state, "wb") as handle:
        pickle.dump({"version": 1, "payload": Payload()}, handle)
    done = subprocess.run([sys.executable, "-m", "benchmarks", "train", "--dataset", "folder", "--data-root",
                           str(demo), "--frames", "4", "--epochs", "1", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("loading ")]  # progress
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {state}: refused") and "unpickled code ran" not in done.stdout
    state.write_bytes(b"PK\x03\x04 cut short")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "train", "--dataset", "folder", "--data-root",
                           str(demo), "--frames", "4", "--epochs", "1", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.returncode == 2 and f"\nerror: {state}: not a training state" in done.stderr, done.stderr


# --- a resume over changed data ---------------------------------------------------------------------------------

def test_resume_after_a_label_fix_and_a_replaced_video_equals_a_fresh_run(demo, cache_dir, tmp_path, monkeypatch,
                                                                          capsys):
    data = shutil.copytree(demo, tmp_path / "data")
    out = tmp_path / "run"
    calls = []
    original = runner.queue_video

    def interrupted(item, *args, **kwargs):
        calls.append(item.video_id)
        if len(calls) == 5:
            raise KeyboardInterrupt  # Ctrl-C during the fifth video
        return original(item, *args, **kwargs)

    monkeypatch.setattr(runner, "queue_video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(config_for(data, cache_dir, out), progress=False)
    monkeypatch.setattr(runner, "queue_video", original)
    before = {r["video_id"]: r for r in read_scores(out)}
    assert len(before) == 4 and {"real/test_000", "real/test_001"} <= before.keys()
    records = [json.loads(x) for x in (out / run_files.INPUTS_FILE).read_text().splitlines()]
    assert sorted(r["video_id"] for r in records) == sorted(before)

    table = data / "manifest.csv"
    table.write_text(table.read_text().replace("real/test_001.mp4,real,", "real/test_001.mp4,fake,"))
    shutil.copyfile(data / "real" / "test_002.mp4", data / "real" / "test_000.mp4")
    capsys.readouterr()
    runner.run(config_for(data, cache_dir, out), progress=False)
    err = capsys.readouterr().err
    assert "changed since the interrupted session: real/test_000 (file replaced): scored again" in err
    assert "changed since the interrupted session: real/test_001 (label real -> fake): scored again" in err

    fresh = tmp_path / "fresh"
    runner.run(config_for(data, cache_dir, fresh), progress=False)
    keep = ("video_id", "label", "detector", "level", "status", "n_frames", "frame_indices")
    row_set = lambda d: sorted((*(r[k] for k in keep), round(float(r["score"]), 5)) for r in read_scores(d))  # noqa: E731
    assert row_set(out) == row_set(fresh)
    resumed = {r["video_id"]: r for r in read_scores(out)}
    assert resumed["real/test_001"]["label"] == "1" and resumed["real/test_000"]["score"] != before["real/test_000"]["score"]
    assert read_json(out / "manifest.json")["dataset"]["fingerprint"] == \
        read_json(fresh / "manifest.json")["dataset"]["fingerprint"]
    assert json.loads((out / "metrics.json").read_text())["video"][0]["n_fake"] == 4


def resumable_copy(finished, demo, tmp_path):
    """A copy of the finished run and of its data, the run's configuration pointed at both."""
    data = shutil.copytree(demo, tmp_path / "data")
    run_dir = copy_of(finished, tmp_path)
    manifest = read_json(run_dir / run_files.MANIFEST_FILE)
    manifest["config"].update(data_root=str(data), out=str(run_dir))
    config = RunConfig.from_dict(manifest["config"])
    manifest["config_fingerprint"] = config.fingerprint()
    run_files.write_json(run_dir / run_files.MANIFEST_FILE, manifest)
    return data, run_dir, config


def test_videos_gone_from_the_dataset_lose_their_rows_on_resume(finished, demo, tmp_path, capsys):
    data, run_dir, config = resumable_copy(finished, demo, tmp_path)
    table = data / "manifest.csv"
    table.write_text("".join(x for x in table.read_text().splitlines(keepends=True) if "fake/test_002" not in x))
    capsys.readouterr()
    runner.run(config, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["removed from the dataset since the interrupted session: fake/test_002 (its rows are dropped)"]
    assert "fake/test_002" not in {r["video_id"] for r in read_scores(run_dir)}
    assert len(read_scores(run_dir)) == 5


def test_a_folder_without_videos_jsonl_is_checked_against_its_rows(finished, demo, tmp_path, capsys):
    data, run_dir, config = resumable_copy(finished, demo, tmp_path)
    (run_dir / run_files.INPUTS_FILE).unlink()  # as written before videos.jsonl existed
    table = data / "manifest.csv"
    table.write_text(table.read_text().replace("fake/test_000.mp4,fake,", "fake/test_000.mp4,real,"))
    capsys.readouterr()
    runner.run(config, progress=False)
    err = capsys.readouterr().err
    assert f"warning: {run_dir} has no videos.jsonl" in err
    assert "changed since the interrupted session: fake/test_000 (label fake -> real): scored again" in err
    assert {r["video_id"]: r["label"] for r in read_scores(run_dir)}["fake/test_000"] == "0"
    assert len((run_dir / run_files.INPUTS_FILE).read_text().splitlines()) == 6  # checked from now on
