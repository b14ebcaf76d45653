"""Detector registry: `create("meso", weights=PATH)` returns a `Detector` (P(fake) from [0,1] RGB).

Imports are lazy (name -> "module:factory"), so `import detectors` stays cheap and torch-free until
a detector is created. Weights are never downloaded: pass a file, or ask for a random model.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import named_weights
from .errors import CheckpointError, DetectorLoadError, load_error

if TYPE_CHECKING:
    from .base import Detector, DetectorProtocol, WeightsInfo, input_contract  # noqa: F401

Factory = Callable[..., "DetectorProtocol"]  # factory(weights=..., random_init=..., **options) -> a detector

_REGISTRY: dict[str, tuple[str | Factory, str]] = {
    "meso": ("detectors.mesonet:create_meso",
             "MesoInception4 (Afchar et al. 2018), 256x256 face crops; weights: MesoNet Keras .h5, "
             "deepfake_detector .pth or project .safetensors"),
    "meso4": ("detectors.mesonet:create_meso4",
              "Meso4 (Afchar et al. 2018), 256x256 face crops; weights: MesoNet Keras Meso4 .h5 or "
              "project .safetensors"),
    "resnet-lstm": ("detectors.zoo:create_resnet_lstm",
                    "ResNet-50 + LSTM(512) clip model (DeeperForensics-1.0 baseline), clips of 224x224 crops, "
                    "ImageNet norm; weights: deepfake_detector .pth or .safetensors"),
    "efficientnet": ("detectors.zoo:create_efficientnet",
                     "EfficientNet frame classifier (timm; variant=b0..b7 / tf_efficientnet_bN, default b4 at "
                     "380 px), ImageNet norm; weights: DeepfakeBench efficientnetb4 .pth or .safetensors"),
    "efficientnet-lstm": ("detectors.zoo:create_efficientnet_lstm",
                          "EfficientNet-B1 + LSTM(512 x 2) clip model, 240x240, ImageNet norm; weights: "
                          "deepfake_detector .pth or .safetensors"),
    "clip-probe": ("detectors.clip_probe:create_clip_probe",
                   "CLIP ViT image encoder + linear probe (UniversalFakeDetect, Ojha et al. CVPR 2023; default "
                   "ViT-L/14), 224 px, CLIP norm; weights: its checkpoint, or fc_weights.pth + --backbone-weights"),
    "xception": ("detectors.zoo:create_xception",
                 "Xception (FaceForensics++ baseline), 299x299, mean=std=0.5; weights: deepfake_detector / "
                 "DeepfakeBench .pth or .safetensors"),
    "vgg16": ("detectors.zoo:create_vgg16",
              "VGG16 conv base + dense 256-128-64 head (course studies), 224x224, Keras caffe preprocessing "
              "(BGR, ImageNet means); weights: .safetensors"),
    "resnet50": ("detectors.zoo:create_resnet50",
                 "ResNet-50 + dense 256-128-64 head (course studies), 224x224, Keras caffe preprocessing; "
                 "weights: .safetensors"),
    "inception-v3": ("detectors.zoo:create_inception_v3",
                     "Inception-v3 + dense 256-128-64 head (course studies), 299x299, [-1, 1] input; "
                     "weights: .safetensors"),
    "efficientnet-b1": ("detectors.zoo:create_efficientnet_b1",
                        "EfficientNet-B1 (TF padding) + dense 256-128-64 head (course studies), 240x240, "
                        "ImageNet norm; weights: .safetensors"),
    "frame-diff": ("detectors.zoo:create_frame_diff",
                   "DFDC frame-difference CNN: grayscale differences of consecutive frames, conv/pool x2, dense "
                   "120-84-1; clip model, 160x160; weights: .safetensors"),
}

_BUILT_IN = {name: target for name, (target, _) in _REGISTRY.items()}  # the project's own: their errors pass as-is

# Prefix entries: "timm:<model_name>" (any timm backbone + binary head); "pkg.module:Class" (a plug-in).
TIMM_PREFIX = "timm:"
TIMM_FACTORY = "detectors.zoo:create"  # create(name, weights, random_init, **options) for "timm:..." names
PLUGIN_FACTORY = "detectors.plugin:create_plugin"
ELA_WRAPPER = "detectors.ela:with_ela"  # with_ela(detector, name, ela=None, ela_quality=None): options of any detector
ELA_OPTIONS = ("ela", "ela_quality")
TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # "package.module:attribute"

DEMO_WEIGHTS = Path(__file__).parent / "weights" / "meso-demo.safetensors"

# Re-exported lazily: name -> "module:attribute".
_LAZY = {
    "Detector": "detectors.base:Detector",
    "WeightsInfo": "detectors.base:WeightsInfo",
    "DetectorProtocol": "detectors.base:DetectorProtocol",
    "input_contract": "detectors.base:input_contract",
    "export": "detectors.checkpoints:export",
    "load_checkpoint": "detectors.checkpoints:load_checkpoint",
    "sha256_file": "detectors.checkpoints:sha256_file",
}

NAMED_WEIGHTS = named_weights.NAMED_WEIGHTS  # shipped weight files by name (`create("meso", weights="Meso...")`)

__all__ = ["DEMO_WEIGHTS", "NAMED_WEIGHTS", "CheckpointError", "DetectorLoadError", "available", "check", "create",
           "default_weights", "describe", "register", "unregister", *_LAZY]


def _resolve(target: str) -> Any:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def register(name: str, target: str | Factory, description: str = "", replace: bool = False) -> None:
    """Add detector `name` without editing this file; `detectors.create(name, ...)` then builds it.

    `target` is a "module:factory" string (imported on first use, like the built-in entries, so registering
    costs no torch import) or the factory itself; a factory is called as
    `factory(weights=..., random_init=..., **options)` and returns a `Detector` (see `detectors.base`). A
    taken name is a ValueError unless `replace=True`. Example::

        detectors.register("tiny", "my_pkg.tiny:create_tiny", "my 32 px test detector")
        det = detectors.create("tiny", random_init=True)
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise ValueError(f"detector name {name!r}: letters, digits, _ . - only (a ':' would make it a plug-in)")
    if isinstance(target, str):
        if not TARGET.fullmatch(target):
            raise ValueError(f"detector {name!r}: target must be 'package.module:factory', got {target!r}")
    elif not callable(target):
        raise ValueError(f"detector {name!r}: target must be a 'module:factory' string or callable, got {target!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"detector {name!r} is already registered ({_REGISTRY[name][0]!r}); pass replace=True")
    _REGISTRY[name] = (target, description or f"registered detector {name}")


def unregister(name: str) -> None:
    """Remove a registered detector (built-in or added with `register`); unknown names are a ValueError."""
    _REGISTRY.pop(_check_name(name))


def available() -> list[str]:
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    """One line for `list`."""
    if name.startswith(TIMM_PREFIX):
        return f"timm backbone {name[len(TIMM_PREFIX):]} + dense 256-128-64 binary head"
    if _is_plugin(name):
        return f"plug-in detector class {name}"
    return _REGISTRY[_check_name(name)][1]


def _is_plugin(name: str) -> bool:
    return ":" in name and not name.startswith(TIMM_PREFIX)


def _check_name(name: str) -> str:
    if name.startswith(TIMM_PREFIX) or _is_plugin(name):
        return name
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, available(), n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown detector {name!r}{hint} (available: {', '.join(available())}, timm:MODEL or "
                         "package.module:Class)")
    return name


def check(name: str) -> None:
    """A ValueError naming the problem unless `name` can name a detector, decided without importing torch or the
    detector's code (so a command line is refused in well under a second, before any worker starts): a registered
    name (with a "did you mean" for a near miss), `timm:MODEL` with timm installed (the model name itself is only
    known to timm, which imports torch: checked when the detector is built), or `package.module:Class` whose
    top-level package can be found (its submodule and class are checked on import)."""
    if name.startswith(TIMM_PREFIX):
        model = name[len(TIMM_PREFIX):]
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", model):
            raise ValueError(f"detector {name!r}: give a timm model name after 'timm:', e.g. timm:resnet18")
        if importlib.util.find_spec("timm") is None:
            raise ValueError(f"detector {name!r}: timm is not installed (pip install timm)")
        return
    if _is_plugin(name):
        if not TARGET.fullmatch(name):
            raise ValueError(f"detector {name!r}: plug-ins are named package.module:ClassName")
        package = name.split(":")[0].split(".")[0]
        if package not in sys.modules and importlib.util.find_spec(package) is None:
            raise ValueError(f"detector {name!r}: no module named {package!r} (is its folder on PYTHONPATH?)")
        return
    _check_name(name)


def default_weights(name: str) -> Path | None:
    """The bundled demo weights for `meso` when present (trained by the project, not the authors')."""
    return DEMO_WEIGHTS if name == "meso" and DEMO_WEIGHTS.is_file() else None


def create(name: str, weights: str | Path | None = None, random_init: bool = False,
           **options: Any) -> "DetectorProtocol":
    """Build detector `name` from `weights` (format sniffed from content), or random if asked.

    `weights` is a file path or the name of a shipped weight file (`named_weights`, e.g. "MesoInception_DF" for
    `meso`): a name loads that file exactly as its path would.

    Raises CheckpointError when no weights are given without `random_init`, or when the weights do
    not belong to this detector; options (e.g. `seed` for random init) go to the factory. Any other failure of
    a plug-in's or registered detector's own code (its module's import, a syntax error, its constructor) is a
    one-line `DetectorLoadError` naming the detector and the file.

    `ela=True` (any detector) feeds it error-level-analysis images instead of frames (`detectors/ela.py`;
    `ela_quality=Q`, default 90, sets the JPEG re-save quality). Weights saved from an ELA detector get ELA again
    when loaded; `ela=False` with such weights is a ValueError.
    """
    _check_name(name)
    # Built-in detectors: a shipped name for another detector is refused by name; others get the file as it is.
    built_in = name in _REGISTRY and _BUILT_IN.get(name) == _REGISTRY[name][0]
    weights = named_weights.resolve(weights, name if built_in else None)
    input_options = {key: options.pop(key) for key in ELA_OPTIONS if key in options}
    return _resolve(ELA_WRAPPER)(_create(name, weights, random_init, **options), name, **input_options)


def _create(name: str, weights: str | Path | None, random_init: bool, **options: Any) -> "DetectorProtocol":
    if name.startswith(TIMM_PREFIX):
        det = _resolve(TIMM_FACTORY)(name, weights, random_init, **options)
    elif _is_plugin(name):
        det = _user_code(name, name, lambda: _resolve(PLUGIN_FACTORY)(name, weights=weights, random_init=random_init,
                                                                       **options))
    else:
        target = _REGISTRY[name][0]

        def build() -> Any:
            factory: Factory = _resolve(target) if isinstance(target, str) else target
            return factory(weights=weights, random_init=random_init, **options)

        det = build() if _BUILT_IN.get(name) == target else _user_code(name, target, build)
    return _with_temporal(det, name)


def _user_code(name: str, target: str | Factory, build: Callable[[], Any]) -> Any:
    """`build()`, its failures (other than a weights problem, already one line) as a `DetectorLoadError`."""
    try:
        return build()
    except (CheckpointError, DetectorLoadError):
        raise
    except Exception as exc:  # the user's code: any error is reported as one line naming it
        raise load_error(name, exc, target) from exc


def _with_temporal(det: Any, name: str) -> Any:
    """Every created detector has a bool `temporal` (the `DetectorProtocol` contract): plug-ins and registered
    factories that do not declare one are frame models, so callers never need getattr with a default."""
    if not hasattr(det, "temporal"):
        det.temporal = False
    elif not isinstance(det.temporal, bool):
        raise ValueError(f"detector {name!r}: temporal must be True or False, got {det.temporal!r}")
    return det


def __getattr__(attr: str) -> Any:
    if attr in _LAZY:
        return _resolve(_LAZY[attr])
    raise AttributeError(f"module 'detectors' has no attribute {attr!r}")
