"""`clip-probe`: a CLIP ViT image encoder with a linear probe, the UniversalFakeDetect detector.

Ojha, Li & Lee, "Towards Universal Fake Image Detectors that Generalize Across Generative Models" (CVPR 2023), code
github.com/WisconsinAIVision/UniversalFakeDetect: `models/clip_models.py` CLIPModel = OpenAI CLIP ViT-L/14
(`clip.load`, frozen) -> `encode_image` (768-d, after the visual projection) -> `fc` = Linear(768, 1); P(fake) =
sigmoid(fc) (validate.py, label 1 = fake); input: 224 px centre crop normalised with CLIP's mean/std.

The image encoder is timm's CLIP ViT (`vit_large_patch14_clip_quickgelu_224`: pre-norm, QuickGELU as in OpenAI's
weights), whose sizes are set from the checkpoint; OpenAI / open_clip names (`visual.conv1`, `visual.transformer.
resblocks.N.attn.in_proj_weight`, `visual.proj` ...) are converted by timm's own `checkpoint_filter_fn`. The published
`fc_weights.pth` holds the probe alone: the backbone then comes from `backbone_weights=FILE` (an OpenAI/open_clip
state_dict with `visual.*` keys, or timm's CLIP ViT state_dict). Weights are never downloaded.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import checkpoints
from .base import CheckpointError, WeightsInfo
from .convert import CLIP_NORM, clip_architecture, clip_dims
from .zoo import Arch, ZooDetector, build

__all__ = ["VARIANTS", "ClipProbe", "create", "create_clip_probe", "architecture"]

# OpenAI CLIP image towers (clip/model.py build_model: heads = width // 64): width, layers, patch, size, output.
VARIANTS = {
    "ViT-B/32": {"width": 768, "layers": 12, "patch": 32, "image_size": 224, "output": 512},
    "ViT-B/16": {"width": 768, "layers": 12, "patch": 16, "image_size": 224, "output": 512},
    "ViT-L/14": {"width": 1024, "layers": 24, "patch": 14, "image_size": 224, "output": 768},
    "ViT-L/14@336px": {"width": 1024, "layers": 24, "patch": 14, "image_size": 336, "output": 768},
}
DEFAULT_VARIANT = "ViT-L/14"  # UniversalFakeDetect's published probe
ARCH = re.compile(r"clip-vit:w(\d+)-l(\d+)-p(\d+)-s(\d+)-o(\d+)")
PROBE = re.compile(r"clip-probe-head:(\d+)")
TITLE = "CLIP ViT + linear probe (UniversalFakeDetect, Ojha et al. CVPR 2023)"


class ClipProbe(nn.Module):
    """timm CLIP ViT (its head = CLIP's visual projection, zero bias) -> `fc` Linear(output, 1): one logit."""

    def __init__(self, width: int, layers: int, patch: int, image_size: int, output: int) -> None:
        super().__init__()
        import timm

        self.backbone = timm.create_model("vit_large_patch14_clip_quickgelu_224", pretrained=False, num_classes=output,
                                          img_size=image_size, patch_size=patch, embed_dim=width, depth=layers,
                                          num_heads=max(1, width // 64))
        self.fc = nn.Linear(output, 1)

    def backbone_modules(self) -> nn.Module:
        return self.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)).reshape(-1)


def architecture(dims: dict[str, int]) -> Arch:
    return Arch(clip_architecture(dims), "clip-probe", TITLE, dims["image_size"], tuple(CLIP_NORM["mean"]),
                tuple(CLIP_NORM["std"]), False, lambda: ClipProbe(**dims))


def dims_of(text: str) -> dict[str, int]:
    m = ARCH.fullmatch(text)
    if not m:
        raise CheckpointError(f"not a clip-probe architecture: {text!r}")
    return dict(zip(("width", "layers", "patch", "image_size", "output"), map(int, m.groups())))


def variant_dims(variant: str | None) -> dict[str, int]:
    """An OpenAI tower by name, or any size by architecture string (`clip-vit:w64-l2-p16-s64-o32`, small tests)."""
    name = variant or DEFAULT_VARIANT
    if ARCH.fullmatch(name):
        return dims_of(name)
    if name not in VARIANTS:
        raise ValueError(f"clip-probe variant {name!r}: use one of {', '.join(VARIANTS)} or "
                         f"clip-vit:wWIDTH-lLAYERS-pPATCH-sSIZE-oOUTPUT")
    return dict(VARIANTS[name])


def to_timm(state: dict[str, torch.Tensor], model: ClipProbe) -> dict[str, torch.Tensor]:
    """Our key layout (`backbone.*` timm names, `fc.*`) from OpenAI-layout `visual.*` keys, by timm's converter."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    visual = {k: v for k, v in state.items() if k.startswith("visual.")}
    rest = {k: v for k, v in state.items() if not k.startswith("visual.")}
    if not visual:
        return rest
    return {**{f"backbone.{k}": v for k, v in checkpoint_filter_fn(visual, model.backbone).items()}, **rest}


def read_backbone(path: str | Path) -> tuple[dict[str, int] | None, dict[str, torch.Tensor], str]:
    """(dims or None for timm names, tensors, sha256) of a CLIP image tower file: OpenAI / open_clip (`visual.*`,
    the text tower ignored) or timm (`patch_embed.proj.weight` ...) names."""
    path = Path(path)
    state = checkpoints.tensor_file(path, "CLIP backbone weights")
    state = {k.removeprefix("model."): v for k, v in state.items()}
    if "visual.class_embedding" in state:
        visual = {k: v for k, v in state.items() if k.startswith("visual.")}
        return clip_dims(visual, path), visual, checkpoints.sha256_file(path)
    if "patch_embed.proj.weight" in state and "head.weight" in state:
        width, _, patch, _ = state["patch_embed.proj.weight"].shape
        layers = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
        grid = round((state["pos_embed"].shape[1] - 1) ** 0.5)
        dims = {"width": int(width), "layers": layers, "patch": int(patch), "image_size": grid * int(patch),
                "output": int(state["head.weight"].shape[0])}
        return dims, {f"backbone.{k}": v for k, v in state.items()}, checkpoints.sha256_file(path)
    raise CheckpointError(f"{path}: not a CLIP image tower (expected OpenAI/open_clip `visual.*` or timm ViT keys, "
                          f"found {list(state)[:3]})")


def create(weights: str | Path | None = None, random_init: bool = False, seed: int = 0, variant: str | None = None,
           backbone_weights: str | Path | None = None) -> ZooDetector:
    """A UniversalFakeDetect CLIP model (`model.visual.*` + `fc`), its probe alone with `backbone_weights`, a
    project safetensors file, or a random model of `variant` (ViT-L/14 by default)."""
    name = "clip-probe"
    if weights is None and not random_init:
        raise CheckpointError(f"detector {name!r} needs weights: pass --weights PATH (UniversalFakeDetect checkpoint, "
                              f"or its fc_weights.pth with --backbone-weights CLIP_FILE, or a .safetensors from "
                              f"`weights import`), or --random-init for an untrained model")
    if weights is None:
        dims = variant_dims(variant)
        backbone = read_backbone(backbone_weights) if backbone_weights else None
        arch = architecture(backbone[0] if backbone else dims)
        model = build(arch, seed)
        provenance = f"random probe (seed {seed}); WARNING: random CLIP backbone (pass --backbone-weights)"
        if backbone:
            model.backbone.load_state_dict(_backbone_state(to_timm(backbone[1], model), model, backbone_weights))
            provenance = f"random probe (seed {seed}); CLIP backbone {Path(backbone_weights).name} (sha256 {backbone[2]})"
        info = WeightsInfo(None, None, "random-init", arch.architecture, provenance)
        return ZooDetector(name, arch, model, info)

    ckpt = checkpoints.load_checkpoint(weights, detector=name)
    if ckpt.format == "safetensors" and ckpt.card.get("detector") != name:
        raise CheckpointError(f"{ckpt.path}: holds {ckpt.architecture} weights for {ckpt.card.get('detector')!r}, "
                              f"not {name!r}")
    state, card, provenance = dict(ckpt.state_dict), dict(ckpt.card), ckpt.provenance
    if PROBE.fullmatch(ckpt.architecture):
        if not backbone_weights:
            raise CheckpointError(f"{ckpt.path}: a linear probe alone (fc {ckpt.state_dict['fc.weight'].shape[1]}-d): "
                                  f"pass the CLIP image tower with --backbone-weights FILE (OpenAI/open_clip or timm)")
        dims, tower, sha = read_backbone(backbone_weights)
        state.update(tower)
        card["backbone_weights"] = {"file": Path(backbone_weights).name, "sha256": sha}
        provenance += f"; CLIP backbone {Path(backbone_weights).name} (sha256 {sha})"
    else:
        dims = dims_of(ckpt.architecture)
    arch = architecture(dims)
    model = build(arch, seed)
    checkpoints.load_strict(model, to_timm(state, model), ckpt.path)
    info = WeightsInfo(str(ckpt.path), ckpt.sha256, ckpt.format, arch.architecture, provenance, card)
    norm = card.get("normalisation") or CLIP_NORM
    return ZooDetector(name, arch, model, info, mean=tuple(norm["mean"]), std=tuple(norm["std"]))


def _backbone_state(state: dict[str, torch.Tensor], model: ClipProbe, path: Any) -> dict[str, torch.Tensor]:
    """The backbone's part of `state`, every key and shape checked (a partial backbone would score silently wrong)."""
    inner = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    missing, unexpected, shapes = checkpoints.state_dict_mismatches(model.backbone, inner)
    if missing or unexpected or shapes:
        checkpoints.raise_mismatch(model.backbone, inner, path, "CLIP backbone weights do not fit")
    return inner


def create_clip_probe(weights: str | Path | None = None, random_init: bool = False, **options: Any) -> ZooDetector:
    return create(weights, random_init, **options)
