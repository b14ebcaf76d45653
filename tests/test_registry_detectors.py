"""Every registered detector, driven by `detectors.available()` (plus one `timm:<name>` backbone).

A detector added to the registry is tested here without editing this file: it must build with random
initialisation, score a small batch of its input contract (N x 3 x S x S in [0, 1] at `input_size`, one
P(fake) per frame, finite and in [0, 1]; clip models read the batch as one clip), and round-trip its
weights through the project's own format (`detectors.export` -> `detectors.create(name, weights=...)`).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import detectors  # noqa: E402

# Extra entries beyond the registry: any timm backbone through the `timm:` prefix.
EXTRA = ["timm:resnet18"]
NAMES = [*detectors.available(), *EXTRA]

# The smallest legitimate build per detector (the factory's own options); detectors not listed use defaults.
SMALL_OPTIONS: dict[str, dict] = {
    "efficientnet": {"variant": "b0"},   # 224 px, 5 M parameters instead of b4 at 380 px
    "clip-probe": {"variant": "clip-vit:w64-l2-p16-s64-o32"},  # OpenAI CLIP layout, 0.1 M instead of 304 M (L/14)
}

N_FRAMES = 2
SOURCE_SEED = 1        # the exported model; `create(weights=...)` builds with seed 0 before loading, so the
                       # round trip can only match if the weights were really loaded


def build(name: str, seed: int = SOURCE_SEED):
    return detectors.create(name, random_init=True, seed=seed, **SMALL_OPTIONS.get(name, {}))


def batch(det, n: int = N_FRAMES, seed: int = 0) -> torch.Tensor:
    size = det.input_size
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def built():
    """One random model per name for the whole file (building is the slow part)."""
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = build(name)
        return cache[name]

    return get


def test_small_options_name_registered_detectors():
    assert set(SMALL_OPTIONS) <= set(NAMES), sorted(set(SMALL_OPTIONS) - set(NAMES))


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_describe_is_non_empty(name):
    text = detectors.describe(name)
    assert isinstance(text, str) and text.strip() and "\n" not in text


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_builds_with_random_init(name, built):
    det = built(name)
    assert isinstance(det, detectors.Detector)
    assert isinstance(det.model, torch.nn.Module)
    assert isinstance(det.input_size, int) and det.input_size > 0
    assert det.weights.random_init and det.weights.path is None
    card = det.checkpoint_card()
    assert card["input_size"] == det.input_size and card["architecture"] == det.weights.architecture


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_predicts_one_finite_probability_per_frame(name, built):
    det = built(name)
    x = batch(det)
    p = det.predict(x)
    assert isinstance(p, np.ndarray) and p.shape == (N_FRAMES,), p.shape
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1)), p
    if det.temporal:      # one clip: every frame carries the clip's score
        assert np.all(p == p[0]), p
    assert np.array_equal(det.predict(x), p)                          # inference is deterministic
    assert not det.model.training                                     # predict leaves the model in eval mode


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_weights_round_trip_through_project_format(name, built, tmp_path):
    det = built(name)
    path = detectors.export(det, tmp_path / f"{name.replace(':', '_')}.safetensors")
    assert path.is_file() and path.stat().st_size > 0
    loaded = detectors.create(name, weights=path)
    assert loaded.weights.format == "safetensors" and not loaded.weights.random_init
    assert loaded.input_size == det.input_size
    assert type(loaded.model) is type(det.model)

    want, got = det.model.state_dict(), loaded.model.state_dict()
    assert list(got) == list(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key

    x = batch(det, seed=3)
    expected = det.predict(x)
    np.testing.assert_allclose(loaded.predict(x), expected, rtol=0, atol=1e-6)
    # The comparison can tell models apart: a model with other random weights scores differently.
    other = build(name, seed=SOURCE_SEED + 1)
    assert not np.allclose(other.predict(x), expected, rtol=0, atol=1e-6)
