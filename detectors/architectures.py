"""What a zoo detector is built from and fed (`Arch`), shared by the zoo and the study models."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
COLOUR_ORDERS = ("RGB", "BGR")


@dataclass(frozen=True)
class Arch:
    """One buildable architecture and its input contract (saved in the card).

    `mean`/`std` apply on [0, 1] pixels in the model's `colour_order` (BGR: the channels are reversed first, as
    Keras' caffe-mode `preprocess_input` of VGG16 / ResNet50 does).
    """

    architecture: str          # card key, e.g. "resnet50-lstm", "efficientnet:efficientnet_b4", "timm:convnext_tiny"
    detector: str              # registry name it belongs to
    title: str
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    temporal: bool
    build: Callable[[], nn.Module]
    clip_frames: int = 0
    colour_order: str = "RGB"
