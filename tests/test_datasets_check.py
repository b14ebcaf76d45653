"""`python -m benchmarks datasets check|list` on small trees with real tiny videos."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.pipeline.decode import write_video
from tests.conftest import PROJECT_ROOT, shared_path


def tiny_video(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, np.full((3, 16, 16, 3), value, np.uint8), fps=5)


@pytest.fixture
def clean(tmp_path) -> Path:
    tiny_video(tmp_path / "real" / "a.mp4", 40)
    tiny_video(tmp_path / "fake" / "b.mp4", 200)
    return tmp_path


def test_clean_tree_exits_0_with_counts(clean, capsys):
    assert main(["datasets", "check", "--dataset", "folder", "--data-root", str(clean), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "| test | 1 | 1 | 2 |" in out and "missing: none" in out and "unreadable: none" in out
    assert "duplicate: none" in out and out.rstrip().endswith("ok")


def test_missing_duplicate_and_non_video_are_each_reported(clean, capsys):
    shutil.copyfile(clean / "fake" / "b.mp4", clean / "fake" / "copy.mp4")
    (clean / "fake" / "text.mp4").write_text("not a video", encoding="utf-8")
    (clean / "manifest.csv").write_text("path,label,method\nreal/a.mp4,real,none\nfake/b.mp4,fake,x\n"
                                        "fake/copy.mp4,fake,x\nfake/text.mp4,fake,y\nfake/gone.mp4,fake,y\n")
    assert main(["datasets", "check", "--dataset", "folder", "--data-root", str(clean)]) == 1
    out = capsys.readouterr().out
    assert "missing: 1\n  fake/gone:" in out
    assert "unreadable: 1\n  fake/text: unreadable" in out
    assert "duplicate: 1\n  same content: fake/b, fake/copy" in out
    assert "method (real/fake): none 1/0, x 0/2, y 0/2" in out and out.rstrip().endswith("problems found")
    assert main(["datasets", "check", "--dataset", "folder", "--data-root", str(clean), "--no-probe",
                 "--no-duplicates"]) == 1
    out = capsys.readouterr().out
    assert "\nunreadable:" not in out and "\nduplicate:" not in out and "missing: 1" in out


def test_layout_problems_fail_the_check(tmp_path, capsys):
    tiny_video(tmp_path / "original_sequences/youtube/c23/videos/004.mp4", 10)
    tiny_video(tmp_path / "manipulated_sequences/Deepfakes/c23/videos/004_982.mp4", 90)
    code = main(["datasets", "check", "--dataset", "ffpp", "--data-root", str(tmp_path), "--methods", "Deepfakes,FaceSwap"])
    out = capsys.readouterr().out
    assert code == 1 and "layout: 1\n  manipulated_sequences/FaceSwap/c23/videos/ missing" in out
    assert "note: no official split files" in out
    assert main(["datasets", "check", "--dataset", "ffpp", "--data-root", str(tmp_path), "--methods", "Deepfakes"]) == 0


def test_bad_option_is_exit_2(tmp_path, capsys):
    assert main(["datasets", "check", "--dataset", "ffpp", "--data-root", str(tmp_path), "--parts", "1"]) == 2
    assert "has no option(s) parts" in capsys.readouterr().err


def test_real_dfdc_part_reports_the_absent_video(capsys):
    root = shared_path("videos", "dfdc")
    assert main(["datasets", "check", "--dataset", "dfdc", "--data-root", str(root), "--split", "train",
                 "--parts", "0"]) == 1
    out = capsys.readouterr().out
    assert "missing: 1\n  dfdc_train_part_0/awnfpubqmo" in out and "unreadable: none" in out


def test_subcommand_is_discovered_by_the_cli():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "datasets", "list"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "dfdc: " in out.stdout and "    --parts VALUE" in out.stdout and "ffpp: " in out.stdout
