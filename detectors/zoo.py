"""The detector zoo beyond MesoNet: ResNet-LSTM, EfficientNet(-LSTM), Xception, any timm backbone, plug-ins.

Input contract (all adapters): `predict(x)` takes float32 N x 3 x S x S RGB in [0, 1] at `input_size` and returns
P(fake) per frame (numpy, shape (N,)); normalisation (ImageNet or 0.5/0.5, from the card) is applied inside.

* Frame classifiers (`efficientnet`, `xception`, `timm:<name>`, the studies' `vgg16`, `resnet50`, `inception-v3`,
  `efficientnet-b1`: studies.py) score each frame.
* Clip models (`resnet-lstm`, `efficientnet-lstm`, `frame-diff`; `temporal = True`) read the N frames as consecutive clips of
  `clip_frames` frames (from the card: 20, or 5 for DFDC, for deepfake_detector checkpoints, as they were trained;
  0, the default otherwise: the whole input is one clip, i.e. pass a whole video in one call). The last clip holds
  what is left (N mod clip_frames frames) and a video shorter than a clip is one shorter clip: the LSTM's last
  hidden state after fewer steps, as deepfake_detector scored a video in which fewer faces were found. Every frame
  of a clip gets that clip's score, so the mean over frames is the mean of the clip scores weighted by clip
  length. `predict_video(x)` returns (video score, frame scores or None).

torchvision / timm are imported here only (lazily, from the factories), so `meso` needs neither. Weights are never
downloaded: `pretrained=False` / `weights=None` always; ImageNet backbone weights only from a local
`backbone_weights=PATH`, otherwise the backbone is random and the provenance says "random backbone".
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import checkpoints
from .architectures import HALF, IMAGENET, Arch
from .base import CheckpointError, Detector, WeightsInfo
from .heads import TimmBinary
from .static_padding import apply_static_same
from .studies import study_architecture

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# efficientnet_pytorch's image_size for efficientnet-b4: DeepfakeBench's padding is computed for it (any input size).
DFBENCH_EFFB4_IMAGE_SIZE = 380
EFFICIENTNET_SIZES = {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "b4": 380, "b5": 456, "b6": 528, "b7": 600}


# --- models (state-dict keys follow the deepfake_detector repository where it has the model) ---------------

class ResNetLSTM(nn.Module):
    """ResNet-50 (torchvision) -> 1x1 conv 2048->128, BN, ReLU, avg pool -> LSTM(128, 512) -> FC 64 -> ReLU -> FC 1.

    The DeeperForensics-1.0 baseline as ported by deepfake_detector (pretrained_mods/resnetlstm.py): same module
    tree, so its keys (`resnet.0.weight` ... `resnet.9.*`, `lstm.*`, `fc1.*`, `fc2.*`) load unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        base = torchvision.models.resnet50(weights=None)
        self.resnet = nn.Sequential(*list(base.children())[:-2], nn.Conv2d(2048, 128, 1, bias=False),
                                    nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)))
        self.lstm = nn.LSTM(input_size=128, hidden_size=512, num_layers=1, batch_first=True)
        self.fc1, self.relu, self.fc2 = nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 1)

    def backbone_modules(self) -> nn.Module:
        return self.resnet[:8]

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # B x T x 3 x H x W -> B logits
        b, t = x.shape[:2]
        feats = self.resnet(x.flatten(0, 1)).view(b, t, -1)
        out, _ = self.lstm(feats)
        return self.fc2(self.relu(self.fc1(out[:, -1]))).reshape(-1)


class EfficientNetLSTM(nn.Module):
    """EfficientNet-B1 (timm) features -> 1x1 conv 1280->128, BN, Swish, pool -> LSTM(128, 512, 2 layers) -> head.

    deepfake_detector's EfficientNetB1LSTM (pretrained_mods/efficientnetb1lstm.py). Our `b1.N` indices follow
    timm >= 0.9 (conv_stem, bn1, blocks, conv_head, bn2, then 5..8); that repo's 2020 timm had separate act1/act2
    children (indices 0,1,3,4,5,7,8): `convert_dfdet_state` renumbers them.
    """

    def __init__(self, variant: str = "efficientnet_b1") -> None:
        super().__init__()
        import timm

        base = timm.create_model(variant, pretrained=False)
        self.b1 = nn.Sequential(*list(base.children())[:-2], nn.Conv2d(base.num_features, 128, 1, bias=False),
                                nn.BatchNorm2d(128), nn.SiLU(), nn.AdaptiveAvgPool2d((1, 1)))
        self.lstm = nn.LSTM(input_size=128, hidden_size=512, num_layers=2, batch_first=True)
        self.fc1, self.relu, self.fc2 = nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 1)

    def backbone_modules(self) -> nn.Module:
        return self.b1[:5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        feats = self.b1(x.flatten(0, 1)).view(b, t, -1)
        out, _ = self.lstm(feats)
        return self.fc2(self.relu(self.fc1(out[:, -1]))).reshape(-1)


class TimmClassifier(nn.Module):
    """A timm classifier with a one-logit head (`efficientnet`, `xception`): keys are timm's own."""

    def __init__(self, model_name: str, stem_padding: int | None = None, static_same: int | None = None) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model(model_name, pretrained=False, num_classes=1)
        if stem_padding is not None:   # DeepfakeBench's efficientnetb4 replaces the stem with a padding-0 conv
            old = self.net.conv_stem
            self.net.conv_stem = nn.Conv2d(3, old.out_channels, 3, 2, padding=stem_padding, bias=False)
        if static_same is not None:    # efficientnet_pytorch's padding, fixed for this image size (static_padding.py)
            apply_static_same(self.net, static_same)

    def backbone_modules(self) -> nn.Module:
        return self.net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(-1)


# --- architectures ------------------------------------------------------------------------------------------

def _timm_cfg(name: str) -> tuple[int, tuple, tuple]:
    import timm

    cfg = timm.get_pretrained_cfg(name.split(".")[0]) if hasattr(timm, "get_pretrained_cfg") else None
    cfg = cfg.to_dict() if cfg is not None and hasattr(cfg, "to_dict") else (cfg or {})
    size = int((cfg.get("input_size") or (3, 224, 224))[-1])
    return size, tuple(cfg.get("mean") or IMAGENET[0]), tuple(cfg.get("std") or IMAGENET[1])


def efficientnet_variant(variant: str) -> str:
    v = variant.lower().replace("-", "_")
    if v in EFFICIENTNET_SIZES:
        v = f"efficientnet_{v}"
    if not (v.startswith("efficientnet_b") or v.startswith("tf_efficientnet_b")):
        raise ValueError(f"efficientnet variant {variant!r}: use b0..b7, efficientnet_bN or tf_efficientnet_bN")
    key = v.rsplit("_", 1)[-1][:2]
    if key not in EFFICIENTNET_SIZES:
        raise ValueError(f"efficientnet variant {variant!r}: unknown size (b0..b7)")
    return v


def architecture(name: str, variant: str | None = None, input_size: int | None = None,
                 stem_padding: int | None = None, static_same: int | None = None) -> Arch:
    """The Arch for registry `name` (and its variant / timm model name).

    `stem_padding` and `static_same` (efficientnet only) rebuild DeepfakeBench's efficientnetb4: a padding-free stem
    and efficientnet_pytorch's "same" padding fixed for a 380 px image; both are named in the architecture string
    (`efficientnet:tf_efficientnet_b4:stem-pad0:static-same380`).
    """
    if name == "resnet-lstm":
        return Arch("resnet50-lstm", name, "ResNet-50 + LSTM (DeeperForensics-1.0 baseline)", input_size or 224,
                    *IMAGENET, True, ResNetLSTM)
    if name == "efficientnet-lstm":
        return Arch("efficientnet-b1-lstm", name, "EfficientNet-B1 + LSTM (deepfake_detector)", input_size or 240,
                    *IMAGENET, True, EfficientNetLSTM)
    if name == "efficientnet":
        v = efficientnet_variant(variant or "b4")
        size = input_size or EFFICIENTNET_SIZES[v.rsplit("_", 1)[-1][:2]]
        arch = (f"efficientnet:{v}" + (f":stem-pad{stem_padding}" if stem_padding is not None else "")
                + (f":static-same{static_same}" if static_same is not None else ""))
        mean, std = (HALF if stem_padding is not None else IMAGENET)
        return Arch(arch, name, f"EfficientNet {v} frame classifier", size, mean, std, False,
                    lambda: TimmClassifier(v, stem_padding, static_same))
    if name == "xception":
        return Arch("xception-legacy", name, "Xception (FaceForensics++ baseline, timm legacy_xception)",
                    input_size or 299, *HALF, False, lambda: TimmClassifier("legacy_xception"))
    study = study_architecture(name, input_size)
    if study is not None:
        return study
    if name.startswith("timm:"):
        model_name = name[len("timm:"):]
        if not model_name:
            raise ValueError("timm:<model_name> needs a model name, e.g. timm:resnet18")
        size, mean, std = _timm_cfg(model_name)
        return Arch(f"timm:{model_name}", name, f"timm {model_name} + dense 256-128-64 head", input_size or size,
                    mean, std, False, lambda: TimmBinary(model_name, img_size=input_size))
    raise ValueError(f"no zoo architecture {name!r}")


def arch_from_card(name: str, card: dict[str, Any]) -> Arch:
    arch = str(card.get("architecture", ""))
    if name == "efficientnet" and arch.startswith("efficientnet:"):
        parts = arch.split(":")
        flags = {f.rstrip("0123456789"): int(f[len(f.rstrip("0123456789")):]) for f in parts[2:]}
        pad, same = flags.get("stem-pad"), flags.get("static-same")
        if pad is not None and same is None:
            # Cards written before static padding existed: a padding-free stem only ever came from a DeepfakeBench
            # efficientnetb4 import, whose faithful model pads for 380 px (static_padding.py).
            same = DFBENCH_EFFB4_IMAGE_SIZE
        return architecture(name, parts[1], int(card.get("input_size") or 0) or None, stem_padding=pad,
                            static_same=same)
    return architecture(name, input_size=int(card.get("input_size") or 0) or None)


# --- adapter ------------------------------------------------------------------------------------------------

class ZooDetector(Detector):
    """[0,1] RGB in, logit of P(fake) out; clip models group frames into clips (see module docstring)."""

    def __init__(self, name: str, arch: Arch, model: nn.Module, weights: WeightsInfo,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 clip_frames: int | None = None) -> None:
        self.name, self.arch, self.model, self.weights = name, arch, model.eval(), weights
        self.input_size = arch.input_size
        self.temporal = arch.temporal
        self.clip_frames = arch.clip_frames if clip_frames is None else int(clip_frames)
        self.mean = torch.tensor(mean or arch.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std or arch.std, dtype=torch.float32).view(1, 3, 1, 1)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(f"{self.name}: expected N x 3 x {self.input_size} x {self.input_size} RGB in [0,1], "
                             f"got {tuple(x.shape)}")
        if self.arch.colour_order == "BGR":  # Keras caffe-mode models: channels reversed before the mean
            x = x.flip(1)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def clips(self, n: int) -> list[slice]:
        t = self.clip_frames if self.clip_frames > 0 else max(n, 1)
        return [slice(s, min(s + t, n)) for s in range(0, n, t)]

    def clip_logits(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per clip (clip models) or per frame (frame classifiers)."""
        x = self._check(x)
        if not self.temporal:
            return self.model(x)
        return torch.cat([self.model(x[s].unsqueeze(0)) for s in self.clips(len(x))])

    def fake_logits(self, x: torch.Tensor) -> torch.Tensor:
        z = self.clip_logits(x)
        if not self.temporal:
            return z
        return torch.cat([z[i].expand(s.stop - s.start) for i, s in enumerate(self.clips(len(x)))])

    @torch.inference_mode()
    def predict_video(self, x: torch.Tensor) -> tuple[float, np.ndarray | None]:
        """(video P(fake), per-frame P(fake) or None for clip models, which have no frame scores)."""
        self.model.eval()
        p = torch.sigmoid(self.clip_logits(x)).double().cpu().numpy().reshape(-1)
        return float(p.mean()), (None if self.temporal else p)

    def checkpoint_card(self) -> dict[str, Any]:
        return {
            "architecture": self.arch.architecture,
            "detector": self.name,
            "input_size": self.input_size,
            "input": "clip" if self.temporal else "frame",
            "clip_frames": self.clip_frames,
            "colour_order": self.arch.colour_order,
            "normalisation": {"mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()},
            "output": "logit_fake",
            "label_convention": "one logit, fake=1, real=0",
        }


# --- building and loading -----------------------------------------------------------------------------------

def _load_backbone(model: nn.Module, path: str | Path) -> str:
    """ImageNet (or any) backbone weights from a local file: classifier keys dropped, backbone keys must fit."""
    path = Path(path)
    state = checkpoints.tensor_file(path, "backbone weights")
    target = model.backbone_modules()
    expected = target.state_dict()
    state = {k: (v.unsqueeze(-1).unsqueeze(-1) if "pointwise" in k and v.ndim == 2 else v) for k, v in state.items()}
    if isinstance(model, ResNetLSTM):   # torchvision names -> Sequential indices
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        state = {(f"{names.index(k.split('.')[0])}.{k.split('.', 1)[1]}" if k.split(".")[0] in names else k): v
                 for k, v in state.items()}
    elif isinstance(model, EfficientNetLSTM):
        names = ["conv_stem", "bn1", "blocks", "conv_head", "bn2"]
        state = {(f"{names.index(k.split('.')[0])}.{k.split('.', 1)[1]}" if k.split(".")[0] in names else k): v
                 for k, v in state.items()}
    kept = {k: v for k, v in state.items() if k in expected}
    missing = [k for k in expected if k not in kept and not k.startswith(("fc.", "classifier.", "head."))]
    shapes = [k for k, v in kept.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if missing or shapes or not kept:
        checkpoints.raise_mismatch(target, state, path, "backbone weights do not fit the backbone")
    target.load_state_dict(kept, strict=False)
    return f"backbone initialised from {path.name} (sha256 {checkpoints.sha256_file(path)[:16]}...)"


def build(arch: Arch, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return arch.build().eval()


def create(name: str, weights: str | Path | None = None, random_init: bool = False, seed: int = 0,
           variant: str | None = None, backbone_weights: str | Path | None = None,
           input_size: int | None = None, clip_frames: int | None = None) -> ZooDetector:
    """Factory for every zoo detector: weights (project safetensors or a convertible checkpoint) or random."""
    if weights is None and not random_init:
        raise CheckpointError(
            f"detector {name!r} needs weights: pass --weights PATH (.safetensors from `weights import`, "
            f"deepfake_detector / DeepfakeBench .pth), or --random-init for an untrained model")
    if weights is None:
        arch = architecture(name, variant, input_size)
        model = build(arch, seed)
        if backbone_weights:
            provenance = f"random head (seed {seed}); " + _load_backbone(model, backbone_weights)
        else:
            provenance = (f"random initialisation, seed {seed}; WARNING: random backbone (no ImageNet weights: "
                          f"pass backbone_weights=PATH / --backbone-weights)")
        info = WeightsInfo(path=None, sha256=None, format="random-init", architecture=arch.architecture,
                           provenance=provenance, card={"warning": "random backbone"} if not backbone_weights else {})
        return ZooDetector(name, arch, model, info, clip_frames=clip_frames)

    ckpt = checkpoints.load_checkpoint(weights, detector=name)
    if ckpt.format == "safetensors":
        if ckpt.card.get("detector") not in (None, name):
            arch = architecture(name, variant, input_size)
            checkpoints.raise_mismatch(build(arch), ckpt.state_dict, ckpt.path,
                                       f"holds {ckpt.architecture} weights for {ckpt.card.get('detector')!r}, "
                                       f"not {name!r}")
        arch = arch_from_card(name, ckpt.card)
        norm = ckpt.card.get("normalisation") or {}
        mean, std = norm.get("mean"), norm.get("std")
        clip_frames = ckpt.card.get("clip_frames") if clip_frames is None else clip_frames
    else:
        arch = architecture(name, variant, input_size)
        if ckpt.card.get("stem_padding") is not None or ckpt.card.get("input_size"):
            arch = architecture(name, ckpt.card.get("variant", variant), input_size or ckpt.card.get("input_size"),
                                stem_padding=ckpt.card.get("stem_padding"), static_same=ckpt.card.get("static_same"))
        mean = std = None
        clip_frames = ckpt.card.get("clip_frames") if clip_frames is None else clip_frames
        if ckpt.card.get("normalisation"):
            mean, std = ckpt.card["normalisation"]["mean"], ckpt.card["normalisation"]["std"]
        if ckpt.architecture != arch.architecture:
            checkpoints.raise_mismatch(build(arch), ckpt.state_dict, ckpt.path,
                                       f"holds {ckpt.architecture} weights, not {arch.architecture} ({name!r})")
    model = build(arch, seed)
    checkpoints.load_strict(model, ckpt.state_dict, ckpt.path)
    info = WeightsInfo(path=str(ckpt.path), sha256=ckpt.sha256, format=ckpt.format,
                       architecture=arch.architecture, provenance=ckpt.provenance, card=ckpt.card)
    return ZooDetector(name, arch, model, info, mean=tuple(mean) if mean else None,
                       std=tuple(std) if std else None, clip_frames=clip_frames)


def factory(name: str) -> Callable[..., ZooDetector]:
    def make(weights=None, random_init=False, **options):
        return create(name, weights, random_init, **options)
    return make


create_resnet_lstm = factory("resnet-lstm")
create_efficientnet = factory("efficientnet")
create_efficientnet_lstm = factory("efficientnet-lstm")
create_xception = factory("xception")
create_vgg16 = factory("vgg16")
create_resnet50 = factory("resnet50")
create_inception_v3 = factory("inception-v3")
create_efficientnet_b1 = factory("efficientnet-b1")
create_frame_diff = factory("frame-diff")
