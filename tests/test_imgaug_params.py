"""`flip` and `heavy` record what they did: every sampled value drawn from the per-video generator, stored in
scores.csv's `params`, and enough to rebuild the exact pixels the detector saw."""
from __future__ import annotations

import json

import numpy as np
import pytest

import datasets
import detectors
import perturbations
from benchmarks import runner
from benchmarks.config import FaceSettings, RunConfig
from benchmarks.pipeline.face_cache import FaceCache
from benchmarks.pipeline.faces import inner_crop
from benchmarks.pipeline.perturbed_cache import PerturbedCache
from datasets.demo import generate_demo
from perturbations.imgaug_levels import FLIPUD_P, HEAVY_RANGES, ROTATE_RANGE, draw, replay
from reports import run_files as results

FRAMES = np.random.default_rng(7).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
NEUTRAL = {"pipeline": "heavy", "multiply": 1.0, "blur_sigma": 0.0, "dropout": 0.0, "noise_scale": 0.0,
           "contrast": 1.0, "grayscale_alpha": 0.0, "flipud": False, "rotate_deg": 0.0, "pixel_seed": 3}


def test_values_are_drawn_from_the_published_ranges():
    draws = [draw(np.random.default_rng(s), "heavy") for s in range(400)]
    for name, (lo, hi) in {**HEAVY_RANGES, "rotate_deg": ROTATE_RANGE}.items():
        values = np.array([d[name] for d in draws])
        assert lo <= values.min() and values.max() < hi, name
        assert values.max() - values.min() > 0.9 * (hi - lo), name  # the whole range, not a corner of it
    assert abs(np.mean([d["flipud"] for d in draws]) - FLIPUD_P) < 0.08
    assert set(draw(np.random.default_rng(0), "flip")) == {"pipeline", "flipud", "rotate_deg"}
    with pytest.raises(ValueError, match="unknown imgaug pipeline"):
        draw(np.random.default_rng(0), "medium")


def test_the_level_records_its_values_and_they_rebuild_its_frames():
    for name in ("flip", "heavy"):
        out, params = perturbations.get(name).apply(FRAMES, 11, return_params=True)
        step = json.loads(json.dumps(params))["steps"][0]  # through JSON, as scores.csv stores it
        assert step["pipeline"] == name and isinstance(step["flipud"], bool)
        assert np.array_equal(replay(FRAMES, step), out)
        assert np.array_equal(out[0], replay(FRAMES[:1], step)[0])  # one transform for the whole video


def test_the_recorded_values_are_the_ones_applied():
    assert np.array_equal(replay(FRAMES, NEUTRAL), FRAMES)  # neutral values: no change
    assert np.array_equal(replay(FRAMES, {**NEUTRAL, "flipud": True}), FRAMES[:, ::-1])
    assert np.array_equal(replay(FRAMES, {"pipeline": "flip", "flipud": True, "rotate_deg": 0.0}), FRAMES[:, ::-1])
    dropped = replay(np.full((1, 64, 64, 3), 200, np.uint8), {**NEUTRAL, "dropout": 0.2})
    assert 0.15 < np.mean(dropped[0, ..., 0] == 0) < 0.25
    darker = replay(np.full((1, 8, 8, 3), 200, np.uint8), {**NEUTRAL, "multiply": 0.5})
    assert np.all(darker == 100)
    grey = replay(FRAMES, {**NEUTRAL, "grayscale_alpha": 1.0})
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 1
    noisy = [replay(FRAMES, {**NEUTRAL, "noise_scale": 20.0, "pixel_seed": s}) for s in (1, 1, 2)]
    assert np.array_equal(noisy[0], noisy[1]) and not np.array_equal(noisy[0], noisy[2])


@pytest.mark.slow
def test_a_runs_heavy_params_rebuild_the_frames_the_detector_saw(tmp_path):
    """Run the demo with `--cache-perturbed` (which stores the exact crops every detector was fed), read `params`
    of the `heavy` rows from scores.csv, replay them on the video's face crops and compare bit for bit."""
    root = generate_demo(tmp_path / "demo", seed=5, n_train=0, n_test=2, frames=8)
    cache = tmp_path / "cache"
    config = RunConfig(detectors=["meso"], levels=["none", "heavy"], dataset="folder", data_root=str(root),
                       weights={"meso": str(detectors.default_weights("meso"))}, num_frames=4, bootstrap=0,
                       cache_dir=str(cache), out=str(tmp_path / "run"), workers=1, score_cache=False,
                       cache_perturbed=True)
    result = runner.run(config, progress=False)
    rows = [r for r in results.read_scores(result.run_dir) if r["level"] == "heavy" and r["status"] == "ok"]
    assert len(rows) == 2  # one real, one fake
    stored = PerturbedCache(cache)
    seen = {}
    for path in stored.dir.rglob("*.npz"):
        entry = stored.load(path.stem)
        seen[entry.params] = entry.faces
    items = {item.video_id: item for item in datasets.open("folder", str(root), split="test")}
    settings = FaceSettings()
    for row in rows:
        step = json.loads(row["params"])["face"]["steps"][0]
        assert {"multiply", "blur_sigma", "dropout", "noise_scale", "contrast", "grayscale_alpha", "flipud",
                "rotate_deg", "pixel_seed"} <= set(step)
        crops = FaceCache(cache).get_or_extract(items[row["video_id"]].path, 4, settings)
        rebuilt = inner_crop(replay(crops.crops, step), settings.context)
        assert np.array_equal(rebuilt, seen[row["params"]]), row["video_id"]
