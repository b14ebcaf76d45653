"""Rows reused across runs from the score cache: only for identical inputs, and identical to scoring again."""
from __future__ import annotations

import json
import shutil

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

import detectors
import perturbations
from benchmarks import runner
from benchmarks.cli import main
from benchmarks.config import RunConfig
from benchmarks.inference.models import load_detectors
from benchmarks.inference.score_cache import ScoreCache, detector_fingerprint, level_fingerprint
from datasets.demo import generate_demo
from reports import run_files as results

N_VIDEOS, N_FRAMES = 4, 4
COMPARED = ("video_id", "detector", "level", "score", "n_frames", "frame_scores", "frame_indices", "params", "status")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("score-cache") / "demo"
    generate_demo(root, seed=5, n_train=0, n_test=N_VIDEOS, frames=12)
    return root


def config_for(demo, cache, out, **kw) -> RunConfig:
    base = dict(detectors=["meso"], levels=["none", "flip"], dataset="folder", data_root=str(demo),
                weights={"meso": str(detectors.default_weights("meso"))}, num_frames=N_FRAMES, bootstrap=0,
                cache_dir=str(cache), out=str(out), workers=1)
    return RunConfig(**{**base, **kw})


def rows_of(run_dir, level=None) -> list[tuple]:
    rows = results.read_scores(run_dir)
    return sorted(tuple(r[c] for c in COMPARED) for r in rows if level is None or r["level"] == level)


def detector_timing(run_dir) -> dict:
    timing = json.loads((run_dir / "timing.json").read_text())
    return {level: entry["detectors"]["meso"] for level, entry in timing["levels"].items()}


def test_a_second_run_scores_only_its_new_level_and_reuses_identical_rows(demo, tmp_path):
    cache = tmp_path / "cache"
    first = runner.run(config_for(demo, cache, tmp_path / "first"), progress=False)
    second = runner.run(config_for(demo, cache, tmp_path / "second", levels=["none", "flip", "GB:3"]), progress=False)
    spent = detector_timing(second.run_dir)
    for level in ("none", "flip"):
        assert spent[level]["reused"] == N_VIDEOS and spent[level]["frames"] == 0
        assert rows_of(second.run_dir, level) == rows_of(first.run_dir, level)
    assert spent["GB:3"]["reused"] == 0 and spent["GB:3"]["frames"] == N_VIDEOS * N_FRAMES
    # the same run without the score cache computes the same rows from scratch
    again = runner.run(config_for(demo, cache, tmp_path / "again", levels=["none", "flip", "GB:3"], score_cache=False),
                       progress=False)
    assert detector_timing(again.run_dir)["none"]["reused"] == 0
    fresh, reused = rows_of(again.run_dir), rows_of(second.run_dir)
    assert [r[:3] + r[4:] for r in fresh] == [r[:3] + r[4:] for r in reused]
    assert all(abs(float(a[3]) - float(b[3])) < 1e-6 for a, b in zip(fresh, reused))


@pytest.mark.parametrize("change", [{"seed": 1}, {"num_frames": 3}, {"aggregate": "median"}, {"apply_at": "frame"},
                                    {"precision": "bf16"}])
def test_any_change_of_input_misses_the_score_cache(demo, tmp_path, change):
    cache = tmp_path / "cache"
    runner.run(config_for(demo, cache, tmp_path / "first", levels=["none", "GB:3"]), progress=False)
    other = runner.run(config_for(demo, cache, tmp_path / "other", levels=["none", "GB:3"], **change), progress=False)
    assert all(entry["reused"] == 0 for entry in detector_timing(other.run_dir).values())


def test_other_weights_or_random_init_are_not_reused(demo, tmp_path):
    cache = tmp_path / "cache"
    runner.run(config_for(demo, cache, tmp_path / "first"), progress=False)
    copy = tmp_path / "tuned.safetensors"
    source = detectors.default_weights("meso")
    with safe_open(str(source), "pt") as handle:  # the same card, one weight nudged: other bytes, other sha256
        metadata, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}
    first_key = sorted(tensors)[0]
    tensors[first_key] = tensors[first_key] + 1e-3
    save_file(tensors, str(copy), metadata=metadata)
    for sidecar in source.parent.glob(source.stem + ".json"):
        shutil.copy(sidecar, copy.with_suffix(".json"))
    tuned = runner.run(config_for(demo, cache, tmp_path / "tuned", weights={"meso": str(copy)}), progress=False)
    assert all(entry["reused"] == 0 for entry in detector_timing(tuned.run_dir).values())
    random = runner.run(config_for(demo, cache, tmp_path / "random", weights={}, random_init=True), progress=False)
    assert all(entry["reused"] == 0 for entry in detector_timing(random.run_dir).values())
    assert detector_fingerprint("meso", load_detectors(config_for(demo, cache, tmp_path, weights={},
                                                                random_init=True).detector_settings())["meso"], {}, {}) is None


def test_a_damaged_entry_is_a_miss_and_is_rewritten(demo, tmp_path):
    cache = tmp_path / "cache"
    runner.run(config_for(demo, cache, tmp_path / "first", levels=["none"]), progress=False)
    entries = sorted((cache / "scores").rglob("*.json"))
    assert len(entries) == N_VIDEOS
    entries[0].write_text("{not json")
    second = runner.run(config_for(demo, cache, tmp_path / "second", levels=["none"]), progress=False)
    assert detector_timing(second.run_dir)["none"]["reused"] == N_VIDEOS - 1
    assert json.loads(entries[0].read_text())["row"]["status"] == "ok"  # rewritten with its key and checksum


def test_level_fingerprints_follow_parameters_not_names():
    assert level_fingerprint(perturbations.get("GB:3"), "face") != level_fingerprint(perturbations.get("GB:5"), "face")
    assert level_fingerprint(perturbations.get("GB:3"), "face") == level_fingerprint(perturbations.get("GB:3"), "face")
    assert level_fingerprint(perturbations.get("GB:3"), "face") != level_fingerprint(perturbations.get("GB:3"), "frame")


def test_no_score_cache_flag_and_cache_commands(demo, tmp_path, capsys):
    cache = tmp_path / "cache"
    args = ["run", "--dataset", "folder", "--data-root", str(demo), "--detector", "meso", "--weights",
            str(detectors.default_weights("meso")), "--level", "none", "--frames", str(N_FRAMES), "--bootstrap", "0",
            "--cache-dir", str(cache), "--workers", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a"), "--no-score-cache"]) == 0
    assert ScoreCache(cache).entries() == 0  # off: neither read nor written
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert ScoreCache(cache).entries() == N_VIDEOS
    capsys.readouterr()
    assert main(["cache", "info", "--cache-dir", str(cache)]) == 0
    assert f"score cache: {cache / 'scores'}" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(cache)]) == 0
    assert ScoreCache(cache).entries() == 0
