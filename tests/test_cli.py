"""The command line as a user types it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.cli import main
from datasets.demo import generate_demo
from tests.conftest import PROJECT_ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "demo"
    generate_demo(root, seed=1, n_train=2, n_test=4, frames=8)
    return root


def test_list_shows_every_registry():
    out = cli("list")
    assert out.returncode == 0, out.stderr
    for name in ("meso", "meso4", "demo", "folder", "none", "flip", "heavy"):
        assert f"  {name} " in out.stdout


def test_help_texts_describe_the_run_command():
    out = cli("run", "--help")
    assert out.returncode == 0
    for flag in ("--detector", "--level", "--weights", "--random-init", "--dataset", "--data-root", "--out", "--fresh"):
        assert flag in out.stdout


def test_missing_weights_is_a_one_line_error(tiny_demo, tmp_path):
    out = cli("run", "--dataset", "folder", "--data-root", str(tiny_demo), "--out", str(tmp_path / "r"), "-q")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--weights" in lines[0]


@pytest.mark.parametrize("args, message", [
    (["--level", "heavvy"], "unknown perturbation level 'heavvy'"),
    (["--detector", "nope"], "unknown detector 'nope'"),
    (["--dataset", "celebdff"], "celebdff"),
    (["--weights", "/does/not/exist.h5"], "exist.h5"),
])
def test_bad_arguments_are_clear_errors(args, message, tiny_demo, tmp_path):
    out = cli("run", "--dataset", "folder", "--data-root", str(tiny_demo), "--out", str(tmp_path / "r"), "-q", *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_run_then_report_rebuilds_and_merges(tiny_demo, tmp_path, capsys):
    common = ["run", "--dataset", "folder", "--data-root", str(tiny_demo), "--random-init", "--frames", "4", "-q",
              "--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--out", str(tmp_path / "a"), "--level", "flip"]) == 0
    printed = capsys.readouterr().out
    assert "| AUC |" in printed and "none" in printed and "flip" in printed
    assert main([*common, "--out", str(tmp_path / "b"), "--detector", "meso4"]) == 0
    metrics_before = json.loads((tmp_path / "a" / "metrics.json").read_text())
    (tmp_path / "a" / "metrics.json").unlink()
    (tmp_path / "a" / "report.md").unlink()
    assert main(["report", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "metrics.json").read_text()) == metrics_before
    assert "| AUC |" in (tmp_path / "a" / "report.md").read_text()
    merged = tmp_path / "cmp.md"
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(merged)]) == 0
    text = merged.read_text()
    assert "a / none" in text and "b / heavy" in text and "Run `a`" in text and "Run `b`" in text


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    out = cli("report", str(tmp_path))
    assert out.returncode == 2 and "error:" in out.stderr and "Traceback" not in out.stderr


def test_detector_options_and_weights_for_names_with_colons():
    from benchmarks.cli.arguments import detector_options as _detector_options
    from benchmarks.cli.arguments import weights_map as _weights_map
    names = ["timm:resnet18", "efficientnet"]
    assert _weights_map(["timm:resnet18=/w/r.safetensors", "efficientnet=/w/e.pth"], names) == \
        {"timm:resnet18": "/w/r.safetensors", "efficientnet": "/w/e.pth"}
    assert _detector_options(["efficientnet:variant=b1", "timm:resnet18:clip_frames=8"], names) == \
        {"efficientnet": {"variant": "b1"}, "timm:resnet18": {"clip_frames": 8}}
    assert _detector_options(["variant=b1", "scale=0.5"], ["efficientnet"]) == {"efficientnet": {"variant": "b1", "scale": 0.5}}
    with pytest.raises(ValueError, match="NAME:"):
        _detector_options(["variant=b1"], names)


def test_run_with_a_levels_file(tiny_demo, tmp_path):
    """The CLI registers the file and `run` registers it again (as each worker does): a reload, not a duplicate."""
    levels = tmp_path / "mine.toml"
    levels.write_text('[levels.soft]\nsteps = [{ type = "GB", severity = 1 }, { type = "JPEG", quality = 60 }]\n')
    done = cli("run", "--dataset", "folder", "--data-root", str(tiny_demo), "--random-init", "--frames", "4", "-q",
               "--workers", "1", "--bootstrap", "0", "--cache-dir", str(tmp_path / "cache"), "--out",
               str(tmp_path / "run"), "--levels-file", str(levels), "--level", "soft")
    assert done.returncode == 0, done.stderr
    assert "soft" in done.stdout
