"""The adapter contract every detector implements, and what a run records about it (`input_contract`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from .errors import CheckpointError

__all__ = ["CheckpointError", "WeightsInfo", "DetectorProtocol", "Detector", "input_contract"]


@dataclass
class WeightsInfo:
    """Where a detector's weights came from; copied verbatim into run manifests and reports."""

    path: str | None            # None when randomly initialised
    sha256: str | None
    format: str                 # "keras-h5" | "deepfake_detector-pth" | "safetensors" | "random-init"
    architecture: str           # e.g. "mesoinception4-keras", "mesoinception4-dfdet", "meso4-keras"
    provenance: str = ""        # free text from the card or the source format
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def random_init(self) -> bool:
        return self.format == "random-init"


@runtime_checkable
class DetectorProtocol(Protocol):
    """What callers may rely on for every object `detectors.create` returns, plug-ins included.

    A Protocol because plug-ins may duck-type `Detector` instead of subclassing it; `create` checks the
    attributes (and sets `temporal = False` on plug-ins that do not declare it), so callers read
    `detector.temporal` directly instead of guessing with getattr.
    """

    name: str
    input_size: int  # side of the square RGB input, px
    temporal: bool  # clip model: `predict`/`fake_logits` see a video's frames as clips, not independent frames
    model: torch.nn.Module
    weights: WeightsInfo

    def fake_logits(self, x: torch.Tensor) -> torch.Tensor: ...

    def predict(self, x: torch.Tensor) -> np.ndarray: ...

    def checkpoint_card(self) -> dict[str, Any]: ...


class Detector:
    """A frame-level deepfake detector (a clip model when `temporal` is True).

    `predict(x)` takes float32 N x 3 x H x W RGB in [0, 1] at `input_size` and returns P(fake) as a
    1-D numpy array; normalisation and the source's label convention are handled inside, so callers
    never see P(real) or logits of the other class.
    """

    name: str
    input_size: int
    temporal: bool = False  # frame classifiers; clip models (resnet-lstm, efficientnet-lstm) set True
    model: torch.nn.Module
    weights: WeightsInfo

    def fake_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logit of P(fake), shape (N,); used by training."""
        raise NotImplementedError

    def checkpoint_card(self) -> dict[str, Any]:
        """How to rebuild and read this model (architecture, normalisation, output); saved by export."""
        raise NotImplementedError

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> np.ndarray:
        self.model.eval()
        return torch.sigmoid(self.fake_logits(x)).double().cpu().numpy().reshape(-1)


def input_contract(detector: DetectorProtocol) -> dict:
    """What the detector expects (frame or clip, size, normalisation), from its own card, for the manifest."""
    try:
        card = detector.checkpoint_card()
    except NotImplementedError:
        card = {}
    keys = ("architecture", "input", "input_size", "clip_frames", "colour_order", "normalisation", "input_transform",
            "output")
    contract = {k: card[k] for k in keys if k in card}
    contract.setdefault("input", "clip" if getattr(detector, "temporal", False) else "frame")
    return contract
