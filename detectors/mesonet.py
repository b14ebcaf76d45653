"""MesoNet (Afchar et al., WIFS 2018) in PyTorch, in the two flavours whose weights exist.

* "keras": layer for layer the authors' Keras 2.1.5 model (DariusAf/MesoNet classifiers.py), so
  their .h5 files reproduce the original outputs: no input normalisation, BN eps 1e-3, Flatten in
  NHWC order, sigmoid output = P(real).
* "dfdet": the 2020 "deepfake_detector" PyTorch port of MesoInception4 whose Celeb-DF/DFDC
  checkpoints we benchmark: input normalised with mean=std=0.5, BN eps 1e-5, no ReLU after the
  two 5x5 convs, NCHW flatten, one logit with fake=1.

State-dict keys are the same in both flavours (those of the deepfake_detector checkpoints), so the
Keras converter and the .pth loader fill the same modules.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoints
from .base import CheckpointError, Detector, WeightsInfo

INPUT_SIZE = 256


def _conv(cin: int, cout: int, k: int, dilation: int = 1) -> nn.Conv2d:
    """Conv2d with Keras padding='same' (odd kernels, stride 1: symmetric padding).

    Keras MaxPooling2D padding='same' needs no counterpart: 256 is divisible by every pool size.
    """
    return nn.Conv2d(cin, cout, k, padding=dilation * (k - 1) // 2, dilation=dilation)


class InceptionLayer(nn.Module):
    """MesoNet's inception block: [1x1(a)], [1x1(b)->3x3(b)], [1x1(c)->3x3 d2(c)], [1x1(d)->3x3 d3(d)].

    conv1..conv7 follow the Keras creation order (and the deepfake_detector key names).
    """

    def __init__(self, cin: int, a: int, b: int, c: int, d: int, relu: bool = True) -> None:
        super().__init__()
        self.relu = relu
        self.conv1 = _conv(cin, a, 1)
        self.conv2 = _conv(cin, b, 1)
        self.conv3 = _conv(b, b, 3)
        self.conv4 = _conv(cin, c, 1)
        self.conv5 = _conv(c, c, 3, dilation=2)
        self.conv6 = _conv(cin, d, 1)
        self.conv7 = _conv(d, d, 3, dilation=3)
        self.out_channels = a + b + c + d

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four branch outputs before their last ReLU (so inference can pool first)."""
        act = _relu if self.relu else _identity   # DeepfakeBench's port has no ReLU inside the block
        return [_pointwise(self.conv1, x), self.conv3(act(_pointwise(self.conv2, x))),
                self.conv5(act(_pointwise(self.conv4, x))), self.conv7(act(_pointwise(self.conv6, x)))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = _relu if self.relu else _identity
        return torch.cat([act(branch) for branch in self.branches(x)], dim=1)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _relu(x: torch.Tensor) -> torch.Tensor:
    """In place: every input is a fresh convolution output, so nothing else holds it (saves a copy per layer)."""
    return F.relu(x, inplace=True)


def _max_pool(x: torch.Tensor, k: int) -> torch.Tensor:
    """F.max_pool2d(x, k) with bit-identical results (max is exact in any order), faster on CPU outside training:
    element-wise maxima of the k row slices, then of the k column slices. On channels-last tensors at 256 px this
    ran 3-7x faster than max_pool2d and keeps the layout the next convolution wants. Training keeps max_pool2d,
    whose gradient goes to one input per window."""
    if torch.is_grad_enabled() or x.dim() != 4:
        return F.max_pool2d(x, k)
    h, w = x.shape[-2:]
    x = x[:, :, : h // k * k, : w // k * k]
    rows = x[:, :, 0::k]
    for i in range(1, k):
        rows = torch.maximum(rows, x[:, :, i::k])
    out = rows[:, :, :, 0::k]
    for i in range(1, k):
        out = torch.maximum(out, rows[:, :, :, i::k])
    return out


def _pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution; at inference on the CPU through oneDNN directly. PyTorch sends 1x1 convolutions with
    batches under 16 on one thread to its generic im2col path, measured 6x slower here for these few-channel
    layers at 256 px, with bit-identical results. Under autocast (`--precision`) the ordinary call, which casts."""
    if (x.device.type == "cpu" and not torch.is_grad_enabled() and torch.backends.mkldnn.is_available()
            and not torch.is_autocast_enabled("cpu")):  # autocast casts at conv2d, which this call bypasses
        return torch.ops.aten.mkldnn_convolution(x, conv.weight, conv.bias, [0, 0], [1, 1], [1, 1], 1)
    return conv(x)


def _pools_first(model: nn.Module) -> bool:
    """Whether inference may pool before the ReLU and BatchNorm that precede each max pooling.

    The same function, not an approximation: max commutes with ReLU and with any non-decreasing per-channel map,
    which an eval-mode BatchNorm is when its scales are >= 0 (all published MesoNet weights; checked on every call,
    so other weights take the ordinary path). It moves those element-wise passes and the concatenation to the 4x
    or 16x smaller pooled tensors. With `_pointwise`, MesoInception4 ran about 2x faster per frame on one CPU
    thread; logits equal the ordinary path's to float rounding (bit-identical with the demo weights, <= 1e-6
    with random BatchNorm statistics: the vectorised BatchNorm rounds differently on other shapes)."""
    if model.training or torch.is_grad_enabled():
        return False
    return all(bool((m.weight >= 0).all()) for m in model.modules() if isinstance(m, nn.BatchNorm2d) and m.affine)


def _flatten(x: torch.Tensor, nhwc: bool) -> torch.Tensor:
    """Keras flattens channels-last; permuting first keeps Dense(16) weights valid."""
    return (x.permute(0, 2, 3, 1) if nhwc else x).flatten(1)


class Meso4(nn.Module):
    """Meso4 as in the authors' Meso4_*.h5 files: Dense(16) is linear (no LeakyReLU in those files)."""

    def __init__(self, leaky_fc: bool = False, bn_eps: float = 1e-3, nhwc: bool = True) -> None:
        super().__init__()
        self.nhwc = nhwc
        self.conv1, self.bn1 = _conv(3, 8, 3), nn.BatchNorm2d(8, eps=bn_eps)
        self.conv2, self.bn2 = _conv(8, 8, 5), nn.BatchNorm2d(8, eps=bn_eps)
        self.conv3, self.bn3 = _conv(8, 16, 5), nn.BatchNorm2d(16, eps=bn_eps)
        self.conv4, self.bn4 = _conv(16, 16, 5), nn.BatchNorm2d(16, eps=bn_eps)
        self.drop1, self.fc1 = nn.Dropout(0.5), nn.Linear(16 * 8 * 8, 16)
        self.act = nn.LeakyReLU(0.1) if leaky_fc else nn.Identity()
        self.drop2, self.fc2 = nn.Dropout(0.5), nn.Linear(16, 1)

    def backbone_modules(self) -> nn.Module:
        """The convolutional feature extractor (frozen by `train --freeze-backbone-epochs`); fc1/fc2 are the head."""
        return nn.ModuleList([self.conv1, self.bn1, self.conv2, self.bn2, self.conv3, self.bn3, self.conv4, self.bn4])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = ((self.conv1, self.bn1, 2), (self.conv2, self.bn2, 2), (self.conv3, self.bn3, 2),
                  (self.conv4, self.bn4, 4))
        if _pools_first(self):
            for conv, bn, k in blocks:
                x = bn(_relu(_max_pool(conv(x), k)))
        else:
            for conv, bn, k in blocks:
                x = _max_pool(bn(_relu(conv(x))), k)
        x = self.drop1(_flatten(x, nhwc=self.nhwc))
        x = self.drop2(self.act(self.fc1(x)))
        return self.fc2(x)  # logit of P(real)


class MesoInception4(nn.Module):
    """MesoInception4; `dfdet=True` reproduces the deepfake_detector port's forward pass.

    Keras: Inception -> BN -> pool, twice; Conv5x5+ReLU -> BN -> pool, twice; NHWC flatten.
    dfdet: ReLU on the concatenated inception output (a no-op, kept for fidelity), no ReLU after the
    5x5 convs, BN eps 1e-5, NCHW flatten. Both: Dropout, Dense16, LeakyReLU(0.1), Dropout, Dense1.
    """

    def __init__(self, dfdet: bool = False, dfbench: bool = False) -> None:
        super().__init__()
        eps = 1e-5 if (dfdet or dfbench) else 1e-3
        self.dfdet, self.dfbench = dfdet, dfbench
        self.inception1 = InceptionLayer(3, 1, 4, 4, 2, relu=not dfbench)
        self.inception2 = InceptionLayer(11, 2, 4, 4, 2, relu=not dfbench)
        self.bn1, self.bn2 = nn.BatchNorm2d(11, eps=eps), nn.BatchNorm2d(12, eps=eps)
        self.conv1, self.bn3 = _conv(12, 16, 5), nn.BatchNorm2d(16, eps=eps)
        self.conv2, self.bn4 = _conv(16, 16, 5), nn.BatchNorm2d(16, eps=eps)
        self.drop1, self.fc1 = nn.Dropout(0.5), nn.Linear(16 * 8 * 8, 16)
        self.leakyrelu = nn.LeakyReLU(0.1)
        self.drop2, self.fc2 = nn.Dropout(0.5), nn.Linear(16, 1)

    def backbone_modules(self) -> nn.Module:
        """The inception and convolutional feature extractor; fc1/fc2 are the head."""
        return nn.ModuleList([self.inception1, self.bn1, self.inception2, self.bn2, self.conv1, self.bn3,
                              self.conv2, self.bn4])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv_act = _identity if self.dfdet else _relu
        cat_act = _identity if self.dfbench else _relu
        if _pools_first(self):  # the same numbers, pooled before the element-wise passes (see _pools_first)
            # each branch's last ReLU and the concatenation's are both there (or, dfbench, neither): one after pooling
            x = self.bn1(cat_act(torch.cat([_max_pool(b, 2) for b in self.inception1.branches(x)], dim=1)))
            x = self.bn2(cat_act(torch.cat([_max_pool(b, 2) for b in self.inception2.branches(x)], dim=1)))
            x = self.bn3(conv_act(_max_pool(self.conv1(x), 2)))
            x = self.bn4(conv_act(_max_pool(self.conv2(x), 4)))
        else:
            x = _max_pool(self.bn1(cat_act(self.inception1(x))), 2)
            x = _max_pool(self.bn2(cat_act(self.inception2(x))), 2)
            x = _max_pool(self.bn3(conv_act(self.conv1(x))), 2)
            x = _max_pool(self.bn4(conv_act(self.conv2(x))), 4)
        x = self.drop1(_flatten(x, nhwc=not (self.dfdet or self.dfbench)))
        x = self.drop2(self.leakyrelu(self.fc1(x)))
        return self.fc2(x)  # Keras: logit of P(real); dfdet: logit of P(fake)


@dataclass(frozen=True)
class Variant:
    """Everything needed to rebuild one architecture and read its output the right way round."""

    architecture: str
    detector: str                       # registry name the variant belongs to
    title: str
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    output: str                         # "logit_fake" | "logit_real"
    label_convention: str

    def build(self) -> nn.Module:
        if self.architecture == "meso4-keras":
            return Meso4()
        if self.architecture == "meso4-dfbench":
            return Meso4(leaky_fc=True, bn_eps=1e-5, nhwc=False)
        return MesoInception4(dfdet=self.architecture == "mesoinception4-dfdet",
                              dfbench=self.architecture == "mesoinception4-dfbench")


_KERAS_LABELS = "Keras sigmoid output is P(real): classes sorted alphabetically, df=0, real=1"
VARIANTS: dict[str, Variant] = {
    v.architecture: v
    for v in (
        Variant("mesoinception4-keras", "meso", "MesoInception4 (Keras-faithful)", None, None,
                "logit_real", _KERAS_LABELS),
        Variant("mesoinception4-dfdet", "meso", "MesoInception4 (deepfake_detector port)",
                (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "logit_fake", "one logit, fake=1, real=0"),
        Variant("meso4-keras", "meso4", "Meso4 (Keras-faithful)", None, None,
                "logit_real", _KERAS_LABELS),
        # DeepfakeBench ports (training/networks/mesonet.py): conv without bias (ours zero), shared BNs copied,
        # NCHW flatten, LeakyReLU after fc1, 2-class head -> one logit z_fake - z_real; 0.5/0.5 normalisation.
        Variant("mesoinception4-dfbench", "meso", "MesoInception4 (DeepfakeBench port)",
                (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "logit_fake", "DeepfakeBench softmax, fake = class 1"),
        Variant("meso4-dfbench", "meso4", "Meso4 (DeepfakeBench port)",
                (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "logit_fake", "DeepfakeBench softmax, fake = class 1"),
    )
}
DEFAULT_ARCHITECTURE = {"meso": "mesoinception4-keras", "meso4": "meso4-keras"}


class MesoDetector(Detector):
    """Adapter: [0,1] RGB in, logit of P(fake) out, whatever the variant's conventions."""

    input_size = INPUT_SIZE

    def __init__(self, name: str, variant: Variant, model: nn.Module, weights: WeightsInfo,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 output: str | None = None) -> None:
        self.name = name
        self.variant = variant
        # channels_last: 2x faster convolutions on CPU for these few-channel layers (same results to float noise)
        self.model = model.to(memory_format=torch.channels_last).eval()
        self.weights = weights
        mean = variant.mean if mean is None else mean
        std = variant.std if std is None else std
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.output = output or variant.output
        if self.output not in ("logit_fake", "logit_real"):
            raise CheckpointError(f"{weights.path}: card output {self.output!r} is not logit_fake/logit_real")

    def fake_logits(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(f"{self.name}: expected N x 3 x {self.input_size} x {self.input_size} RGB in [0,1], "
                             f"got {tuple(x.shape)}")
        if self.mean is not None:
            x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        z = self.model(x.contiguous(memory_format=torch.channels_last)).reshape(-1)
        return z if self.output == "logit_fake" else -z

    def checkpoint_card(self) -> dict[str, Any]:
        norm = None if self.mean is None else {"mean": self.mean.flatten().tolist(),
                                                "std": self.std.flatten().tolist()}
        return {
            "architecture": self.variant.architecture,
            "detector": self.name,
            "input_size": self.input_size,
            "normalisation": norm or {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
            "output": self.output,
            "label_convention": self.variant.label_convention,
        }


def _keras_init(model: nn.Module) -> None:
    """Keras defaults (glorot_uniform kernels, zero biases) so random models match the original."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def build_model(architecture: str, seed: int | None = None) -> nn.Module:
    """Build without touching the global RNG (construction/init draws happen in a forked RNG)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if seed is None else seed)
        model = VARIANTS[architecture].build()
        if seed is not None:
            _keras_init(model)
    return model.eval()


def _normalisation(card: dict[str, Any]) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    norm = card.get("normalisation") or {}
    mean, std = norm.get("mean"), norm.get("std")
    if mean is None or std is None:
        return None, None
    if mean == [0.0, 0.0, 0.0] and std == [1.0, 1.0, 1.0]:
        return None, None
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def create(name: str, weights: str | Path | None = None, random_init: bool = False,
           seed: int = 0) -> MesoDetector:
    """Factory behind `detectors.create` for "meso" and "meso4"; the weights pick the variant."""
    if weights is None and not random_init:
        raise CheckpointError(
            f"detector {name!r} needs weights: pass --weights PATH (Keras .h5, deepfake_detector .pth "
            f"or .safetensors), or --random-init for an untrained model")
    if weights is None:
        arch = DEFAULT_ARCHITECTURE[name]
        info = WeightsInfo(path=None, sha256=None, format="random-init", architecture=arch,
                           provenance=f"random initialisation (Keras defaults), seed {seed}")
        return MesoDetector(name, VARIANTS[arch], build_model(arch, seed=seed), info)

    ckpt = checkpoints.load_checkpoint(weights)
    variant = VARIANTS.get(ckpt.architecture)
    if variant is None or variant.detector != name:
        expected = DEFAULT_ARCHITECTURE[name]
        checkpoints.raise_mismatch(build_model(expected), ckpt.state_dict, ckpt.path,
                                   f"holds {ckpt.architecture} weights, not a {name!r} architecture "
                                   f"({', '.join(a for a, v in VARIANTS.items() if v.detector == name)})")
    model = build_model(variant.architecture)
    checkpoints.load_strict(model, ckpt.state_dict, ckpt.path)
    info = WeightsInfo(path=str(ckpt.path), sha256=ckpt.sha256, format=ckpt.format,
                       architecture=variant.architecture, provenance=ckpt.provenance, card=ckpt.card)
    mean, std = _normalisation(ckpt.card) if ckpt.format == "safetensors" else (None, None)
    output = ckpt.card.get("output") if ckpt.format == "safetensors" else None
    return MesoDetector(name, variant, model.eval(), info, mean=mean, std=std, output=output)


def create_meso(weights: str | Path | None = None, random_init: bool = False, seed: int = 0) -> MesoDetector:
    return create("meso", weights, random_init, seed)


def create_meso4(weights: str | Path | None = None, random_init: bool = False, seed: int = 0) -> MesoDetector:
    return create("meso4", weights, random_init, seed)
