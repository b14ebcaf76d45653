"""External torch checkpoints -> our key layouts (pure key/tensor renaming; nothing is executed).

Recognised (after `module.` prefixes are stripped):

* deepfake_detector (github.com/CatoGit/Comparing-the-Performance-of-Deepfake-Detection-Methods-on-Benchmark-
  Datasets, `deepfake_detector/pretrained_mods/*.py`): MesoInception4 (`inception1.*`), ResNetLSTM (`resnet.N.*`,
  `lstm.*`, `fc1`, `fc2`), EfficientNetB1LSTM (`b1.N.*`; 2020 timm indices renumbered), Xception (cadene keys,
  `last_linear` 1 output -> timm `fc`). All one logit, fake=1.
* DeepfakeBench (github.com/SCLBD/DeepfakeBench, `training/networks/*.py`, detector keys `backbone.*`):
  `meso4`, `meso4Inception`, `xception`, `efficientnetb4` (efficientnet_pytorch names). Two-class softmax heads with
  fake = class 1 become one logit z1 - z0 (same P(fake) as softmax). DeepfakeBench's configs feed 256 px crops
  normalised with mean = std = 0.5 (recorded in the card; assumption from its default configs).
* Self-blended images (github.com/mapooon/SelfBlendedImages, `src/inference/model.py`): `Detector.net` is
  efficientnet_pytorch's EfficientNet-B4 (`net._conv_stem`, `net._blocks.i.*`, `net._fc` with 2 classes), saved as
  {"model": state_dict, "optimizer", "epoch"}; the `efficientnet` detector at 380 px, no normalisation.
* UniversalFakeDetect (github.com/WisconsinAIVision/UniversalFakeDetect, `models/clip_models.py`, `validate.py`):
  CLIPModel = OpenAI CLIP (`model.visual.*`) + `fc` Linear(768, 1); its published `fc_weights.pth` holds the fc
  alone (`weight`, `bias`), the backbone then comes from backbone_weights. The `clip-probe` detector.
"""
from __future__ import annotations

import re
from typing import Any

import torch

from .base import CheckpointError

Tensor = torch.Tensor


def binary_from_two_class(w: Tensor, b: Tensor, path) -> tuple[Tensor, Tensor]:
    if w.shape[0] == 1:
        return w, b
    if w.shape[0] != 2:
        raise CheckpointError(f"{path}: classifier has {w.shape[0]} outputs; expected 1 or 2 (real, fake)")
    return (w[1] - w[0]).unsqueeze(0).contiguous(), (b[1] - b[0]).reshape(1)


def layout(state: dict[str, Tensor]) -> str:
    keys = set(state)
    if "net._conv_stem.weight" in keys and "net._fc.weight" in keys:
        return "sbi-efficientnetb4"
    if "model.visual.class_embedding" in keys and "fc.weight" in keys:
        return "ufd-clip"
    if keys == {"weight", "bias"} and state["weight"].ndim == 2 and state["weight"].shape[0] in (1, 2):
        return "ufd-probe"   # UniversalFakeDetect's published fc_weights.pth: the linear probe alone
    if any(k.startswith("backbone.") for k in keys):
        if "backbone.Incption1_conv1.weight" in keys:
            return "dfbench-meso4Inception"
        if any(k.startswith("backbone.efficientnet.") for k in keys):
            return "dfbench-efficientnetb4"
        if any(k.startswith("backbone.block1.rep.") for k in keys):
            return "dfbench-xception"
        if "backbone.conv4.weight" in keys:
            return "dfbench-meso4"
        return "dfbench-unknown"
    if any(k.startswith("inception1.") for k in keys):
        return "dfdet-mesoinception4"
    if "resnet.0.weight" in keys and "lstm.weight_ih_l0" in keys:
        return "dfdet-resnet-lstm"
    if "b1.0.weight" in keys and "lstm.weight_ih_l0" in keys:
        return "dfdet-efficientnet-lstm"
    if "block1.rep.0.conv1.weight" in keys or "block1.rep.0.pointwise.weight" in keys:
        return "dfdet-xception"
    return "unknown"


LAYOUT_DETECTOR = {
    "dfdet-mesoinception4": "meso", "dfdet-resnet-lstm": "resnet-lstm", "dfdet-efficientnet-lstm":
    "efficientnet-lstm", "dfdet-xception": "xception", "dfbench-meso4Inception": "meso", "dfbench-meso4": "meso4",
    "dfbench-xception": "xception", "dfbench-efficientnetb4": "efficientnet", "sbi-efficientnetb4": "efficientnet",
    "ufd-clip": "clip-probe", "ufd-probe": "clip-probe",
}

_DFDET = "deepfake_detector {what} state_dict {name} (torch pickle, loaded weights_only); one logit, fake=1; " \
         "no licence given, do not redistribute"
_DFBENCH = "DeepfakeBench {what} checkpoint {name} (loaded weights_only; two-class head converted to one logit " \
           "z_fake - z_real); input 256 px, mean=std=0.5 as in DeepfakeBench configs; DeepfakeBench is CC BY-NC 4.0"
DFBENCH_NORM = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
# SBI (github.com/mapooon/SelfBlendedImages, src/inference/inference_video.py): `img / 255` straight into the
# network, softmax(1)[:, 1] = P(fake); crops resized to 380 x 380 (preprocess.py extract_frames image_size).
_SBI = "self-blended images (Shiohara & Yamasaki, CVPR 2022) EfficientNet-B4 checkpoint {name} (efficientnet_pytorch " \
       "names, loaded weights_only; two-class head converted to one logit z_fake - z_real); input 380 px RGB in " \
       "[0, 1], no normalisation, as in its inference code; SBI code is research-only (its LICENSE)"
SBI_NORM = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
# UniversalFakeDetect (github.com/WisconsinAIVision/UniversalFakeDetect, validate.py): CLIP mean/std, 224 px
# centre crop, sigmoid(fc(encode_image(x))) = P(fake) (label 1 = fake).
_UFD = "UniversalFakeDetect (Ojha, Li & Lee, CVPR 2023) CLIP linear probe {name} ({what}; loaded weights_only); " \
       "one logit, fake=1; input {size} px, CLIP normalisation, as in its validate.py"
CLIP_NORM = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}

# deepfake_detector trained and tested its LSTMs on sequences of 20 face crops (np.linspace over the video), 5 on
# DFDC "because of dataset size" (dfdetector.py benchmark/train_method, datasets.py); its weight files are named
# `{method}.pth`, e.g. resnet_lstm_dfdc.pth, so the file name is the only place the training set shows.
DFDET_CLIP_FRAMES, DFDET_DFDC_CLIP_FRAMES = 20, 5
CLIP_NOTE = "deepfake_detector: 20 frames, 5 for DFDC checkpoints, told by 'dfdc' in the file name"


def dfdet_clip_frames(file_name: str) -> int:
    """The clip length a deepfake_detector LSTM checkpoint was trained and tested with."""
    return DFDET_DFDC_CLIP_FRAMES if "dfdc" in file_name.lower() else DFDET_CLIP_FRAMES


def convert(state: dict[str, Tensor], path) -> tuple[str, dict[str, Tensor], str, dict[str, Any], str]:
    """(architecture, state in our layout, provenance, card hints, format) for a recognised state_dict."""
    kind = layout(state)
    name = getattr(path, "name", str(path))
    if kind == "dfdet-mesoinception4":
        return "mesoinception4-dfdet", state, _DFDET.format(what="MesoInception4", name=name), {}, \
            "deepfake_detector-pth"
    if kind in ("dfdet-resnet-lstm", "dfdet-efficientnet-lstm"):
        frames = dfdet_clip_frames(name)
        hints = {"clip_frames": frames}
        note = f"; clips of {frames} frames as trained ({CLIP_NOTE})"
        if kind == "dfdet-resnet-lstm":
            return "resnet50-lstm", state, _DFDET.format(what="ResNet-50-LSTM", name=name) + note, hints, \
                "deepfake_detector-pth"
        return "efficientnet-b1-lstm", _dfdet_effb1(state), \
            _DFDET.format(what="EfficientNet-B1-LSTM", name=name) + note, hints, "deepfake_detector-pth"
    if kind == "dfdet-xception":
        return "xception-legacy", _xception(state, "", path), _DFDET.format(what="Xception", name=name), {}, \
            "deepfake_detector-pth"
    if kind == "sbi-efficientnetb4":
        hints = {"input_size": 380, "normalisation": SBI_NORM, "variant": "tf_efficientnet_b4", "static_same": 380}
        return "efficientnet:tf_efficientnet_b4:static-same380", _sbi_effb4(state, path), _SBI.format(name=name), \
            hints, "sbi-pth"
    if kind == "ufd-clip":
        arch, out = _ufd(state, path)
        size = clip_dims(out, path)["image_size"]
        return arch, out, _UFD.format(name=name, what="CLIP visual tower + fc", size=size), \
            {"input_size": size, "normalisation": CLIP_NORM}, "ufd-pth"
    if kind == "ufd-probe":
        w, b = binary_from_two_class(state["weight"], state["bias"], path)
        return f"clip-probe-head:{w.shape[1]}", {"fc.weight": w, "fc.bias": b}, \
            _UFD.format(name=name, what="the fc layer alone; backbone from backbone_weights", size=224), \
            {"normalisation": CLIP_NORM}, "ufd-pth"
    if kind.startswith("dfbench-"):
        what = kind[len("dfbench-"):]
        prov = _DFBENCH.format(what=what, name=name)
        hints = {"input_size": 256, "normalisation": DFBENCH_NORM}
        if kind == "dfbench-meso4":
            return "meso4-dfbench", _dfbench_meso4(state, path), prov, hints, "deepfakebench-pth"
        if kind == "dfbench-meso4Inception":
            return "mesoinception4-dfbench", _dfbench_mesoinception(state, path), prov, hints, "deepfakebench-pth"
        if kind == "dfbench-xception":
            return "xception-legacy", _xception(state, "backbone.", path), prov, hints, "deepfakebench-pth"
        if kind == "dfbench-efficientnetb4":
            # efficientnet_pytorch pads every conv "same" for its 380 px image_size, whatever the input size
            hints = {**hints, "variant": "tf_efficientnet_b4", "stem_padding": 0, "static_same": 380}
            return "efficientnet:tf_efficientnet_b4:stem-pad0:static-same380", _dfbench_effb4(state, path), prov, \
                hints, "deepfakebench-pth"
    raise CheckpointError(
        f"{path}: unrecognised state_dict layout (first keys {list(state)[:4]}); expected the deepfake_detector "
        f"MesoInception4 layout (inception1.conv1.weight, ...), its ResNetLSTM / EfficientNetB1LSTM / Xception, "
        f"a DeepfakeBench meso4 / meso4Inception / xception / efficientnetb4 checkpoint (backbone.*), an SBI "
        f"EfficientNet-B4 (net._conv_stem ...), or a UniversalFakeDetect CLIP model (model.visual.*, fc) or fc_weights")


# --- deepfake_detector ----------------------------------------------------------------------------------------

_OLD_TIMM_B1 = {0: 0, 1: 1, 3: 2, 4: 3, 5: 4, 7: 5, 8: 6}   # 2020 timm: conv_stem, bn1, act1, blocks, conv_head, bn2, act2


def _dfdet_effb1(state: dict[str, Tensor]) -> dict[str, Tensor]:
    old = "b1.7.weight" in state and state["b1.7.weight"].ndim == 4 and state["b1.7.weight"].shape[0] == 128
    if not old:
        return state
    out = {}
    for k, v in state.items():
        m = re.match(r"b1\.(\d+)\.(.*)", k)
        out[f"b1.{_OLD_TIMM_B1.get(int(m.group(1)), int(m.group(1)))}.{m.group(2)}" if m else k] = v
    return out


def _xception(state: dict[str, Tensor], prefix: str, path) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        if not k.startswith(prefix):
            continue
        k = k[len(prefix):]
        if k.startswith("adjust_channel."):   # DeepfakeBench builds it always, uses it only in mode adjust_channel
            continue
        if "pointwise" in k and v.ndim == 2:
            v = v.unsqueeze(-1).unsqueeze(-1)
        k = re.sub(r"^last_linear\.(1\.)?", "fc.", k)
        out[k] = v
    if "fc.weight" in out:
        out["fc.weight"], out["fc.bias"] = binary_from_two_class(out["fc.weight"], out["fc.bias"], path)
    return {f"net.{k}": v for k, v in out.items()}


# --- DeepfakeBench ------------------------------------------------------------------------------------------

def _strip(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _bn(dst: dict, ours: str, src: dict, theirs: str) -> None:
    for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        if f"{theirs}.{p}" in src:
            dst[f"{ours}.{p}"] = src[f"{theirs}.{p}"]


def _conv_nobias(dst: dict, ours: str, src: dict, theirs: str) -> None:
    w = src[f"{theirs}.weight"]
    dst[f"{ours}.weight"] = w
    dst[f"{ours}.bias"] = src.get(f"{theirs}.bias", torch.zeros(w.shape[0], dtype=w.dtype))


def _head(dst: dict, src: dict, path) -> None:
    dst["fc1.weight"], dst["fc1.bias"] = src["fc1.weight"], src["fc1.bias"]
    dst["fc2.weight"], dst["fc2.bias"] = binary_from_two_class(src["fc2.weight"], src["fc2.bias"], path)


def _dfbench_meso4(state: dict[str, Tensor], path) -> dict[str, Tensor]:
    """Their bn1 serves conv1 and conv2, bn2 serves conv3 and conv4 (shared): copied to our four BNs."""
    src, out = _strip(state, "backbone."), {}
    try:
        for i in range(1, 5):
            _conv_nobias(out, f"conv{i}", src, f"conv{i}")
        for ours, theirs in (("bn1", "bn1"), ("bn2", "bn1"), ("bn3", "bn2"), ("bn4", "bn2")):
            _bn(out, ours, src, theirs)
        _head(out, src, path)
    except KeyError as exc:
        raise CheckpointError(f"{path}: DeepfakeBench meso4 checkpoint lacks {exc}") from None
    return out


def _dfbench_mesoinception(state: dict[str, Tensor], path) -> dict[str, Tensor]:
    src, out = _strip(state, "backbone."), {}
    names = ["conv1", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2"]
    try:
        for b in (1, 2):
            for i, n in enumerate(names, start=1):
                _conv_nobias(out, f"inception{b}.conv{i}", src, f"Incption{b}_{n}")
            _bn(out, f"bn{b}", src, f"Incption{b}_bn")
        _conv_nobias(out, "conv1", src, "conv1")
        _conv_nobias(out, "conv2", src, "conv2")
        _bn(out, "bn3", src, "bn1")
        _bn(out, "bn4", src, "bn1")   # DeepfakeBench reuses bn1 after conv2
        _head(out, src, path)
    except KeyError as exc:
        raise CheckpointError(f"{path}: DeepfakeBench meso4Inception checkpoint lacks {exc}") from None
    return out


_IR = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
       "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand",
       "_project_conv": "conv_pw", "_bn2": "bn2"}
B4_STAGE_DEPTHS = (2, 4, 4, 6, 6, 8, 2)   # efficientnet-b4 blocks per stage (32 in all)


def block_positions(depths=B4_STAGE_DEPTHS) -> list[tuple[int, int]]:
    return [(s, j) for s, d in enumerate(depths) for j in range(d)]


def efficientnet_pytorch_to_timm(src: dict[str, Tensor], path, prefix: str = "efficientnet.") -> dict[str, Tensor]:
    """efficientnet_pytorch EfficientNet-B4 names under `prefix` -> timm tf_efficientnet_b4 names (`net.*`; same
    modules, same order). `{prefix}_fc.*`, the head, is the caller's; other keys are kept as they are, for the strict
    loader to report as unexpected."""
    pos = block_positions()
    out: dict[str, Tensor] = {}
    top = {f"{prefix}_conv_stem.": "net.conv_stem.", f"{prefix}_bn0.": "net.bn1.",
           f"{prefix}_conv_head.": "net.conv_head.", f"{prefix}_bn1.": "net.bn2."}
    for k, v in src.items():
        m = re.fullmatch(re.escape(prefix) + r"_blocks\.(\d+)\.(\w+)\.(.+)", k)
        if m:
            i, mod, rest = int(m.group(1)), m.group(2), m.group(3)
            if i >= len(pos):
                raise CheckpointError(f"{path}: efficientnetb4 block {i} beyond the 32 of EfficientNet-B4")
            is_ir = f"{prefix}_blocks.{i}._expand_conv.weight" in src
            table = _IR if is_ir else _DS
            if mod not in table:
                raise CheckpointError(f"{path}: unexpected efficientnet_pytorch module {k}")
            s, j = pos[i]
            out[f"net.blocks.{s}.{j}.{table[mod]}.{rest}"] = v
            continue
        for a, b in top.items():
            if k.startswith(a):
                out[b + k[len(a):]] = v
                break
        else:
            if not k.startswith(f"{prefix}_fc."):
                out[k] = v   # left for the strict loader to report as unexpected
    return out


def _dfbench_effb4(state: dict[str, Tensor], path) -> dict[str, Tensor]:
    """efficientnet_pytorch names -> timm tf_efficientnet_b4 names; `last_layer` (2 classes) -> one logit."""
    src = _strip(state, "backbone.")
    out = efficientnet_pytorch_to_timm({k: v for k, v in src.items()
                                        if not k.startswith(("adjust_channel.", "last_layer."))}, path)
    w = src.get("last_layer.weight", src.get("last_layer.1.weight"))
    b = src.get("last_layer.bias", src.get("last_layer.1.bias"))
    if w is not None and b is not None:
        out["net.classifier.weight"], out["net.classifier.bias"] = binary_from_two_class(w, b, path)
    return out


# --- self-blended images (SBI) ---------------------------------------------------------------------------------

def _sbi_effb4(state: dict[str, Tensor], path) -> dict[str, Tensor]:
    """SBI's `Detector.net` is efficientnet_pytorch's EfficientNet-B4 itself: `net._blocks...`, head `net._fc`."""
    src = _strip(state, "net.")
    out = efficientnet_pytorch_to_timm(src, path, prefix="")
    out["net.classifier.weight"], out["net.classifier.bias"] = binary_from_two_class(src["_fc.weight"],
                                                                                     src["_fc.bias"], path)
    return out


# --- CLIP linear probe (UniversalFakeDetect) ---------------------------------------------------------------------

def clip_dims(visual: dict[str, Tensor], path) -> dict[str, int]:
    """width, layers, patch, image size and output dimension of an OpenAI-layout CLIP ViT (`visual.*` keys)."""
    try:
        width, _, patch, _ = visual["visual.conv1.weight"].shape
        tokens = visual["visual.positional_embedding"].shape[0]
        output = visual["visual.proj"].shape[1]
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: CLIP visual tower lacks or misshapes {exc}") from None
    layers = len({k.split(".")[3] for k in visual if k.startswith("visual.transformer.resblocks.")})
    grid = round((tokens - 1) ** 0.5)
    if grid * grid + 1 != tokens or layers == 0:
        raise CheckpointError(f"{path}: CLIP visual tower with {tokens} position embeddings and {layers} blocks")
    return {"width": int(width), "layers": layers, "patch": int(patch), "image_size": grid * int(patch),
            "output": int(output)}


def clip_architecture(dims: dict[str, int]) -> str:
    return "clip-vit:w{width}-l{layers}-p{patch}-s{image_size}-o{output}".format(**dims)


def _ufd(state: dict[str, Tensor], path) -> tuple[str, dict[str, Tensor]]:
    """UniversalFakeDetect's CLIPModel: `model.visual.*` (OpenAI CLIP names) + `fc` (one logit, fake=1); the text
    tower (`model.transformer.*`, `model.token_embedding` ...) is not used for images and is dropped."""
    visual = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.visual.")}
    out = {**visual, "fc.weight": state["fc.weight"], "fc.bias": state["fc.bias"]}
    out["fc.weight"], out["fc.bias"] = binary_from_two_class(out["fc.weight"], out["fc.bias"], path)
    return clip_architecture(clip_dims(visual, path)), out
