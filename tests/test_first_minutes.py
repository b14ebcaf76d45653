"""Issue 17, the first ten minutes: mistakes refused before any worker or torch starts, with a suggestion; progress on
stderr only (nothing with -q, stdout the results); `check` refusing a baseline of another protocol; `datasets list`
in flags; the gallery stored once."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest

import datasets
import perturbations
from benchmarks.cli import main
from reports.run_files import FIGURES_DIR, GALLERY_FILE, MANIFEST_FILE

from .conftest import PROJECT_ROOT

# Runs `main(argv)` in a fresh interpreter and reports what it started: torch, the forkserver, child processes.
PROBE = """
import json, multiprocessing, sys
from benchmarks.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "torch": "torch" in sys.modules,
                  "forkserver": "multiprocessing.forkserver" in sys.modules,
                  "children": len(multiprocessing.active_children())}))
"""


@pytest.mark.parametrize("flags,suggestion", [
    (["--detector", "mesoo"], "did you mean 'meso'"),
    (["--level", "heavvy"], "did you mean 'heavy'"),
    (["--level", "flip,GB:3+JPG:5"], "did you mean 'JPEG'"),
    (["--dataset", "demp"], "did you mean 'demo'"),
    (["--dataset-option", "n_tset=4"], "did you mean 'n_test'"),
])
def test_a_misspelled_name_is_refused_before_torch_or_any_worker_starts(tmp_path, flags, suggestion):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", PROBE, "run", *flags, "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "DFBENCH_CACHE_DIR": str(tmp_path)})
    started = json.loads(done.stdout.strip().splitlines()[-1])
    lines = done.stderr.strip().splitlines()
    assert started["code"] == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert suggestion in lines[0]
    assert "unknown step type 'heavvy'" not in lines[0]  # a misspelled level is a level, not a step type
    assert not started["torch"] and not started["forkserver"] and started["children"] == 0, started
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no run folder, no demo data


@pytest.mark.parametrize("flags,message", [
    (["--weights", "missing.h5"], "weights for 'meso' (--weights): 'missing.h5' does not exist"),
    (["--data-root", "no/such/folder", "--dataset", "folder"], "data root 'no/such/folder' (--data-root) does not"),
    (["--detector", "timm:"], "give a timm model name after 'timm:'"),
    (["--detector", "no_such_package.models:Det"], "no module named 'no_such_package'"),
    (["--face-detector", "yunet"], "needs its model file: --face-model"),
])
def test_files_and_plugin_names_are_checked_first_in_one_line(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *flags, "--out", str(tmp_path / "run"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["run", "--out", str(tmp_path / "taken"), "-q"]) == 2
    assert "(--out) is a file" in capsys.readouterr().err


def test_the_level_message_names_the_unknown_word_as_a_level_with_suggestions():
    with pytest.raises(ValueError) as caught:
        perturbations.expand("none,heavvy")
    message = str(caught.value)
    assert "unknown perturbation level 'heavvy': neither a named level nor a step type" in message
    assert "did you mean 'heavy'?" in message and "step type 'heavvy'" not in message
    with pytest.raises(ValueError, match="not a DeeperForensics group.*did you mean 'df:mix'"):
        perturbations.expand("df:mxi")


def test_datasets_list_prints_flags_not_python_values(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "--parts VALUE" in out and "--dataset-seed VALUE" in out and "--dataset-option n_test=VALUE" in out
    assert " = None" not in out and "parts =" not in out


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A two-video demo generated for this module and two runs on it (with and without -q): (folder, stdout,
    stderr) each."""
    root = tmp_path_factory.mktemp("first-minutes")
    argv = ["run", "--dataset-option", "n_train=0", "--dataset-option", "n_test=2", "--dataset-option", "frames=6",
            "--frames", "2", "--workers", "1", "--bootstrap", "10", "--level", "none"]
    captured = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DFBENCH_CACHE_DIR", str(root / "cache"))
        for name, quiet in (("run", []), ("quiet", ["-q"])):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*argv, "--out", str(root / name), *quiet])
            assert code == 0, err.getvalue()
            captured.append((root / name, out.getvalue(), err.getvalue()))
    return captured


@pytest.mark.slow
def test_every_phase_reports_on_stderr_and_stdout_holds_only_the_results(small_run):
    run_dir, stdout, stderr = small_run[0]
    for phase in ("loading torch and the pipeline ...", "generating dataset demo (once, then cached)",
                  "loading meso ...", f"videos -> {run_dir}", "metrics with 10 bootstrap resamples",
                  "gallery and the hardest videos' faces ...", "report and figures ..."):
        assert phase in stderr, phase
        assert phase not in stdout
    assert stdout.startswith("| metric | none |") and "videos scored (real/fake) | 2 (1/1)" in stdout
    assert stderr.index("generating dataset demo") < stderr.index("videos ->") < stderr.index("metrics with")


@pytest.mark.slow
def test_quiet_prints_no_progress_at_all(small_run):
    _, stdout, stderr = small_run[1]
    assert stderr == "" and stdout.startswith("| metric | none |")


@pytest.mark.slow
def test_the_gallery_is_stored_once_and_the_report_links_it(small_run):
    run_dir = small_run[0][0]
    assert (run_dir / GALLERY_FILE).is_file() and not (run_dir / FIGURES_DIR / GALLERY_FILE).exists()
    assert f"]({GALLERY_FILE})" in (run_dir / "report.md").read_text()
    assert main(["report", str(run_dir), "--format", "html", "-q"]) == 0
    assert not (run_dir / FIGURES_DIR / GALLERY_FILE).exists()
    assert f'src="{GALLERY_FILE}"' not in (run_dir / "report.html").read_text()  # inlined


@pytest.mark.slow
def test_check_refuses_a_baseline_of_other_frames_naming_the_field(small_run, tmp_path, capsys):
    run_dir = small_run[0][0]
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", str(run_dir), "--out", str(baseline)]) == 0
    data = json.loads(baseline.read_text())
    assert data["protocol"]["frames"] == 2 and data["protocol"]["dataset.generator"]["n_test"] == 2
    assert main(["check", str(run_dir), "--baseline", str(baseline)]) == 0  # the same protocol
    data["protocol"]["frames"] = 32
    baseline.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", str(run_dir), "--baseline", str(baseline)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differ in protocol: frames (baseline 32, run 2)" in err[0], err
    assert main(["check", str(run_dir), "--baseline", str(baseline), "--allow-protocol-mismatch"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("WARNING: ") and "frames (baseline 32, run 2)" in captured.err
    assert "**WARNING: " in captured.out  # atop the verdict table (and the CI step summary)
    del data["protocol"]
    baseline.write_text(json.dumps(data))
    assert main(["check", str(run_dir), "--baseline", str(baseline)]) == 0
    assert "records no protocol" in capsys.readouterr().err


def test_report_and_check_on_a_folder_that_is_not_a_run_say_so(tmp_path, capsys):
    baseline = PROJECT_ROOT / "baselines" / "demo-meso.json"
    for argv in (["report", str(tmp_path)], ["check", str(tmp_path), "--baseline", str(baseline)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: {tmp_path}: not a run folder (no {MANIFEST_FILE})"], err


def test_the_shipped_baseline_records_the_ci_protocol():
    protocol = json.loads((PROJECT_ROOT / "baselines" / "demo-meso.json").read_text())["protocol"]
    assert protocol["frames"] == 8 and protocol["dataset"] == "demo" and protocol["dataset.videos"] == 32
    assert set(protocol) >= {"sampling", "faces.margin", "weights.meso", "seed", "level.heavy"}


def test_a_new_data_root_is_refused_unless_the_reader_generates_its_data(tmp_path):
    datasets.check_root("demo", tmp_path / "new-demo")  # the demo is generated there
    with pytest.raises(datasets.DatasetError, match="does not exist or is not a folder"):
        datasets.check_root("folder", tmp_path / "new-demo")
    assert not (tmp_path / "new-demo").exists()
