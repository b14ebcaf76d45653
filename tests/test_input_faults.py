"""Bad inputs caught early and named: numeric arguments refused at parse time with their range, a gate that would
check nothing, files reached through symlinks outside the data root, symlink loops, dangling links, directories
named like videos, and NUL bytes in manifest paths (refused before any detector loads)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import benchmarks
import datasets
from benchmarks import runner
from benchmarks.cli import build_parser, main
from benchmarks.config import FaceSettings, RunConfig
from benchmarks.pipeline.decode import write_video
from benchmarks.training import train as training
from reports.run_files import read_scores
from tests.conftest import PROJECT_ROOT
from tests.test_reports import make_run

INT_GE_1, INT_GE_0 = "must be an integer >= 1", "must be an integer >= 0"
UNIT, POSITIVE, NON_NEGATIVE = "must be a number in [0, 1]", "must be a number > 0", "must be a number >= 0"

BAD_ARGUMENTS = [
    ("run", "--frames", "0", INT_GE_1), ("run", "--frames", "-3", INT_GE_1), ("run", "--frames", "x", INT_GE_1),
    ("run", "--bootstrap", "-5", INT_GE_0), ("run", "--max-videos", "0", INT_GE_1),
    ("run", "--max-videos", "-1", INT_GE_1), ("run", "--batch-size", "0", INT_GE_1),
    ("run", "--workers", "0", INT_GE_1), ("run", "--actors", "-1", INT_GE_0), ("run", "--seed", "-1", INT_GE_0),
    ("run", "--detect-every", "0", INT_GE_1), ("run", "--smooth", "0", INT_GE_1),
    ("run", "--face-threshold", "1.5", UNIT), ("run", "--face-threshold", "nan", UNIT),
    ("run", "--margin", "0", POSITIVE), ("run", "--margin", "inf", POSITIVE), ("run", "--sample", "0", INT_GE_1),
    ("run", "--dataset-seed", "-2", INT_GE_0),
    ("train", "--epochs", "0", INT_GE_1), ("train", "--batch-size", "0", INT_GE_1), ("train", "--lr", "0", POSITIVE),
    ("train", "--weight-decay", "-0.1", NON_NEGATIVE), ("train", "--warmup-epochs", "-1", NON_NEGATIVE),
    ("train", "--min-lr-ratio", "2", UNIT), ("train", "--freeze-backbone-epochs", "-1", INT_GE_0),
    ("train", "--backbone-lr-mult", "-1", NON_NEGATIVE), ("train", "--patience", "-1", INT_GE_0),
    ("train", "--augment-p", "1.5", UNIT), ("train", "--val-fraction", "0", "must be a number in (0, 1)"),
    ("train", "--val-fraction", "1", "must be a number in (0, 1)"), ("train", "--workers", "0", INT_GE_1),
    ("train", "--seed", "-1", INT_GE_0), ("train", "--frames", "0", INT_GE_1),
    ("check", "--max-drop", "1.5", UNIT), ("check", "--max-drop", "-0.1", UNIT),
    ("check", "--max-relative-drop", "-1", NON_NEGATIVE), ("check", "--resamples", "0", INT_GE_1),
    ("check", "--seed", "-1", INT_GE_0), ("report", "--bootstrap", "-1", INT_GE_0), ("report", "--seed", "-1", INT_GE_0),
    ("gallery", "--video", "-1", INT_GE_0), ("gallery", "--frame", "-1", INT_GE_0),
    ("gallery", "--frames", "0", INT_GE_1), ("gallery", "--columns", "0", INT_GE_1),
    ("datasets check", "--sample", "0", INT_GE_1),
]
REQUIRED = {"check": ["RUN", "--baseline", "B.json"], "report": ["RUN"], "datasets check": ["--dataset", "folder"]}


def _parse(command: str, *flags: str):
    return build_parser().parse_args([*command.split(), *REQUIRED.get(command, []), *flags])


@pytest.mark.parametrize("command,flag,value,message", BAD_ARGUMENTS,
                         ids=[f"{c}{f}={v}".replace(" ", "-") for c, f, v, _ in BAD_ARGUMENTS])
def test_numeric_argument_out_of_range_is_a_parse_error_with_the_range(command, flag, value, message, capsys):
    with pytest.raises(SystemExit) as stop:
        _parse(command, f"{flag}={value}")
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {message}" in err and value in err


@pytest.mark.parametrize("command,flags", [
    ("run", ["--frames", "1", "--bootstrap", "0", "--actors", "0", "--seed", "0", "--face-threshold", "1"]),
    ("train", ["--val-fraction", "0.5", "--lr", "1e-5", "--patience", "0", "--augment-p", "0"]),
    ("check", ["--max-drop", "0"]), ("check", ["--max-drop", "1"]), ("gallery", ["--video", "0"]),
])
def test_values_at_the_edges_of_the_ranges_are_accepted(command, flags):
    args = _parse(command, *flags)
    assert args.handler is not None


def test_a_parse_error_imports_no_torch():
    code = ("import sys\nfrom benchmarks.cli import main\ntry:\n    main(['run', '--frames', '0'])\n"
            "except SystemExit as e:\n    assert e.code == 2\nassert 'torch' not in sys.modules, 'torch imported'\n"
            "assert 'sklearn' not in sys.modules, 'sklearn imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "argument --frames: must be an integer >= 1, got 0" in done.stderr


@pytest.mark.parametrize("field,value,message", [
    ("num_frames", 0, "num_frames must be an integer >= 1, got 0"),
    ("bootstrap", -5, "bootstrap must be an integer >= 0, got -5"),
    ("max_videos", 0, "max_videos must be an integer >= 1, got 0"),
    ("batch_size", -1, "batch_size must be an integer >= 1, got -1"),
    ("seed", -1, "seed must be an integer >= 0, got -1"), ("workers", 0, "workers must be an integer >= 1, got 0"),
    ("actors", -2, "actors must be an integer >= 0"), ("num_frames", 2.5, "num_frames must be an integer >= 1"),
])
def test_run_config_refuses_what_the_cli_refuses(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunConfig(**{field: value})


def test_library_configs_accept_numpy_integers_and_check_their_own_ranges():
    assert RunConfig(num_frames=np.int64(4), max_videos=None).num_frames == 4
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\], got 2"):
        FaceSettings(threshold=2)
    with pytest.raises(ValueError, match="lr must be a number > 0, got 0"):
        training.TrainConfig(lr=0).validate()
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \(0, 1\), got 1.0"):
        training.TrainConfig(val_fraction=1.0).validate()


# --- the gate ---------------------------------------------------------------------------------------------------

@pytest.fixture
def gate_run(tmp_path) -> tuple[Path, Path]:
    run = make_run(tmp_path / "run", detectors=("meso",), levels=("none", "heavy"), n=20, n_boot=0)
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", str(run), "--out", str(baseline)]) == 0
    return run, baseline


def _edited(baseline: Path, edit) -> Path:
    data = json.loads(baseline.read_text())
    edit(data)
    out = baseline.with_name("edited.json")
    out.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize("case,flags,message", [
    ("empty", [], "has no detector x level entries: nothing to check"),
    ("detector without levels", [], "has no detector x level entries: nothing to check"),
    ("typo level", ["--levels", "none,haevy"], "has no level 'haevy' (did you mean 'heavy'?); its levels: none, heavy"),
    ("empty levels", ["--levels", ","], "--levels: empty"),
    ("metric the baseline lacks", [], "has no metric 'auc' for meso x heavy"),
    ("typo metric", ["--metrics", "acu"], "--metrics: unknown acu (did you mean 'auc'?)"),
    ("detector not in the run", [], "detector(s) xception of baseline"),
])
def test_a_gate_that_would_check_nothing_fails_with_exit_2(gate_run, case, flags, message, capsys):
    run, baseline = gate_run
    edits = {"empty": lambda d: d.update(detectors={}),
             "detector without levels": lambda d: d["detectors"].update(meso={}),
             "metric the baseline lacks": lambda d: d["detectors"]["meso"]["heavy"].pop("auc"),
             "detector not in the run": lambda d: d.update(detectors={"xception": d["detectors"]["meso"]})}
    path = _edited(baseline, edits[case]) if case in edits else baseline
    assert main(["check", str(run), "--baseline", str(path), *flags]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "passed" not in captured.out
    if case == "detector not in the run":
        assert f"not in run {run}; it has meso" in captured.err


def test_the_library_check_refuses_a_check_of_nothing(gate_run):
    run, baseline = gate_run
    with pytest.raises(ValueError, match="nothing to check"):
        benchmarks.check(run, {"schema": 1, "detectors": {}}, ["auc"])
    with pytest.raises(ValueError, match="did you mean 'heavy'"):
        benchmarks.check(run, benchmarks.load_baseline(baseline), ["auc"], only_levels=["Heavy"])
    verdicts = benchmarks.check(run, benchmarks.load_baseline(baseline), ["auc"], only_levels=["heavy"])
    assert [(v.level, v.ok) for v in verdicts] == [("heavy", True)]


# --- paths ------------------------------------------------------------------------------------------------------

def tiny_video(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, np.full((3, 16, 16, 3), value, np.uint8), fps=5)


@pytest.fixture
def escaping(tmp_path) -> Path:
    """A manifest dataset whose fake/ folder is a symlink to videos outside the root (line 3 is the first fake)."""
    root, outside = tmp_path / "data", tmp_path / "elsewhere"
    tiny_video(root / "real" / "a.mp4", 40)
    tiny_video(root / "real" / "b.mp4", 60)
    tiny_video(outside / "c.mp4", 200)
    tiny_video(outside / "d.mp4", 220)
    (root / "fake").symlink_to(outside, target_is_directory=True)
    (root / "manifest.csv").write_text("path,label\nreal/a.mp4,real\nfake/c.mp4,fake\nreal/b.mp4,real\n"
                                       "fake/d.mp4,fake\n")
    return root


def _no_models(monkeypatch) -> None:
    """Loading a detector is the heavy work bad paths must come before: any call fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("detectors loaded before the bad input was refused")
    monkeypatch.setattr(runner, "load_detectors", refuse)
    monkeypatch.setattr(training.detectors, "create", refuse)


def _config(root: Path, tmp_path: Path, **extra) -> RunConfig:
    return RunConfig(detectors=["meso"], levels=["none"], dataset="folder", data_root=str(root), random_init=True,
                     num_frames=2, bootstrap=0, cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"),
                     faces=FaceSettings(detector="none"), score_cache=False, **extra)


def test_a_run_refuses_a_file_reached_through_a_symlink_outside_the_root(escaping, tmp_path, monkeypatch):
    _no_models(monkeypatch)
    with pytest.raises(datasets.DatasetError) as error:
        runner.run(_config(escaping, tmp_path), progress=False)
    message = str(error.value)
    assert f"{escaping / 'manifest.csv'}:3: 'fake/c.mp4' resolves to " in message
    assert "outside the data root" in message and "(and 1 more)" in message and "--follow-symlinks" in message
    assert not (tmp_path / "run").exists()


def test_the_cli_run_names_the_escape_and_exits_2(escaping, tmp_path, capsys):
    assert main(["run", "--dataset", "folder", "--data-root", str(escaping), "--random-init", "--frames", "2",
                 "--level", "none", "--workers", "1", "--out", str(tmp_path / "run"), "-q"]) == 2
    assert "manifest.csv:3: 'fake/c.mp4' resolves to" in capsys.readouterr().err


def test_follow_symlinks_scores_the_files_outside_the_root(escaping, tmp_path):
    result = runner.run(_config(escaping, tmp_path, follow_symlinks=True), progress=False)
    rows = read_scores(result.run_dir)
    assert sorted((r["video_id"], r["status"]) for r in rows) == [
        ("fake/c", "ok"), ("fake/d", "ok"), ("real/a", "ok"), ("real/b", "ok")]
    assert _config(escaping, tmp_path, follow_symlinks=True).fingerprint() == _config(escaping, tmp_path).fingerprint()


def test_train_refuses_the_escape_before_building_the_detector(escaping, tmp_path, monkeypatch):
    _no_models(monkeypatch)
    config = training.TrainConfig(dataset="folder", data_root=str(escaping), split="test", num_frames=2,
                                  cache_dir=str(tmp_path / "cache"))
    with pytest.raises(datasets.DatasetError, match="manifest.csv:3: 'fake/c.mp4' resolves to"):
        training.train(config, tmp_path / "w.safetensors", log=lambda msg: None)


def test_datasets_check_lists_each_escape_and_follow_symlinks_notes_them(escaping, capsys):
    assert main(["datasets", "check", "--dataset", "folder", "--data-root", str(escaping), "--no-duplicates"]) == 1
    out = capsys.readouterr().out
    assert "escapes root: 2\n" in out and "manifest.csv:3: 'fake/c.mp4' resolves to" in out
    assert "manifest.csv:5: 'fake/d.mp4' resolves to" in out and "missing: none" in out
    assert main(["datasets", "check", "--dataset", "folder", "--data-root", str(escaping), "--no-duplicates",
                 "--follow-symlinks"]) == 0
    out = capsys.readouterr().out
    assert "note: 2 video(s) outside the data root through symlinks" in out and "escapes root: none" in out


@pytest.fixture
def odd_scan(tmp_path) -> Path:
    """real/ + fake/ with a directory named x.mp4, a dangling link, a two-link loop and a link back to the root."""
    root = tmp_path / "scan"
    tiny_video(root / "real" / "a.mp4", 40)
    tiny_video(root / "fake" / "b.mp4", 200)
    (root / "real" / "x.mp4").mkdir()
    (root / "fake" / "gone.mp4").symlink_to("nowhere.mp4")
    (root / "fake" / "loop1.mp4").symlink_to("loop2.mp4")
    (root / "fake" / "loop2.mp4").symlink_to("loop1.mp4")
    (root / "real" / "up").symlink_to("..", target_is_directory=True)
    return root


def test_a_folder_scan_keeps_what_it_cannot_read_as_items(odd_scan):
    dataset = datasets.open("folder", odd_scan)
    assert sorted(item.video_id for item in dataset) == ["fake/b", "fake/gone", "fake/loop1", "fake/loop2",
                                                        "real/a", "real/x"]
    assert any(note.startswith("real/up/: links to a folder") for note in dataset.notes)
    kinds = {p.item.video_id: p.kind for p in datasets.audit_paths(dataset, dataset.root)}
    assert kinds == {"real/x": "not_a_file", "fake/gone": "dangling_link", "fake/loop1": "symlink_loop",
                     "fake/loop2": "symlink_loop"}


def test_datasets_check_reports_loops_dangling_links_and_non_files_one_line_each(odd_scan, capsys):
    assert main(["datasets", "check", "--dataset", "folder", "--data-root", str(odd_scan), "--no-duplicates"]) == 1
    out = capsys.readouterr().out
    assert "symlink loop: 2\n  fake/loop1: 'fake/loop1.mp4' is a symlink loop" in out
    assert "dangling link: 1\n  fake/gone: 'fake/gone.mp4' is a symlink to 'nowhere.mp4', which does not exist" in out
    assert "not a file: 1\n  real/x: 'real/x.mp4' is a directory" in out
    assert "missing: none" in out and "unreadable: none" in out and "note: real/up/: links to a folder" in out


def test_a_run_gives_each_unreadable_scan_entry_a_status_row(odd_scan, tmp_path):
    result = runner.run(_config(odd_scan, tmp_path), progress=False)
    status = {r["video_id"]: r["status"] for r in read_scores(result.run_dir)}
    assert status == {"real/a": "ok", "fake/b": "ok", "real/x": "unreadable", "fake/gone": "missing_file",
                      "fake/loop1": "missing_file", "fake/loop2": "missing_file"}


# --- NUL bytes --------------------------------------------------------------------------------------------------

def test_a_nul_byte_in_a_manifest_path_is_named_with_its_line_before_any_detector_loads(tmp_path, monkeypatch):
    root = tmp_path / "data"
    tiny_video(root / "real" / "a.mp4", 40)
    tiny_video(root / "fake" / "b.mp4", 200)
    (root / "manifest.csv").write_text("path,label\nreal/a.mp4,real\nfa\x00ke/b.mp4,fake\n")
    _no_models(monkeypatch)
    with pytest.raises(datasets.DatasetError) as error:
        runner.run(_config(root, tmp_path), progress=False)
    assert str(error.value) == f"{root / 'manifest.csv'}:3: path 'fa\\x00ke/b.mp4' contains a NUL byte"


def test_a_nul_byte_from_any_reader_is_refused_with_where_it_was_listed(tmp_path):
    item = datasets.VideoItem("v", tmp_path / "v\x00.mp4", 1, origin="list.txt:7")
    with pytest.raises(datasets.DatasetError, match="^list.txt:7: path 'v\\\\x00.mp4' contains a NUL byte$"):
        datasets.check_inside_root([item], tmp_path)


def test_symlinks_inside_the_root_are_fine(tmp_path):
    root = tmp_path / "data"
    tiny_video(root / "store" / "a.mp4", 40)
    (root / "real").mkdir()
    os.symlink(root / "store" / "a.mp4", root / "real" / "a.mp4")
    assert datasets.check_inside_root(datasets.open("folder", root), root) == []
