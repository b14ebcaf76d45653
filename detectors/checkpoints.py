"""Reading and writing detector weights; the format is recognised from content, never the extension.

Accepted: the MesoNet authors' Keras HDF5 weight files, torch state_dicts (zip or legacy pickle,
always loaded with weights_only=True so no pickled code runs) and the project's own safetensors
files, which carry a JSON "card" saying how to rebuild and read the model.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, NoReturn

import numpy as np
import torch

from .base import CheckpointError, Detector
from .convert import convert

ACCEPTED = ("accepted formats: Keras HDF5 weights (MesoNet .h5), torch state_dict (zip or legacy "
            "pickle, loaded weights_only), safetensors with a project card")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTO = b"\x80"
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


@dataclass
class LoadedCheckpoint:
    """A state_dict in our key layout plus what is known about where it came from."""

    path: Path
    sha256: str
    format: str          # "keras-h5" | "deepfake_detector-pth" | "safetensors"
    architecture: str
    state_dict: dict[str, torch.Tensor]
    provenance: str = ""
    card: dict[str, Any] = field(default_factory=dict)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_format(path: str | Path) -> str:
    """'hdf5' | 'torch-zip' | 'torch-pickle' | 'safetensors' from the first bytes; else CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weight file")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head[:8] == HDF5_MAGIC:
        return "hdf5"
    if head[:4] == ZIP_MAGIC:
        return "torch-zip"
    # Before the pickle test: a safetensors header length can start with byte 0x80 too.
    if len(head) == 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len <= MAX_SAFETENSORS_HEADER:
            if 8 + header_len > size:
                raise CheckpointError(f"{path}: truncated safetensors file (header says {header_len} "
                                      f"bytes, file has {size}); {ACCEPTED}")
            return "safetensors"
    if head[:1] == PICKLE_PROTO:
        return "torch-pickle"
    what = "empty file" if size == 0 else "unrecognised content"
    raise CheckpointError(f"{path}: not a weight file ({what}); {ACCEPTED}")


# --- Keras HDF5 ------------------------------------------------------------------------------

def _keras_layers(h5: Any) -> list[tuple[str, dict[str, Any]]]:
    """(layer_name, {weight_suffix: array}) for layers that hold weights, in file order."""
    group = h5["model_weights"] if "model_weights" in h5 else h5
    layers = []
    for raw in group.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group[name].attrs["weight_names"]]
        if names:
            layers.append((name, {n.split("/")[-1].split(":")[0]: np.asarray(group[name][n]) for n in names}))
    return layers


def _by_kind(layers: list[tuple[str, dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    """Layers of one Keras type sorted by their numeric suffix, i.e. by creation order."""
    matches = [(int(m.group(1)) if (m := re.fullmatch(rf"{kind}_(\d+)", n)) else 0, w)
               for n, w in layers if n == kind or n.startswith(kind + "_")]
    return [w for _, w in sorted(matches, key=lambda t: t[0])]


def _keras_target_names(n_conv: int) -> tuple[str, list[str]]:
    """Our module names for the Keras convs in creation order; the conv count identifies the model."""
    if n_conv == 4:
        return "meso4-keras", [f"conv{i}" for i in range(1, 5)]
    if n_conv == 16:
        inception = [f"inception{b}.conv{i}" for b in (1, 2) for i in range(1, 8)]
        return "mesoinception4-keras", inception + ["conv1", "conv2"]
    raise CheckpointError(f"Keras file with {n_conv} Conv2D layers is neither Meso4 (4) nor MesoInception4 (16)")


def read_keras_h5(path: Path) -> tuple[str, dict[str, torch.Tensor], str]:
    """Convert MesoNet Keras weights: conv HWIO->OIHW, dense (in,out)->(out,in), BN stats."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            layers = _keras_layers(h5)
            keras_version = h5.attrs.get("keras_version", b"?")
    except CheckpointError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError on odd files
        raise CheckpointError(f"{path}: unreadable Keras HDF5 weights ({_one_line(exc)}); {ACCEPTED}") from None
    keras_version = keras_version.decode() if isinstance(keras_version, bytes) else str(keras_version)
    convs, bns, denses = (_by_kind(layers, k) for k in ("conv2d", "batch_normalization", "dense"))
    try:
        architecture, conv_names = _keras_target_names(len(convs))
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if len(bns) != 4 or len(denses) != 2:
        raise CheckpointError(f"{path}: expected 4 BatchNormalization and 2 Dense layers, found "
                              f"{len(bns)} and {len(denses)}")
    state: dict[str, torch.Tensor] = {}
    for name, w in zip(conv_names, convs):
        state[f"{name}.weight"] = torch.from_numpy(w["kernel"]).permute(3, 2, 0, 1).contiguous()
        state[f"{name}.bias"] = torch.from_numpy(w["bias"])
    for i, w in enumerate(bns, start=1):
        state[f"bn{i}.weight"] = torch.from_numpy(w["gamma"])
        state[f"bn{i}.bias"] = torch.from_numpy(w["beta"])
        state[f"bn{i}.running_mean"] = torch.from_numpy(w["moving_mean"])
        state[f"bn{i}.running_var"] = torch.from_numpy(w["moving_variance"])
        state[f"bn{i}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    for i, w in enumerate(denses, start=1):
        state[f"fc{i}.weight"] = torch.from_numpy(w["kernel"]).t().contiguous()
        state[f"fc{i}.bias"] = torch.from_numpy(w["bias"])
    provenance = (f"MesoNet Keras weights {path.name} (Afchar et al. 2018, github.com/DariusAf/MesoNet, "
                  f"Apache-2.0), keras {keras_version}; sigmoid output P(real)")
    return architecture, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, provenance


# --- torch state_dicts -----------------------------------------------------------------------

def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Accept a bare state_dict or the usual {'state_dict'|'model'|...: state_dict} wrappers."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model", "net"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: torch file does not hold a state_dict (got {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: state_dict entries that are not tensors: {bad[:5]}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def tensor_file(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a backbone-style weight file (`what` names it in the error): a safetensors file, or a torch
    state_dict loaded with weights_only; any other format is a one-line CheckpointError."""
    path = Path(path)
    kind = sniff_format(path)
    if kind == "safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    if kind in ("torch-zip", "torch-pickle"):
        return torch_state_dict(path)
    raise CheckpointError(f"{path}: {what} must be a torch state_dict or safetensors file")


def torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load with weights_only=True only: a pickle that needs code/objects is refused, never run."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refusing to load: the checkpoint contains pickled code/objects that weights_only "
            f"loading does not allow ({_one_line(exc, 160)})") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable torch checkpoint ({_one_line(exc)}); {ACCEPTED}") from None
    state = _unwrap_state_dict(obj, path)
    return {k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v) for k, v in state.items()}


def read_torch(path: Path) -> tuple[str, dict[str, torch.Tensor], str, dict[str, Any], str]:
    """(architecture, state in our layout, provenance, card hints, format) for deepfake_detector/DeepfakeBench files."""
    return convert(torch_state_dict(path), path)


# --- safetensors (the project's format) ------------------------------------------------------

def read_safetensors(path: Path) -> tuple[str, dict[str, torch.Tensor], str, dict[str, Any]]:
    """Tensors plus the card from the file's metadata (falling back to the FILE.json sidecar)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable safetensors file ({_one_line(exc)}); {ACCEPTED}") from None
    card_text = metadata.get("card")
    sidecar = path.with_suffix(".json")
    if card_text is None and sidecar.is_file():
        card_text = sidecar.read_text(encoding="utf-8")
    try:
        card = json.loads(card_text) if card_text is not None else None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: card is not valid JSON ({_one_line(exc)})") from None
    if not isinstance(card, dict) or not card.get("architecture"):
        raise CheckpointError(f"{path}: safetensors file without a project card (metadata 'card' with "
                              f"'architecture'); re-export it with `weights import`")
    return str(card["architecture"]), state, str(card.get("provenance", "")), card


def load_checkpoint(path: str | Path, detector: str | None = None) -> LoadedCheckpoint:
    """Read any accepted weight file into our key layout; the architecture comes from the content.

    `detector` is informational (the converters recognise the source layout themselves).
    """
    path = Path(path)
    kind = sniff_format(path)
    card: dict[str, Any] = {}
    if kind == "hdf5":
        fmt, (arch, state, provenance) = "keras-h5", read_keras_h5(path)
    elif kind == "safetensors":
        fmt, (arch, state, provenance, card) = "safetensors", read_safetensors(path)
    else:
        arch, state, provenance, card, fmt = read_torch(path)
    return LoadedCheckpoint(path, sha256_file(path), fmt, arch, state, provenance, card)


# --- strict loading --------------------------------------------------------------------------

def state_dict_mismatches(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, 'key file(shape) != model(shape)') between a model and a state_dict."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} file{tuple(state[k].shape)} != model{tuple(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    return missing, unexpected, shapes


def raise_mismatch(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path | str,
                   reason: str) -> NoReturn:
    """Raise a one-line CheckpointError with the first few key differences."""
    def few(items: list[str]) -> str:
        return ", ".join(items[:4]) + (f" (+{len(items) - 4} more)" if len(items) > 4 else "")

    missing, unexpected, shapes = state_dict_mismatches(model, state)
    parts = [f"{label} [{few(items)}]" for label, items in
             (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)) if items]
    raise CheckpointError(f"{path}: {reason}: " + "; ".join(parts or ["no key differences"]))


def load_strict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path | str) -> None:
    """All keys and shapes must match: a partially loaded detector would give silently wrong scores."""
    missing, unexpected, shapes = state_dict_mismatches(model, state)
    if missing or unexpected or shapes:
        raise_mismatch(model, state, path, "weights do not fit the architecture")
    model.load_state_dict(dict(state), strict=True)


# --- writing ---------------------------------------------------------------------------------

CARD_REQUIRED = ("architecture", "detector", "input_size", "normalisation", "output",
                 "label_convention", "provenance")


def save_checkpoint(model_state: Mapping[str, torch.Tensor], path: str | Path, card: dict[str, Any]) -> Path:
    """Write FILE.safetensors with the card in its metadata, and the same card as FILE.json."""
    from safetensors.torch import save_file

    missing = [k for k in CARD_REQUIRED if k not in card]
    if missing:
        raise ValueError(f"checkpoint card lacks {missing}")
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    card = {**card, "created": card.get("created") or datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model_state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"card": json.dumps(card, sort_keys=True)})
    path.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def export(detector: Detector, path: str | Path, provenance: str | None = None,
           extra: dict[str, Any] | None = None) -> Path:
    """Save any loaded detector in the project's format; records the source file's sha256.

    `extra` adds fields to the card (e.g. a training log), never overriding the architecture fields.
    """
    card = {**(extra or {}), **detector.checkpoint_card()}
    src = detector.weights
    card["provenance"] = provenance if provenance is not None else src.provenance
    if src.format == "safetensors":
        for key in ("source_sha256", "source_format", "source_provenance"):
            if key in src.card:
                card[key] = src.card[key]
    elif src.sha256:
        card["source_sha256"], card["source_format"] = src.sha256, src.format
        card["source_provenance"] = src.provenance
    else:
        card["source_format"] = src.format
    return save_checkpoint(detector.model.state_dict(), path, card)
