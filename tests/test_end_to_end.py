"""The shipped path: demo data + demo weights, and the original MesoNet weights on real FF++/DFDC videos."""
from __future__ import annotations

import json

import pytest

import detectors
from benchmarks import runner
from benchmarks.config import RunConfig
from reports import run_files as results
from tests.conftest import shared_path


def test_demo_weights_are_the_projects_own_and_documented():
    card = json.loads(detectors.DEMO_WEIGHTS.with_suffix(".json").read_text())
    assert card["detector"] == "meso" and card["architecture"] == "mesoinception4-keras"
    assert "by `python -m benchmarks train` on demo split 'train'" in card["provenance"]
    assert card["training"]["config"]["split_by"] == "auto"  # trained by the current trainer, with its defaults
    det = detectors.create("meso", weights=detectors.default_weights("meso"))
    assert det.weights.format == "safetensors" and det.weights.sha256 == detectors.sha256_file(detectors.DEMO_WEIGHTS)


@pytest.mark.slow
def test_demo_benchmark_separates_clean_and_drops_under_heavy(tmp_path):
    """The README's first command, with 8 frames per video instead of 32 to keep CI short."""
    config = RunConfig(detectors=["meso"], levels=["heavy"], num_frames=8, out=str(tmp_path / "run"))
    result = runner.run(config, progress=False)
    clean, heavy = result.level_metrics
    assert clean.level == "none" and clean.n_scored == 32 and clean.n_skipped == 0
    assert clean.auc > 0.9
    assert heavy.auc < clean.auc - 0.1
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["detectors"]["meso"]["format"] == "safetensors"
    assert manifest["dataset"]["name"] == "demo"


@pytest.fixture
def real_videos(tmp_path):
    """FF++ c23 and DFDC samples from ../shared/data arranged as a `folder` dataset (symlinks, nothing copied)."""
    videos = shared_path("videos")
    root = tmp_path / "real-videos"
    for label, patterns in {"real": ["ffpp/original_sequences/youtube/c23/videos/*.mp4", "dfdc/samples/*.mp4"],
                            "fake": ["ffpp/manipulated_sequences/*/c23/videos/*.mp4",
                                     "dfdc/dfdc_train_part_0/*.mp4"]}.items():
        (root / label).mkdir(parents=True)
        for pattern in patterns:
            for video in videos.glob(pattern):
                (root / label / video.name).symlink_to(video)
    return root


def test_original_mesonet_weights_on_real_videos_at_all_three_tiers(real_videos, tmp_path):
    weights = shared_path("mesonet", "weights", "MesoInception_DF.h5")
    config = RunConfig(detectors=["meso"], levels=["all"], dataset="folder", data_root=str(real_videos),
                       weights={"meso": str(weights)}, num_frames=8, out=str(tmp_path / "run"),
                       cache_dir=str(tmp_path / "cache"), follow_symlinks=True)  # the dataset is a symlink farm
    result = runner.run(config, progress=False)
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 8 * 3 and all(r["status"] == "ok" for r in rows)
    assert [m.level for m in result.level_metrics] == ["none", "flip", "heavy"]
    assert all(m.n_real == 4 and m.n_fake == 4 and m.auc is not None for m in result.level_metrics)
    report = (result.run_dir / "report.md").read_text()
    assert "MesoInception_DF.h5" in report and "keras-h5" in report


def test_legacy_deepfake_detector_checkpoint_runs_end_to_end(real_videos, tmp_path):
    weights = shared_path("catogit", "mesonet_celebdf.pth")
    config = RunConfig(detectors=["meso"], levels=["none"], dataset="folder", data_root=str(real_videos),
                       weights={"meso": str(weights)}, num_frames=4, max_videos=8, out=str(tmp_path / "run"),
                       cache_dir=str(tmp_path / "cache"), follow_symlinks=True)
    result = runner.run(config, progress=False)
    assert result.level_metrics[0].n_scored == 8
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["detectors"]["meso"]["architecture"] == "mesoinception4-dfdet"
