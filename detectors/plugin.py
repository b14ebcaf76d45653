"""Your own detector: `detectors.create("pkg.module:Class", weights=..., random_init=...)`.

Protocol (the class, imported from any module on sys.path):

* `Class.create(weights=None, random_init=False, **options)` classmethod returning an instance, or a constructor
  accepting the same keywords;
* the instance is a `detectors.Detector` (or duck-types it): `name`, `input_size` (int), `model` (torch Module),
  `weights` (`WeightsInfo`), `fake_logits(x)` and `predict(x)` on float32 N x 3 x input_size x input_size RGB in
  [0, 1] returning P(fake) per frame, `checkpoint_card()` for `detectors.export`;
* optional: `temporal = True` with `predict_video(x)` for clip models (a bool; absent means False:
  `detectors.create` sets it, so every detector has a real `temporal` attribute).

The same rule as for built-in detectors: no weights and no random_init -> CheckpointError (the class decides;
this wrapper enforces it before calling the class).
"""
from __future__ import annotations

import importlib
import re
from typing import Any

from .base import CheckpointError, WeightsInfo
from .errors import DetectorLoadError

REQUIRED = ("input_size", "predict", "fake_logits", "model")


def create_plugin(spec: str, weights=None, random_init: bool = False, **options: Any):
    module_name, _, attr = spec.partition(":")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", module_name or "") or not re.fullmatch(r"[A-Za-z_]\w*", attr or ""):
        raise DetectorLoadError(f"detector {spec!r}: plug-ins are named package.module:ClassName")
    if weights is None and not random_init:
        raise CheckpointError(f"detector {spec!r} needs weights: pass --weights PATH, or --random-init")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # the module itself not found; an import failing inside it names its file instead
        if exc.name is None or not (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise
        raise DetectorLoadError(f"detector {spec!r}: cannot import {module_name} ({exc}); is its folder on "
                                "PYTHONPATH?") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise DetectorLoadError(f"detector {spec!r}: {module_name} has no attribute {attr!r}")
    make = getattr(cls, "create", cls)
    det = make(weights=weights, random_init=random_init, **options)
    missing = [a for a in REQUIRED if not hasattr(det, a)]
    if missing:
        raise DetectorLoadError(f"detector {spec!r}: the instance lacks {missing} (see detectors/plugin.py)")
    if not hasattr(det, "name"):
        det.name = spec
    if not isinstance(getattr(det, "weights", None), WeightsInfo):
        det.weights = WeightsInfo(path=str(weights) if weights else None, sha256=None,
                                  format="plugin" if weights else "random-init", architecture=spec,
                                  provenance=f"plug-in {spec}")
    return det
