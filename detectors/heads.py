"""timm backbones with the course studies' dense binary head (pool -> 256 -> 128 -> 64 -> 1 logit).

The head's input width is what the backbone returns after pooling, read from timm's own API
(`head_hidden_size`, the width of the pre-logits features `forward_head(x, pre_logits=True)` gives; it equals
`num_features` for families without a pre-logits stage). Sizing from `num_features` alone broke the families whose
pooled features pass through a pre-logits layer of another width: MobileNetV3 (960 -> 1280 conv head), GhostNet,
VGG (fc6/fc7 ConvMlp, 512 -> 4096).

VGG is built as the studies built it with Keras `VGG16(include_top=False)` + global pooling: the convolutional
base only (14.7 M parameters for VGG16), global average pooling, the dense head. timm's own VGG pools through
fc6/fc7 as convolutions (a 119 M parameter pre-logits stage), which the studies did not have.
"""
from __future__ import annotations

from torch import nn

DENSE_HEAD = (256, 128, 64)  # hidden widths of the studies' head, ReLU after each


def conv_base_only(backbone: nn.Module) -> nn.Module:
    """VGG: drop timm's fc6/fc7 pre-logits (ConvMlp) so the head pools the last conv block (Keras include_top=False)."""
    if type(backbone).__name__ == "VGG" and hasattr(backbone, "pre_logits"):
        backbone.pre_logits = nn.Identity()
        backbone.head_hidden_size = backbone.num_features  # 512: the pooled conv features
    return backbone


def pooled_width(backbone: nn.Module) -> int:
    """Width of the pooled (pre-logits) features the backbone returns with num_classes=0, from timm's API."""
    width = getattr(backbone, "head_hidden_size", None) or backbone.num_features
    return int(width)


def timm_backbone(model_name: str, img_size: int | None = None) -> nn.Module:
    """A timm feature extractor (no classifier, average pooling where the family allows it), never downloaded.

    `img_size` (the detector's `input_size` option) builds the families whose layers depend on the image size
    (ViT, DeiT, Swin, BEiT, EVA, MaxViT, CoAtNet, LeViT, Mixer: position embeddings, windows) for that size; the
    convolutional families take no such argument (timm raises TypeError) and pool any size globally.
    """
    import timm

    sized = {} if img_size is None else {"img_size": int(img_size)}
    attempts = [{**sized, "global_pool": "avg"}, sized] if sized else [{"global_pool": "avg"}]
    attempts.append({})  # a family without a global_pool (or img_size) argument pools its own way
    error: Exception | None = None
    for kwargs in attempts:
        try:
            return conv_base_only(timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs))
        except TypeError as exc:  # this family does not take one of the keyword arguments: try fewer
            error = error or exc
        except Exception as exc:  # unknown name, bad kwargs
            raise ValueError(f"timm model {model_name!r} cannot be built ({exc})") from None
    raise ValueError(f"timm model {model_name!r} cannot be built ({error})") from None


def dense_head(width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for hidden in DENSE_HEAD:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, 1))


class TimmBinary(nn.Module):
    """Any timm backbone (pooled features) -> dense 256 -> 128 -> 64 -> 1 logit (ReLU between).

    Keys: `backbone.*` (timm's own names) and `head.0/2/4/6.*`, as saved by earlier versions.
    """

    def __init__(self, model_name: str, img_size: int | None = None) -> None:
        super().__init__()
        self.backbone = timm_backbone(model_name, img_size)
        self.head = dense_head(pooled_width(self.backbone))

    def backbone_modules(self) -> nn.Module:
        return self.backbone

    def forward(self, x):
        return self.head(self.backbone(x)).reshape(-1)
