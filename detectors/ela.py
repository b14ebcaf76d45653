"""Error-level analysis (ELA) as a detector's input: `detectors.create(name, ela=True)`, `--detector-option ela=true`.

The ELA image of a frame is |frame - JPEG(frame)|, the frame re-saved as JPEG at `quality` (default 90) with
Pillow, scaled so that the frame's largest difference (over all pixels and channels) becomes 1.0: the per-image
`ImageEnhance.Brightness(255 / max_diff)` of the usual ELA code (a flat difference of 0 stays 0), kept as float
instead of rounded back to 8 bits. The detector then sees the ELA image where it saw the frame (its own size and
normalisation unchanged), as in the VGG16 / EfficientNetB1 study. The crop is re-saved at the detector's input
size, after any perturbation: ELA measures what the detector is given.

A detector created with ELA records it in its card (`input_transform`), so weights trained on ELA input get ELA
again when loaded, and the run manifest's input contract shows it.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from PIL import Image

ELA_QUALITY = 90  # JPEG quality of the re-save (the ELA code the study follows uses 90)
TRANSFORM_KIND = "ela"


def ela_image(rgb: np.ndarray, quality: int = ELA_QUALITY) -> np.ndarray:
    """uint8 H x W x 3 RGB -> float32 H x W x 3 ELA image in [0, 1] (see module docstring)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"ela_image: expected uint8 H x W x 3 RGB, got {rgb.dtype} {rgb.shape}")
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, "JPEG", quality=int(quality))
    resaved = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    diff = np.abs(rgb.astype(np.int16) - resaved.astype(np.int16)).astype(np.float32)
    peak = float(diff.max())
    return diff / peak if peak > 0 else diff


def ela_batch(x: torch.Tensor, quality: int = ELA_QUALITY) -> torch.Tensor:
    """float N x 3 x H x W RGB in [0, 1] -> its ELA images, same shape, dtype and device."""
    pixels = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([ela_image(frame, quality) for frame in pixels]) if len(pixels) else \
        np.zeros(pixels.shape, np.float32)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype)


def parse_flag(value: Any, option: str) -> bool:
    """True/False from a bool or the CLI's "true"/"false" text; anything else is a ValueError naming it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    if value in (0, 1):
        return bool(value)
    raise ValueError(f"detector option {option}={value!r}: use true or false")


def card_transform(card: dict | None) -> dict | None:
    """The ELA settings recorded in a weight file's card, or None."""
    transform = (card or {}).get("input_transform")
    return transform if isinstance(transform, dict) and transform.get("kind") == TRANSFORM_KIND else None


def with_ela(detector: Any, name: str, ela: Any = None, ela_quality: Any = None) -> Any:
    """`detector` fed ELA images when asked (`ela`) or when its weights were trained so (their card); else as is."""
    wanted = None if ela is None else parse_flag(ela, "ela")
    recorded = card_transform(getattr(detector.weights, "card", None))
    if recorded and wanted is False:
        raise ValueError(f"detector {name!r}: {detector.weights.path} was trained on ELA input (its card's "
                         f"input_transform); drop ela=false")
    if not (wanted or recorded):
        if ela_quality is not None:
            raise ValueError(f"detector {name!r}: ela_quality={ela_quality!r} needs ela=true")
        return detector
    quality = ela_quality if ela_quality is not None else (recorded or {}).get("jpeg_quality", ELA_QUALITY)
    if isinstance(quality, bool) or not isinstance(quality, int):
        raise ValueError(f"detector {name!r}: ela_quality={quality!r}: use a JPEG quality from 1 to 100")
    return ELADetector(detector, quality)


class ELADetector:
    """A detector fed ELA images instead of frames: every input-taking method transforms, then delegates."""

    def __init__(self, inner: Any, quality: int = ELA_QUALITY) -> None:
        if not 1 <= int(quality) <= 100:
            raise ValueError(f"detector option ela_quality={quality!r}: use a JPEG quality from 1 to 100")
        self.inner, self.quality = inner, int(quality)
        self.name, self.input_size, self.temporal = inner.name, inner.input_size, inner.temporal
        self.model, self.weights = inner.model, inner.weights

    def transform(self) -> dict:
        return {"kind": TRANSFORM_KIND, "jpeg_quality": self.quality, "scale": "per-image max difference -> 1.0"}

    def fake_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.fake_logits(ela_batch(x, self.quality))

    def clip_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.clip_logits(ela_batch(x, self.quality))

    def clips(self, n: int) -> list[slice]:
        return self.inner.clips(n)

    def predict(self, x: torch.Tensor) -> np.ndarray:
        return self.inner.predict(ela_batch(x, self.quality))

    def checkpoint_card(self) -> dict:
        return {**self.inner.checkpoint_card(), "input_transform": self.transform()}
