"""--backend onnxruntime (issue 22): every adapter that exports scores like torch (1e-4 in P(fake)), the others keep
torch with a note; exports are cached by fingerprint, a damaged entry is rebuilt with one warning, and the backend
is part of the score-cache key and the manifest."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import benchmarks
import detectors
from benchmarks.config import DetectorSettings, RunConfig
from benchmarks.inference.onnx_backend import AGREEMENT, apply_backend
from benchmarks.inference.score_cache import ScoreReuse

pytest.importorskip("onnxruntime")


def settings_for(name: str, weights: str | None = None) -> DetectorSettings:
    return DetectorSettings((name,), {name: weights}, weights is None, {}, {}, False)


def torch_and_onnx(name: str, weights: str | None = None, cache_root: Path | None = None):
    det = detectors.create(name, weights=weights, random_init=weights is None)
    models, choices = apply_backend({name: det}, "onnxruntime", settings=settings_for(name, weights),
                                    cache_root=cache_root)
    return det, models[name], choices[name]


def assert_agrees(det, onnx, batch: int = 5) -> None:
    x = torch.rand(batch, 3, det.input_size, det.input_size, generator=torch.Generator().manual_seed(7))
    np.testing.assert_allclose(onnx.predict(x), det.predict(x), rtol=0, atol=AGREEMENT)


@pytest.mark.parametrize("name", ["meso", "meso4", pytest.param("efficientnet", marks=pytest.mark.slow),
                                  pytest.param("xception", marks=pytest.mark.slow),
                                  pytest.param("timm:resnet18", marks=pytest.mark.slow)])
def test_exporting_adapters_score_like_torch(name):
    det, onnx, choice = torch_and_onnx(name)
    assert choice.backend == "onnxruntime" and not choice.note
    assert onnx.backend == "onnxruntime" and onnx.weights is det.weights
    assert_agrees(det, onnx)


def test_demo_weights_agree_and_the_export_is_cached(tmp_path, capsys):
    weights = str(detectors.default_weights("meso"))
    det, onnx, _ = torch_and_onnx("meso", weights, tmp_path)
    assert_agrees(det, onnx, batch=9)
    exported = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(exported) == 1 and exported[0].with_suffix(".json").is_file()
    stamp = exported[0].stat().st_mtime_ns
    _, again, _ = torch_and_onnx("meso", weights, tmp_path)  # from the cache: the file is not written again
    assert exported[0].stat().st_mtime_ns == stamp
    assert_agrees(det, again)
    assert capsys.readouterr().err == ""


def test_a_damaged_export_is_rebuilt_with_one_warning(tmp_path, capsys):
    weights = str(detectors.default_weights("meso"))
    det, _, _ = torch_and_onnx("meso", weights, tmp_path)
    (path,) = (tmp_path / "onnx").glob("*.onnx")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    _, onnx, choice = torch_and_onnx("meso", weights, tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ONNX cache entry") and "damaged" in err[0]
    assert choice.backend == "onnxruntime"
    assert_agrees(det, onnx)
    import hashlib
    assert hashlib.sha256(path.read_bytes()).hexdigest() == json.loads(path.with_suffix(".json").read_text())["sha256"]


@pytest.mark.slow
def test_clip_models_keep_torch_with_a_note():
    for name in ("resnet-lstm", "efficientnet-lstm"):
        det, kept, choice = torch_and_onnx(name)
        assert kept is det and choice.backend == "torch" and "clip model" in choice.note


def test_backend_is_in_the_score_cache_key(tmp_path):
    weights = str(detectors.default_weights("meso"))
    det, onnx, _ = torch_and_onnx("meso", weights, tmp_path)
    keys = []
    for model in (det, onnx):
        reuse = ScoreReuse.for_run(settings_for("meso", weights), root=tmp_path, models={"meso": model}, levels={},
                                   device_type="cpu", precision="fp32", apply_at="crop", aggregate="mean")
        keys.append(reuse.detectors["meso"])
    assert keys[0] is not None and keys[1] is not None and keys[0] != keys[1]


def test_unknown_backend_and_mixed_precision_are_refused():
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime"):
        RunConfig(backend="openvino")
    with pytest.raises(ValueError, match="needs --backend torch"):
        RunConfig(backend="onnxruntime", precision="bf16")


@pytest.mark.slow
def test_a_demo_run_on_onnxruntime_matches_torch_and_says_so(tmp_path):
    results = {}
    for backend in ("torch", "onnxruntime"):
        config = RunConfig(detectors=["meso"], levels=["heavy"], num_frames=4, max_videos=4, bootstrap=0,
                           backend=backend, out=str(tmp_path / backend), cache_dir=str(tmp_path / "cache"))
        benchmarks.run(config, progress=False)
        manifest = json.loads((tmp_path / backend / "manifest.json").read_text())
        assert manifest["backend"]["meso"]["backend"] == backend
        rows = (tmp_path / backend / "scores.csv").read_text().splitlines()
        results[backend] = rows
    import csv
    torch_rows = {(r["video_id"], r["level"]): r for r in csv.DictReader(results["torch"])}
    onnx_rows = {(r["video_id"], r["level"]): r for r in csv.DictReader(results["onnxruntime"])}
    assert torch_rows.keys() == onnx_rows.keys() and torch_rows
    for key, row in torch_rows.items():
        assert abs(float(row["score"]) - float(onnx_rows[key]["score"])) <= AGREEMENT


def test_preflight_names_missing_onnx_packages(monkeypatch):
    """Both are main dependencies; an environment installed by hand without them gets one line naming them."""
    import importlib.util

    from benchmarks.preflight import check_backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ValueError, match=r"--backend onnxruntime needs onnx: pip install 'onnxruntime>=1.17' "
                                         r"'onnx>=1.15' \(or --backend torch\)"):
        check_backend("onnxruntime")
    check_backend("torch")  # the torch backend needs neither
