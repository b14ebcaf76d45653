"""The inference backend: torch (the adapters as written) or ONNX Runtime (each detector exported once to ONNX).

On CPUs without AVX-512/AMX, ONNX Runtime runs the same networks markedly faster than eager torch (docs/throughput.md
has the figures). A detector is exported with `torch.onnx.export` (its `fake_logits`, batch axis dynamic), checked
against torch on a seeded input at two batch sizes (P(fake) equal to `AGREEMENT`), and cached under
`<cache>/onnx/`, keyed like the score cache by the detector's fingerprint (weights, options, input contract, adapter
sources) and the project's code fingerprint. Each `.onnx` file has a sidecar holding its sha256: a damaged file is
found on load, exported again, and reported in one warning line. A detector that cannot go this way (a clip model, a
plug-in with its own `predict`, an export error, scores that disagree, a device other than the CPU) keeps torch,
and the reason is returned as a note for the run manifest.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import detectors

from ..config import BACKENDS, DetectorSettings, RunError
from .score_cache import code_fingerprint, detector_fingerprint

__all__ = ["BACKENDS", "AGREEMENT", "OnnxDetector", "BackendChoice", "apply_backend", "onnx_cache_key"]

AGREEMENT = 1e-4  # |P(fake) ONNX Runtime - P(fake) torch| allowed at export time (and in the tests)
OPSET = 17
CHECK_BATCHES = (3, 8)  # two batch sizes: an export that froze the batch size fails the check


@dataclass(frozen=True)
class BackendChoice:
    """What one detector runs on, and why when it is not what was asked for (recorded in the manifest)."""

    backend: str
    note: str = ""

    def to_dict(self) -> dict:
        return {"backend": self.backend, **({"note": self.note} if self.note else {})}


class OnnxDetector:
    """A loaded detector whose `predict` runs its exported `fake_logits` in ONNX Runtime; everything else (name,
    weights, card, `fake_logits` for training, `model` for the device) is the torch detector's (`wrapped`)."""

    backend = "onnxruntime"

    def __init__(self, wrapped: Any, session: Any) -> None:
        self.wrapped, self.session = wrapped, session
        self.name, self.input_size, self.temporal = wrapped.name, wrapped.input_size, wrapped.temporal
        self.model, self.weights = wrapped.model, wrapped.weights

    def fake_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.wrapped.fake_logits(x)

    def checkpoint_card(self) -> dict:
        return self.wrapped.checkpoint_card()

    def predict(self, x: torch.Tensor) -> np.ndarray:
        logits = self.session.run(None, {"x": np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)})[0]
        # the sigmoid in float32 like torch's Detector.predict, then float64
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float32)))).astype(np.float64).reshape(-1)


class _Logits(torch.nn.Module):
    """`detector.fake_logits` as a module, for the exporter."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.detector, self.model = detector, detector.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector.fake_logits(x)


def onnx_cache_key(fingerprint: str) -> str:
    """The cache key of a detector's export: its fingerprint, the code, the torch and onnxruntime versions, the opset."""
    import onnxruntime

    text = f"{fingerprint}|{code_fingerprint()}|torch={torch.__version__}|ort={onnxruntime.__version__}|{OPSET}"
    return hashlib.sha256(text.encode()).hexdigest()


def apply_backend(models: dict, backend: str, *, settings: DetectorSettings | None = None,
                  cache_root: Path | None = None, device_type: str = "cpu") -> tuple[dict, dict[str, BackendChoice]]:
    """`models` with each detector on `backend` where it can be, and per detector what it runs on and why."""
    if backend not in BACKENDS:
        raise RunError(f"unknown --backend {backend!r}; use {', '.join(BACKENDS)}")
    if backend == "torch":
        return dict(models), {name: BackendChoice("torch") for name in models}
    out, choices = {}, {}
    for name, det in models.items():
        try:
            out[name] = _onnx_detector(name, det, settings, cache_root, device_type)
            choices[name] = BackendChoice("onnxruntime")
        except _CannotExport as reason:
            out[name] = det
            choices[name] = BackendChoice("torch", f"onnxruntime not used: {reason}; torch instead")
    return out, choices


class _CannotExport(Exception):
    """Why a detector keeps torch (a note, never a failure of the run)."""


def _onnx_detector(name: str, det: Any, settings: DetectorSettings | None, cache_root: Path | None, device_type: str) -> OnnxDetector:
    if device_type != "cpu":
        raise _CannotExport(f"ONNX Runtime runs on the CPU here, the device is {device_type}")
    if det.temporal:
        raise _CannotExport("clip model (its clips are cut in Python, which an export would freeze)")
    if type(det).predict is not detectors.Detector.predict:
        raise _CannotExport("the adapter has its own predict")
    fingerprint = None
    if settings is not None:
        options = {**settings.detector_options.get(name, {}), "backbone_weights": settings.backbone_weights.get(name)}
        fingerprint = detector_fingerprint(name, det, options, detectors.input_contract(det))
    path = None
    if fingerprint is not None and cache_root is not None:
        path = Path(cache_root) / "onnx" / f"{onnx_cache_key(fingerprint)}.onnx"
        data = _load_checked(path)
        if data is not None:
            return OnnxDetector(det, _session(data))
    data = _export(name, det)
    session = _session(data)
    _check_agreement(name, det, session)
    if path is not None:
        _store(path, data, name)
    return OnnxDetector(det, session)


def _export(name: str, det: Any) -> bytes:
    size = det.input_size
    buffer = io.BytesIO()
    module = _Logits(det).eval()
    try:  # traced with autograd on: inference-only fast paths (MesoNet's fused pooling) use ops ONNX lacks
        torch.onnx.export(module, (torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)),),
                          buffer, input_names=["x"], output_names=["logit"], opset_version=OPSET,
                          dynamic_axes={"x": {0: "n"}, "logit": {0: "n"}}, dynamo=False)
    except Exception as exc:  # the adapter's code: any failure means it cannot export
        raise _CannotExport(f"export failed ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
    return buffer.getvalue()


def _check_agreement(name: str, det: Any, session: Any) -> None:
    """P(fake) of the export equals torch's to AGREEMENT on seeded inputs of two batch sizes."""
    generator = torch.Generator().manual_seed(22)
    onnx = OnnxDetector(det, session)
    for n in CHECK_BATCHES:
        x = torch.rand(n, 3, det.input_size, det.input_size, generator=generator)
        try:
            gap = float(np.abs(onnx.predict(x) - det.predict(x)).max())
        except Exception as exc:
            raise _CannotExport(f"the export does not run ({type(exc).__name__})") from None
        if not gap <= AGREEMENT:
            raise _CannotExport(f"the export's P(fake) differs from torch's by {gap:.2g} (> {AGREEMENT:g})")


def _session(data: bytes) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())  # as many threads as torch would use here
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _load_checked(path: Path) -> bytes | None:
    """The cached export, or None when absent or damaged (then one warning line; the caller exports again)."""
    sidecar = path.with_suffix(".json")
    if not path.exists() and not sidecar.exists():
        return None
    try:
        data = path.read_bytes()
        expected = json.loads(sidecar.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        data, expected = b"", None
    if expected is not None and hashlib.sha256(data).hexdigest() == expected:
        return data
    print(f"warning: ONNX cache entry {path} is damaged (checksum); exporting the detector again", file=sys.stderr)
    return None


def _store(path: Path, data: bytes, name: str) -> None:
    """Write the export and its sidecar atomically; a cache that cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, payload in ((path, data), (path.with_suffix(".json"), json.dumps(
                {"sha256": hashlib.sha256(data).hexdigest(), "detector": name, "torch": torch.__version__,
                 "opset": OPSET}).encode())):
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            temporary.write_bytes(payload)
            os.replace(temporary, target)
    except OSError:
        pass
