"""ImageNet-C levels (`ic.NAME:S`): every corruption changes the pixels, is identical for the same seed, draws
once per video (the same draw on every frame) and differs across videos where it is random; groups and the
ImageNet-C mCE's meaning in the robustness summary."""
from __future__ import annotations

import numpy as np
import pytest

import perturbations
from benchmarks.metrics.graded import IC, IC_HELD_OUT, graded_level, level_kind, summarise
from perturbations.imagenet_c import HELD_OUT, RANDOM, STANDARD, legacy_seed

ALL = STANDARD + HELD_OUT


def _video(n: int = 3, size: int = 64) -> np.ndarray:
    """A textured frame repeated n times: a corruption that draws once per video gives identical frames."""
    yy, xx = np.mgrid[:size, :size]
    frame = np.stack([(xx * 4) % 256, (yy * 3) % 256, ((xx + yy) * 2) % 256], -1).astype(np.uint8)
    return np.repeat(frame[None], n, axis=0)


@pytest.mark.parametrize("name", ALL)
def test_each_corruption_changes_pixels_is_seeded_and_video_consistent(name):
    frames = _video()
    level = perturbations.get(f"ic.{name}:3")
    out, params = level.apply(frames, 11, return_params=True)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert (out != frames).mean() > 0.01, name
    assert np.array_equal(out, level.apply(frames, 11))
    assert all(np.array_equal(out[0], f) for f in out[1:]), f"{name}: frames of one video drew differently"
    step = params["steps"][0]
    assert step["corruption"] == name and step["severity"] == 3
    other = level.apply(frames, 12)  # another video's seed
    if name in RANDOM:
        assert not np.array_equal(out, other) and "draw_seed" in step
    else:
        assert np.array_equal(out, other) and "draw_seed" not in step


def test_severity_grows_and_global_random_state_is_left_alone():
    frames = _video(1)
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    errors = [np.abs(perturbations.get(f"ic.gaussian_noise:{s}").apply(frames, 0).astype(float) - frames).mean()
              for s in range(1, 6)]
    assert errors == sorted(errors)
    assert np.array_equal(np.random.get_state()[1], before)
    with legacy_seed(3):
        a = np.random.random()
    with legacy_seed(3):
        assert np.random.random() == a


def test_groups_labels_and_errors():
    assert perturbations.expand("ic:2")[1:] == [f"ic.{n}:2" for n in STANDARD]
    assert len(perturbations.expand("ic:all")) == 1 + 15 * 5
    assert perturbations.get("ic.frost:5").name == "ic.frost:5"
    with pytest.raises(ValueError, match="group"):
        perturbations.get("ic:3")
    with pytest.raises(ValueError, match="1-5"):
        perturbations.expand("ic:6")
    with pytest.raises(ValueError, match="severity"):
        perturbations.get("ic.fog:9")
    with pytest.raises(ValueError, match="at least 32"):
        perturbations.get("ic.fog:1").apply(np.zeros((1, 16, 16, 3), np.uint8), 0)


def test_ce_and_mce_have_their_imagenet_c_meaning():
    """CE_t = sum_s (1 - AUC) / the reference's; ic_mce = mean CE over the 15 standard types, complete only
    with all of them; held-out types get a CE but stay out of the mCE; attack levels are never graded."""
    assert graded_level("ic.fog:2").family == IC and graded_level("ic.spatter:2").family == IC_HELD_OUT
    assert graded_level("PGD:3") is None and level_kind("PGD:3@meso") == "adversarial"
    assert level_kind("ic.fog:2") == "corruption" and level_kind("none") == "clean"
    names = [f"ic.{n}:{s}" for n in STANDARD + ("spatter",) for s in range(1, 6)]
    mine = {"none": 0.9, **{lv: 0.7 for lv in names}}
    ref = {"none": 0.95, **{lv: 0.8 for lv in names}}
    entry = summarise({"mine": mine, "ref": ref}, "ref")["detectors"]["mine"]
    assert entry["ce"]["ic.fog"] == pytest.approx(0.3 / 0.2)
    assert entry["relative_ce"]["ic.fog"] == pytest.approx(0.2 / 0.15)
    assert entry["ic_mce"] == pytest.approx(1.5) and entry["ic_mce_complete"]
    assert "ic.spatter" in entry["ce"] and "ic.spatter" not in entry["ic_mce_types"]
    partial = summarise({"mine": {k: v for k, v in mine.items() if "fog" not in k}, "ref": ref}, "ref")
    assert not partial["detectors"]["mine"]["ic_mce_complete"]
