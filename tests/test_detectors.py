"""Detectors: parity with the original Keras MesoNet, the deepfake_detector checkpoints, the registry."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import detectors
from detectors.base import CheckpointError
from tests.conftest import PROJECT_ROOT, shared_path

H5_FILES = ["Meso4_DF.h5", "Meso4_F2F.h5", "MesoInception_DF.h5", "MesoInception_F2F.h5"]


def _reference() -> dict:
    return json.loads(shared_path("mesonet", "reference_outputs.json").read_text())


def _reference_input(ref: dict, name: str) -> np.ndarray:
    """HWC float32 input exactly as the reference was computed (see the json's "about")."""
    if name.startswith("synthetic_"):
        return np.random.RandomState(int(name.split("_")[1])).rand(256, 256, 3).astype(np.float32)
    from PIL import Image

    img = Image.open(shared_path("mesonet", ref["inputs"][name]["path"])).convert("RGB")
    return np.asarray(img.resize((256, 256), Image.NEAREST)).astype(np.float32) * np.float32(1 / 255)


def _to_nchw(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _detector_for(h5: str) -> str:
    return "meso4" if h5.startswith("Meso4") else "meso"


def _image_batch() -> torch.Tensor:
    ref = _reference()
    return _to_nchw([_reference_input(ref, n) for n in ref["inputs"]])


@pytest.mark.parametrize("h5", H5_FILES)
def test_keras_parity(h5: str) -> None:
    ref = _reference()
    rows = ref["results"][h5]
    arrays = [_reference_input(ref, r["input"]) for r in rows]
    for a, r in zip(arrays, rows):
        assert hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() == r["input_sha256"], r["input"]
    det = detectors.create(_detector_for(h5), weights=shared_path("mesonet", "weights", h5))
    assert det.weights.format == "keras-h5"
    assert det.weights.architecture == ("meso4-keras" if h5.startswith("Meso4") else "mesoinception4-keras")
    p_fake = det.predict(_to_nchw(arrays))
    expected = 1.0 - np.array([r["p_real"] for r in rows])
    assert p_fake.dtype == np.float64 and p_fake.shape == (len(rows),)
    np.testing.assert_allclose(p_fake, expected, atol=1e-4, rtol=0)


def test_parameter_counts() -> None:
    meso = detectors.create("meso", random_init=True)
    meso4 = detectors.create("meso4", random_init=True)
    assert sum(p.numel() for p in meso.model.parameters()) == 28_615
    assert sum(p.numel() for p in meso4.model.parameters()) == 27_977


@pytest.mark.parametrize("name", ["celebdf", "dfdc"])
def test_dfdet_checkpoint_loads(name: str) -> None:
    path = shared_path("catogit", f"mesonet_{name}.pth")
    det = detectors.create("meso", weights=path)
    assert det.weights.format == "deepfake_detector-pth"
    assert det.weights.architecture == "mesoinception4-dfdet"
    assert det.weights.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sum(p.numel() for p in det.model.parameters()) == 28_615
    p = det.predict(_image_batch())
    assert p.shape == (4,) and np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))


def test_dfdet_checkpoints_differ() -> None:
    """Records behaviour, not quality: the two fine-tunings give different scores on the same faces."""
    x = _image_batch()
    celebdf = detectors.create("meso", weights=shared_path("catogit", "mesonet_celebdf.pth")).predict(x)
    dfdc = detectors.create("meso", weights=shared_path("catogit", "mesonet_dfdc.pth")).predict(x)
    assert np.max(np.abs(celebdf - dfdc)) > 0.05


def test_fake_logits_differentiable_and_consistent() -> None:
    det = detectors.create("meso", weights=shared_path("catogit", "mesonet_dfdc.pth"))
    x = _image_batch()[:2].requires_grad_(True)
    det.model.eval()
    logits = det.fake_logits(x)
    assert logits.shape == (2,)
    logits.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    np.testing.assert_allclose(torch.sigmoid(logits).detach().double().numpy(), det.predict(x.detach()), atol=1e-6)


def test_predict_uses_eval_mode_after_train() -> None:
    det = detectors.create("meso", random_init=True)
    x = torch.rand(2, 3, 256, 256)
    first = det.predict(x)
    det.model.train()
    np.testing.assert_array_equal(det.predict(x), first)


def test_random_init_is_seeded_and_leaves_global_rng() -> None:
    state = torch.random.get_rng_state()
    a = detectors.create("meso", random_init=True, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    b = detectors.create("meso", random_init=True, seed=3)
    c = detectors.create("meso", random_init=True, seed=4)
    assert a.weights.random_init and a.weights.format == "random-init"
    assert a.weights.architecture == "mesoinception4-keras" and a.weights.path is None
    wa, wb, wc = (d.model.state_dict()["fc1.weight"] for d in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_weights_required() -> None:
    with pytest.raises(CheckpointError, match="--weights") as info:
        detectors.create("meso")
    assert "--random-init" in str(info.value) and "\n" not in str(info.value)


def test_registry() -> None:
    assert {"meso", "meso4"} <= set(detectors.available())
    assert all(detectors.describe(n) and "\n" not in detectors.describe(n) for n in detectors.available())
    with pytest.raises(ValueError, match="available"):
        detectors.create("nope", random_init=True)
    assert detectors.DEMO_WEIGHTS.name == "meso-demo.safetensors"
    expected = detectors.DEMO_WEIGHTS if detectors.DEMO_WEIGHTS.is_file() else None
    assert detectors.default_weights("meso") == expected
    assert detectors.default_weights("meso4") is None


def test_lazy_import() -> None:
    code = ("import sys, detectors; "
            "assert 'detectors.mesonet' not in sys.modules; "
            "assert 'detectors.checkpoints' not in sys.modules; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert {'meso', 'meso4'} <= set(detectors.available()); "
            "assert 'detectors.zoo' not in sys.modules and 'timm' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


def test_detectors_does_not_import_sibling_packages() -> None:
    for src in (PROJECT_ROOT / "detectors").glob("*.py"):
        text = src.read_text()
        for pkg in ("benchmarks", "datasets", "perturbations"):
            assert f"import {pkg}" not in text and f"from {pkg}" not in text, (src.name, pkg)


def test_wrong_input_size_is_a_clear_error() -> None:
    det = detectors.create("meso4", random_init=True)
    with pytest.raises(ValueError, match="3 x 256 x 256"):
        det.predict(torch.rand(1, 3, 128, 128))


@pytest.mark.parametrize("shape,k", [((2, 11, 256, 256), 2), ((1, 3, 7, 9), 2), ((2, 16, 33, 31), 4)])
def test_fast_max_pool_is_bit_identical_to_max_pool2d(shape, k):
    import torch
    import torch.nn.functional as F

    from detectors.mesonet import _max_pool
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(_max_pool(x, k), F.max_pool2d(x, k))
    x.requires_grad_(True)  # training keeps max_pool2d and its gradient
    assert torch.equal(_max_pool(x, k), F.max_pool2d(x, k))


@pytest.mark.parametrize("architecture", ["mesoinception4-keras", "mesoinception4-dfdet", "mesoinception4-dfbench",
                                          "meso4-keras", "meso4-dfbench"])
@pytest.mark.parametrize("negative_scale", [False, True])
def test_inference_pools_first_with_the_same_outputs(architecture, negative_scale, monkeypatch):
    """Inference pools before ReLU/BatchNorm and runs 1x1 convolutions through oneDNN; it must compute the same
    function as the ordinary (training-time) forward pass, and not pool first when a BatchNorm scale is negative."""
    import torch

    from detectors import mesonet
    model = mesonet.build_model(architecture, seed=3).to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            for tensor, low, high in ((bn.weight, 0.1, 2.0), (bn.bias, -1, 1), (bn.running_mean, -1, 1),
                                      (bn.running_var, 0.5, 2.0)):
                tensor.copy_(torch.empty(tensor.shape).uniform_(low, high, generator=generator))
            if negative_scale:
                bn.weight[0] = -bn.weight[0]
    x = torch.rand(5, 3, 256, 256, generator=generator).contiguous(memory_format=torch.channels_last)
    assert mesonet._pools_first(model) is False  # grad enabled: the ordinary path
    ordinary = model(x).detach()
    with torch.inference_mode():
        assert mesonet._pools_first(model) is (not negative_scale)
        fast = model(x)
    assert torch.allclose(fast, ordinary, rtol=0, atol=1e-5), (fast - ordinary).abs().max()


def test_mesonet_runs_under_cpu_autocast():
    """--precision bf16 on the CPU: the 1x1 convolutions leave the direct oneDNN call (it would mix bf16 inputs
    with fp32 weights) and the logits stay near fp32's."""
    torch.manual_seed(0)
    det = detectors.create("meso", random_init=True)
    x = torch.rand(4, 3, 256, 256)
    full = det.predict(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = det.predict(x)
    assert np.abs(full - mixed).max() < 0.05


def test_register_a_detector_then_create_it() -> None:
    def tiny(weights=None, random_init=False, seed=0):
        det = detectors.create("meso", random_init=True, seed=seed)
        det.name = "tiny"
        return det

    detectors.register("tiny-test", tiny, "a registered test detector")
    try:
        assert "tiny-test" in detectors.available()
        assert detectors.describe("tiny-test") == "a registered test detector"
        det = detectors.create("tiny-test", random_init=True)
        assert det.name == "tiny" and det.temporal is False
        with pytest.raises(ValueError, match="already registered"):
            detectors.register("tiny-test", "detectors.mesonet:create_meso")
        detectors.register("tiny-test", "detectors.mesonet:create_meso", replace=True)  # a "module:attr" target
        assert detectors.create("tiny-test", random_init=True).name == "meso"
    finally:
        detectors.unregister("tiny-test")
    assert "tiny-test" not in detectors.available()
    with pytest.raises(ValueError, match="module:factory"):
        detectors.register("bad", "no_colon_here")
    with pytest.raises(ValueError, match="letters"):
        detectors.register("pkg.mod:Cls", "pkg.mod:Cls")


def test_every_detector_declares_temporal_and_its_input_contract() -> None:
    det = detectors.create("meso", random_init=True)
    assert det.temporal is False and isinstance(det, detectors.DetectorProtocol)
    assert detectors.input_contract(det)["input"] == "frame"
    assert detectors.input_contract(det)["input_size"] == det.input_size == 256
