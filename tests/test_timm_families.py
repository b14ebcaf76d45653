"""`timm:<name>` for every timm family: the dense head fits what the backbone returns after pooling.

The sweep is driven by timm's registry: each family is a timm model module (`timm.models.<family>`), represented by
its smallest variant, which must be registered there. Each builds at random init (pretrained=False, never
downloaded) and runs one forward and backward pass with a batch of 2 at a small input size (`input_size` option:
size-dependent families such as ViT/Swin/BEiT are built for it through timm's `img_size`, convolutional families
pool it globally). At native sizes the sweep took 16 minutes on 2 loaded cores; at 64 px it takes about a minute.
"""
from __future__ import annotations

import json
import os

import pytest
import torch

pytest.importorskip("timm")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402

import detectors  # noqa: E402
from benchmarks.cli import main  # noqa: E402
from detectors.heads import DENSE_HEAD, pooled_width, timm_backbone  # noqa: E402
from tests.demo_subset import demo_subset  # noqa: E402

# family -> (its timm.models module, its smallest variant)
FAMILIES = {
    "VGG": ("vgg", "vgg11"),
    "ResNet": ("resnet", "resnet10t"),
    "Inception": ("inception_v3", "inception_v3"),
    "EfficientNet": ("efficientnet", "efficientnet_b0"),
    "EfficientNetV2": ("efficientnet", "tf_efficientnetv2_b0"),
    "MobileNetV3": ("mobilenetv3", "mobilenetv3_small_050"),
    "DenseNet": ("densenet", "densenet121"),
    "RegNet": ("regnet", "regnetx_002"),
    "ConvNeXt": ("convnext", "convnext_atto"),
    "ViT": ("vision_transformer", "vit_tiny_patch16_224"),
    "DeiT": ("deit", "deit_tiny_patch16_224"),
    "Swin": ("swin_transformer", "swin_tiny_patch4_window7_224"),
    "BEiT": ("beit", "beit_base_patch16_224"),
    "MaxViT": ("maxxvit", "maxvit_nano_rw_256"),
    "CoAtNet": ("maxxvit", "coatnet_nano_rw_224"),
    "LeViT": ("levit", "levit_128s"),
    "Mixer": ("mlp_mixer", "mixer_s32_224"),
    "EVA": ("eva", "eva02_tiny_patch14_224"),
    "Xception": ("xception_aligned", "xception41"),
    "ResNeXt": ("byobnet", "resnext26ts"),
    "GhostNet": ("ghostnet", "ghostnet_050"),   # a pre-logits conv head of another width, like MobileNetV3
}
SMALL = 64  # px: every family builds and pools at this size ...
SMALL_FOR = {"Inception": 96}  # ... except Inception v3, whose stem reduces 64 px below its 3x3 kernels
KERAS_VGG16_CONV_BASE = 14_714_688  # Keras VGG16(include_top=False).count_params()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_model_is_in_timms_registry(family):
    module, name = FAMILIES[family]
    assert timm.is_model(name), f"{name} is not a timm model"
    assert timm.models.model_entrypoint(name).__module__ == f"timm.models.{module}"
    assert timm.get_pretrained_cfg(name) is not None  # so its native input size and normalisation are known


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_builds_and_trains(family):
    size = SMALL_FOR.get(family, SMALL)
    det = detectors.create(f"timm:{FAMILIES[family][1]}", random_init=True, input_size=size)
    assert det.input_size == size
    head_in = det.model.head[0].in_features
    assert head_in == pooled_width(det.model.backbone)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    pooled = []  # what the backbone really returns after pooling is what the head was sized for
    det.model.backbone.register_forward_hook(lambda module, args, out: pooled.append(tuple(out.shape)))
    det.model.train()
    logits = det.fake_logits(x)
    assert pooled == [(2, head_in)]
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([0.0, 1.0])).backward()
    grads = [p.grad for p in det.model.head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in det.model.backbone.parameters())


def test_pooled_width_is_timms_pre_logits_width_not_num_features():
    """MobileNetV3 pools 960 channels through a 1280-wide conv head: the head must take 1280."""
    backbone = timm_backbone("mobilenetv3_large_100")
    assert backbone.num_features == 960 and pooled_width(backbone) == 1280
    with torch.no_grad():
        assert backbone.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1280)


def test_vgg16_is_the_keras_conv_base_with_global_pooling_and_the_dense_head():
    det = detectors.create("timm:vgg16", random_init=True)
    backbone = sum(p.numel() for p in det.model.backbone.parameters())
    total = sum(p.numel() for p in det.model.parameters())
    assert backbone == KERAS_VGG16_CONV_BASE          # no fc6/fc7 (timm's 119 M parameter pre-logits)
    assert 14_000_000 <= total <= 16_000_000
    assert [m.out_features for m in det.model.head if isinstance(m, torch.nn.Linear)] == [*DENSE_HEAD, 1]
    assert det.model.head[0].in_features == 512


def test_unknown_timm_model_is_one_clear_error():
    with pytest.raises(ValueError, match="cannot be built"):
        detectors.create("timm:no_such_model_xyz", random_init=True)


@pytest.mark.slow
def test_timm_vgg16_trains_one_step_through_the_cli(tmp_path):
    """`train --detector timm:vgg16` on demo videos: one optimiser step, weights saved and loadable."""
    data = demo_subset(tmp_path / "data", per_class=3)
    out = tmp_path / "vgg16.safetensors"
    assert main(["train", "--detector", "timm:vgg16", "--dataset", "folder", "--data-root", str(data), "--split", "all",
                 "--frames", "2", "--epochs", "1", "--batch-size", "8", "--val-fraction", "0.34",
                 "--cache-dir", str(tmp_path / "cache"), "--face-detector", "none", "--no-mirror"]
                + ["--detector-option", f"input_size={SMALL}", "--out", str(out)]) == 0
    log = json.loads(out.with_suffix(".log.json").read_text())
    assert len(log["history"]) == 1
    trained = detectors.create("timm:vgg16", weights=out)
    untrained = detectors.create("timm:vgg16", random_init=True, seed=0)  # train's seed 0 initialisation
    assert trained.weights.architecture == "timm:vgg16" and trained.input_size == SMALL  # the size is in the card
    changed = [not torch.equal(a, b) for a, b in zip(trained.model.head.parameters(), untrained.model.head.parameters())]
    assert all(changed), "the optimiser step changed every head layer"
