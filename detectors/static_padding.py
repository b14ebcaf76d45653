"""TensorFlow "SAME" padding fixed for one image size, as efficientnet_pytorch builds it.

Why: DeepfakeBench's `efficientnetb4` backbone is efficientnet_pytorch's `EfficientNet.from_name('efficientnet-b4')`
(training/networks/efficientnetb4.py). Because that model's global parameters carry `image_size=380`, every
convolution is a `Conv2dStaticSamePadding` whose zero padding is computed once, for the image size that layer would
see with a 380 px input (propagated block by block with `calculate_output_image_size`, i.e. ceil(size / stride)),
and kept whatever size is actually fed. timm's `tf_efficientnet_b4` pads "same" for the actual input instead. The
two agree for stride-1 convolutions (k - 1 in total, split evenly) but not for the stride-2 depthwise convolutions:
at DeepfakeBench's 256 px input (after its padding-free stem: 127 px) efficientnet_pytorch pads (0, 1) where timm
pads (1, 1), so the first stride-2 stage gives 63 x 63 maps instead of 64 x 64 and P(fake) moves by up to ~0.2 with
identical weights. `apply_static_same` rebuilds timm's depthwise convolutions with efficientnet_pytorch's fixed
amounts; parameter names are unchanged, so converted checkpoints load as before.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["same_padding", "StaticSameConv2d", "apply_static_same"]


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding of one axis: efficientnet_pytorch's Conv2dStaticSamePadding formula,
    pad = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0), the odd pixel after."""
    pad = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return pad // 2, pad - pad // 2


class StaticSameConv2d(nn.Conv2d):
    """A convolution with a fixed zero padding (left, right, top, bottom) in front; keys `weight` (and `bias`)
    as nn.Conv2d, so a state_dict for the timm convolution it replaces loads unchanged."""

    def __init__(self, conv: nn.Conv2d, pad: tuple[int, int, int, int]) -> None:
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation,
                         conv.groups, conv.bias is not None)
        self.weight = conv.weight
        self.bias = conv.bias
        self.static_pad = tuple(int(p) for p in pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, self.static_pad), self.weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", static_pad={self.static_pad}"


def apply_static_same(net: nn.Module, image_size: int) -> None:
    """Give a timm EfficientNet's depthwise convolutions efficientnet_pytorch's padding for `image_size`.

    The size each block's depthwise convolution is padded for follows efficientnet_pytorch: ceil(image_size / 2)
    after the stem, then ceil(size / stride) after each block. Pointwise (1 x 1) convolutions need no padding and
    the stem keeps whatever padding the caller gave it (DeepfakeBench replaces it with a padding-free one).
    """
    size = math.ceil(image_size / net.conv_stem.stride[0])
    for stage in net.blocks:
        for block in stage:
            conv = block.conv_dw
            (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
            top, bottom = same_padding(size, kh, sh, dh)
            left, right = same_padding(size, kw, sw, dw)
            block.conv_dw = StaticSameConv2d(conv, (left, right, top, bottom))
            size = math.ceil(size / sh)
