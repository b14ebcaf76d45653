"""The reference studies' own models by name: dense-head transfer models and the DFDC frame-difference CNN.

* `vgg16`, `resnet50`, `inception-v3`, `efficientnet-b1`: an ImageNet backbone's convolutional base (Keras
  `include_top=False`), global average pooling, dense 256 -> 128 -> 64 (ReLU) -> 1 logit, at the input size and
  with the input normalisation of the Keras application each study used (`preprocess_input`): caffe mode for VGG16
  and ResNet50 (RGB -> BGR, minus the ImageNet BGR means on 0-255 pixels, no scaling), tf mode for InceptionV3
  (pixels to [-1, 1]), and EfficientNet's built-in rescaling + ImageNet normalisation. The backbones are timm's
  (see docs/detectors.md for where they differ from Keras').
* `frame-diff`: grayscale differences of consecutive sampled frames, each through conv 5x5 (20) - ReLU - max pool 5
  - conv 5x5 (16) - ReLU - max pool 5 - dense 120 - 84 - 1; a clip's logit is the mean over its differences.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .architectures import HALF, IMAGENET, Arch
from .heads import TimmBinary

# Keras caffe-mode preprocess_input: BGR order, x * 255 - mean_bgr  ==  (x - mean_bgr / 255) / (1 / 255) on [0, 1].
CAFFE_BGR = (tuple(m / 255 for m in (103.939, 116.779, 123.68)), (1 / 255,) * 3)
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as cv2.COLOR_RGB2GRAY and PIL convert("L")
FRAME_DIFF_SIZE = 160
FRAME_DIFF_MIN_SIZE = 49  # smallest side whose feature map survives conv5-pool5-conv5-pool5


@dataclass(frozen=True)
class StudyModel:
    timm_name: str          # the timm backbone closest to the study's Keras application
    keras: str              # the Keras application the study used
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    colour_order: str
    preprocessing: str      # Keras preprocessing, in words (for `list` and the docs)
    keras_init: bool = True  # random init with Keras' defaults (see keras_initialised)


STUDY_MODELS: dict[str, StudyModel] = {
    "vgg16": StudyModel("vgg16", "VGG16", 224, *CAFFE_BGR, "BGR", "caffe: BGR, minus ImageNet means"),
    "resnet50": StudyModel("resnet50", "ResNet50", 224, *CAFFE_BGR, "BGR", "caffe: BGR, minus ImageNet means"),
    "inception-v3": StudyModel("inception_v3", "InceptionV3", 299, *HALF, "RGB", "tf: [-1, 1]"),
    "efficientnet-b1": StudyModel("tf_efficientnet_b1", "EfficientNetB1", 240, *IMAGENET, "RGB",
                                  "built-in rescaling + ImageNet mean/std", keras_init=False),
}


class FrameDiffNet(nn.Module):
    """B x T x 3 x S x S clips in [0, 1] RGB -> B logits (the mean logit over the T - 1 frame differences).

    A one-frame clip has no difference; it is scored as a still scene (a zero difference image).
    """

    def __init__(self, input_size: int = FRAME_DIFF_SIZE) -> None:
        super().__init__()
        if input_size < FRAME_DIFF_MIN_SIZE:
            raise ValueError(f"frame-diff: input_size must be >= {FRAME_DIFF_MIN_SIZE}, got {input_size}")
        side = ((input_size - 4) // 5 - 4) // 5
        self.features = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(5, 5),
                                      nn.Conv2d(20, 16, 5), nn.ReLU(), nn.MaxPool2d(5, 5))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(),
                                        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 1))
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 1, 3, 1, 1), persistent=False)

    def backbone_modules(self) -> nn.Module:
        return self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        grey = (x * self.luma.to(x.dtype)).sum(2, keepdim=True)          # B x T x 1 x S x S
        diffs = grey[:, 1:] - grey[:, :-1] if t > 1 else torch.zeros_like(grey)
        logits = self.classifier(self.features(diffs.flatten(0, 1)))
        return logits.view(b, -1).mean(1)


def keras_initialised(model: TimmBinary) -> TimmBinary:
    """Keras' default initialisation (glorot-uniform kernels, zero biases) of a random VGG16 / ResNet50 /
    InceptionV3 study model. EfficientNetB1 keeps timm's initialisation, which mirrors Keras EfficientNet's own
    (its random features are ~1e-5, so with Keras' zero head biases every random model would say exactly 0.5).

    timm's Inception-v3 draws its convolutions with std 0.1; with batch-norm statistics still at 0/1 the
    activations then grow layer by layer until every random model says P(fake) = 0.0 for every input. The studies
    built these models in Keras, whose defaults keep the activations in range.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def study_architecture(name: str, input_size: int | None = None) -> Arch | None:
    """The Arch of a study model, or None when `name` is not one."""
    if name == "frame-diff":
        size = input_size or FRAME_DIFF_SIZE
        return Arch("frame-diff", name, "grayscale frame-difference CNN (DFDC study)", size, (0.0,) * 3, (1.0,) * 3,
                    True, lambda: FrameDiffNet(size))
    spec = STUDY_MODELS.get(name)
    if spec is None:
        return None
    return Arch(f"study:{name}", name, f"{spec.keras} base + dense 256-128-64 head (timm {spec.timm_name})",
                input_size or spec.input_size, spec.mean, spec.std, False,
                lambda: keras_initialised(TimmBinary(spec.timm_name)) if spec.keras_init else TimmBinary(spec.timm_name),
                colour_order=spec.colour_order)
