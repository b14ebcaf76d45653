"""The analyses on real pixels: image quality falls with severity on real videos' faces, and a run of two detectors
at graded levels carries breaking points, temporal stability and quality through metrics.json, the report, the
pandas interface and the leaderboard."""
from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

import detectors
import perturbations
from benchmarks import RunConfig, runner
from benchmarks.cli import main as cli_main
from benchmarks.config import FaceSettings
from benchmarks.pipeline.face_detectors import make_detector
from benchmarks.pipeline.faces import extract_faces, inner_crop
from benchmarks.pipeline.quality import crop_quality
from datasets.demo import generate_demo
from tests.conftest import shared_path


@pytest.mark.parametrize("video", ["original_sequences/youtube/c23/videos/004.mp4",
                                   "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"])
def test_psnr_and_ssim_fall_with_severity_on_real_faces(video):
    path = shared_path("videos", "ffpp", video)
    settings = FaceSettings()
    crops = extract_faces(path, 4, settings, make_detector(settings))
    assert crops.ok, crops.message
    clean = inner_crop(crops.crops, settings.context)
    for kind in ("GB", "GNC", "JPEG"):
        measured = []
        for severity in range(1, 6):
            name = f"{kind}:{severity}"
            out = perturbations.get(name).apply(crops.crops, perturbations.seed_for(0, path.stem, name))
            measured.append(crop_quality(clean, inner_crop(out, settings.context), crops.frame_indices,
                                         crops.frame_indices))
        ssim, psnr = [q["ssim"] for q in measured], [q["psnr"] for q in measured]
        assert all(a > b for a, b in zip(ssim, ssim[1:])), (kind, ssim)
        assert all(a > b for a, b in zip(psnr, psnr[1:])), (kind, psnr)
        assert 0 < ssim[-1] < ssim[0] < 1


def test_quality_matches_scikit_image_and_compares_only_the_same_frames():
    a = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + 9, 0, 255).astype(np.uint8)
    q = crop_quality(a, b, list(range(16)), list(range(16)))
    assert q["frames"] == 2  # one per 8 crops
    assert q["psnr"] == pytest.approx(peak_signal_noise_ratio(a[[0, 15]], b[[0, 15]], data_range=255), abs=1e-4)
    assert crop_quality(a, a, list(range(16)), list(range(16)), frames=4) == {"psnr": None, "ssim": 1.0, "frames": 4}
    assert crop_quality(a, b, list(range(16)), [0] + list(range(2, 17))) is None  # other frames: not comparable


@pytest.mark.slow
def test_two_detectors_graded_run_analyses_report_and_leaderboard(tmp_path):
    root = generate_demo(tmp_path / "demo", seed=1, n_train=0, n_test=6, frames=8)
    config = RunConfig(detectors=["meso", "meso4"], dataset="folder", data_root=str(root),
                       weights={"meso": str(detectors.DEMO_WEIGHTS)}, random_init=True,
                       levels=["GB:2", "GB:4", "GNC:2"], num_frames=4, bootstrap=100, workers=1,
                       out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    result = runner.run(config, progress=False)
    doc = json.loads((result.run_dir / "metrics.json").read_text())
    assert {"breaking_points", "temporal_stability", "quality"} <= doc.keys()
    assert set(doc["breaking_points"]["detectors"]) == {"meso", "meso4"}
    assert set(doc["breaking_points"]["detectors"]["meso"]["types"]) == {"GB", "GNC"}
    assert {(e["detector"], e["level"]) for e in doc["temporal_stability"]["entries"]} == \
        {(d, lv) for d in ("meso", "meso4") for lv in ("none", "GB:2", "GB:4", "GNC:2")}
    quality = doc["quality"]["levels"]
    assert quality["GB:2"]["n_videos"] == 6 and 1 > quality["GB:2"]["ssim"] > quality["GB:4"]["ssim"] > 0
    report = (result.run_dir / "report.md").read_text()
    for figure in ("meso-survival.png", "meso4-survival.png", "meso-quality.png"):
        assert f"figures/{figure}" in report and (result.run_dir / "figures" / figure).is_file()
    assert "### Breaking points" in report and "### Temporal stability" in report and "AUC at SSIM 0.9" in report
    # the pandas interface of the result
    assert set(result.scores["detector"].unique()) == {"meso", "meso4"}
    assert (result.metrics.query("metric == 'auc'")["hi"] >= result.metrics.query("metric == 'auc'")["lo"]).all()
    board = tmp_path / "board.json"
    assert cli_main(["leaderboard", str(result.run_dir), "--out", str(board), "--bootstrap", "100"]) == 0
    ranking = json.loads(board.read_text())["ranking"]
    assert sorted(r["detector"] for r in ranking) == ["meso", "meso4"] and [r["rank"] for r in ranking] == [1, 2]
    assert all(r["levels"]["GB:2"]["lo"] is not None for r in ranking)  # per-level intervals
    md = tmp_path / "board.md"
    assert cli_main(["leaderboard", str(board), "--out", str(md)]) == 0  # a board's JSON is read back
    assert "| 1 | `" in md.read_text() and "[" in md.read_text()
