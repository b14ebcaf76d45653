"""Weight files: content sniffing, safe torch loading, strict key matching, the safetensors format."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import detectors
from detectors.base import CheckpointError
from detectors.checkpoints import load_checkpoint, save_checkpoint, sha256_file
from tests.conftest import shared_path


class _Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _assert_one_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def _rejects(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        detectors.create("meso", weights=path)
    return _assert_one_line(info, path)


# --- unsupported / damaged files ---------------------------------------------------------------

def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.touch()
    msg = _rejects(path)
    assert "accepted formats" in msg and "empty" in msg


def test_text_file_named_like_weights(tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    path.write_text("these are not weights\n" * 10)
    assert "accepted formats" in _rejects(path)


def test_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "face.pth"
    shutil.copy(shared_path("mesonet", "test_images", "df", "df00204.jpg"), path)
    assert "accepted formats" in _rejects(path)


def test_missing_file(tmp_path: Path) -> None:
    _rejects(tmp_path / "nowhere.h5")


def test_truncated_safetensors(tmp_path: Path) -> None:
    full = save_checkpoint({"w": torch.zeros(1000)}, tmp_path / "full", _card())
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(full.read_bytes()[:200])
    assert "safetensors" in _rejects(cut)
    header_only = tmp_path / "header.bin"
    header_only.write_bytes(struct.pack("<Q", 10_000) + b"{")
    assert "truncated" in _rejects(header_only)


def test_truncated_h5_and_pth(tmp_path: Path) -> None:
    for src in (shared_path("mesonet", "weights", "MesoInception_DF.h5"),
                shared_path("catogit", "mesonet_dfdc.pth")):
        cut = tmp_path / src.name
        cut.write_bytes(src.read_bytes()[:5000])
        _rejects(cut)


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_pickle_never_runs(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"fc1.weight": torch.zeros(1), "x": _Payload(marker)}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match="refusing to load") as info:
        detectors.create("meso", weights=path)
    _assert_one_line(info, path)
    assert not marker.exists()


# --- architecture / key mismatches -------------------------------------------------------------

def test_meso4_h5_into_meso() -> None:
    path = shared_path("mesonet", "weights", "Meso4_DF.h5")
    with pytest.raises(CheckpointError) as info:
        detectors.create("meso", weights=path)
    msg = _assert_one_line(info, path)
    assert "meso4-keras" in msg and "missing" in msg and "inception1." in msg and "unexpected" in msg


def test_mesoinception_h5_into_meso4() -> None:
    path = shared_path("mesonet", "weights", "MesoInception_DF.h5")
    with pytest.raises(CheckpointError, match="mesoinception4-keras"):
        detectors.create("meso4", weights=path)


def test_missing_key_is_listed(tmp_path: Path) -> None:
    state = torch.load(shared_path("catogit", "mesonet_dfdc.pth"), map_location="cpu", weights_only=True)
    del state["fc2.bias"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        detectors.create("meso", weights=path)
    msg = _assert_one_line(info, path)
    assert "missing [fc2.bias]" in msg


def test_wrong_shape_is_listed(tmp_path: Path) -> None:
    state = torch.load(shared_path("catogit", "mesonet_dfdc.pth"), map_location="cpu", weights_only=True)
    state["fc1.weight"] = torch.zeros(16, 512)
    path = tmp_path / "shape.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    with pytest.raises(CheckpointError, match=r"shape mismatch \[fc1.weight file\(16, 512\)"):
        detectors.create("meso", weights=path)


def test_module_prefix_and_wrapper_are_accepted(tmp_path: Path) -> None:
    src = shared_path("catogit", "mesonet_dfdc.pth")
    state = torch.load(src, map_location="cpu", weights_only=True)
    path = tmp_path / "wrapped.bin"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    x = torch.rand(2, 3, 256, 256)
    np.testing.assert_array_equal(detectors.create("meso", weights=path).predict(x),
                                  detectors.create("meso", weights=src).predict(x))


def test_safetensors_without_card(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    assert "card" in _rejects(path)


# --- the project's format ----------------------------------------------------------------------

def _card(**extra) -> dict:
    return {"architecture": "x", "detector": "meso", "input_size": 256,
            "normalisation": {"mean": [0, 0, 0], "std": [1, 1, 1]}, "output": "logit_real",
            "label_convention": "test", "provenance": "test", **extra}


@pytest.mark.parametrize("name,source", [
    ("meso", ("mesonet", "weights", "MesoInception_F2F.h5")),
    ("meso4", ("mesonet", "weights", "Meso4_DF.h5")),
    ("meso", ("catogit", "mesonet_celebdf.pth")),
])
def test_safetensors_round_trip(tmp_path: Path, name: str, source: tuple[str, ...]) -> None:
    src = shared_path(*source)
    original = detectors.create(name, weights=src)
    out = detectors.export(original, tmp_path / "converted", provenance="round-trip test")
    assert out == tmp_path / "converted.safetensors" and out.is_file()
    assert out.read_bytes()[8:9] == b"{"

    sidecar = json.loads(out.with_suffix(".json").read_text())
    reloaded = detectors.create(name, weights=out)
    card = reloaded.weights.card
    assert card == sidecar
    for key in ("architecture", "detector", "input_size", "normalisation", "output",
                "label_convention", "provenance", "source_sha256", "created"):
        assert key in card, key
    assert card["architecture"] == original.weights.architecture == reloaded.weights.architecture
    assert card["detector"] == name and card["provenance"] == "round-trip test"
    assert card["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert reloaded.weights.format == "safetensors"
    assert reloaded.weights.sha256 == sha256_file(out)

    x = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(reloaded.predict(x), original.predict(x))

    out.with_suffix(".json").unlink()  # the sidecar is for humans; the metadata is authoritative
    np.testing.assert_array_equal(detectors.create(name, weights=out).predict(x), original.predict(x))


def test_reexport_keeps_source_hash(tmp_path: Path) -> None:
    src = shared_path("catogit", "mesonet_dfdc.pth")
    first = detectors.export(detectors.create("meso", weights=src), tmp_path / "a.safetensors")
    second = detectors.export(detectors.create("meso", weights=first), tmp_path / "b.safetensors")
    card = load_checkpoint(second).card
    assert card["source_sha256"] == sha256_file(src)
    assert card["normalisation"] == {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    assert card["output"] == "logit_fake"


def test_safetensors_for_other_detector_rejected(tmp_path: Path) -> None:
    out = detectors.export(detectors.create("meso4", random_init=True), tmp_path / "m4")
    with pytest.raises(CheckpointError, match="meso4-keras"):
        detectors.create("meso", weights=out)
    assert detectors.create("meso4", weights=out).weights.architecture == "meso4-keras"


def test_random_init_export_has_no_source_hash(tmp_path: Path) -> None:
    out = detectors.export(detectors.create("meso", random_init=True), tmp_path / "r")
    card = load_checkpoint(out).card
    assert "source_sha256" not in card and card["source_format"] == "random-init"


def test_sniff_safetensors_whose_header_length_starts_like_a_pickle(tmp_path: Path) -> None:
    """A header length with low byte 0x80 must not be mistaken for a pickle's PROTO opcode."""
    from detectors.checkpoints import sniff_format

    for pad in range(0, 300):
        path = save_checkpoint({"w": torch.zeros(2)}, tmp_path / "p", _card(note="x" * pad))
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("could not build the header length")
    assert sniff_format(path) == "safetensors"
    assert load_checkpoint(path).format == "safetensors"
