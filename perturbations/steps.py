"""Step types: what each perturbation is, its parameters per severity, and where it may run.

Implementations are "module:function" strings imported on first use, so importing `perturbations`
never imports imgaug or av. A frame function is `fn(frames, rng, **params) -> (frames, drawn)`;
a video function (stage `video`) is `fn(src, dst, rng, **params) -> settings`.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .imagenet_c import HELD_OUT, PREFIX, RANDOM, STANDARD
from .imgaug_levels import FLIP_STEPS, HEAVY_STEPS
from .share_presets import MAX_TIMES, share_label

WRITE_BACK_MODES = ("none", "xvid+h264")
"""How DeeperForensics types are written back before a detector sees them: `none` (the distorted frames as they
are) or `xvid+h264` (the dataset's own `--via_xvid` procedure: XVID .avi, then H.264 CRF 23; `codecs.write_back`)."""
WRITE_BACK_TYPES = ("CS", "CC", "BW", "GNC", "GB", "PX")  # VC is the reference's own ffmpeg encode: no write-back
WRITE_BACK_FN = "perturbations.codecs:write_back"
BLOCK_COUNTS = ("reference", "scaled")  # BW's block count rule (`deeperforensics.block_count`)
IMAGE = ("frame", "face")  # per-image operations: full frames or face crops (face is the default protocol)
SEQUENCE = ("video", "frame", "face")  # codecs and temporal edits: the file, the sampled frames or the crops


@dataclass(frozen=True)
class Param:
    kind: type
    default: Any = None  # None: required (given by the severity table)
    check: Callable[[Any], bool] | None = None
    hint: str = ""

    def validate(self, value: Any) -> Any:
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise ValueError(f"must be {self.kind.__name__}{' ' + self.hint if self.hint else ''}, got {value!r}")
        if self.check is not None and not self.check(value):
            raise ValueError(f"must be {self.hint}, got {value!r}")
        return value


@dataclass(frozen=True)
class StepType:
    name: str
    summary: str
    frame_fn: str  # "module:function"
    params: dict[str, Param]
    severities: tuple[dict[str, Any], ...] = ()  # 5 entries, or () for types without severity
    stages: tuple[str, ...] = IMAGE
    video_fn: str = ""
    label_fn: Callable[[dict[str, Any]], str | None] | None = None  # a spec-like label from the parameters
    detector_dependent: bool = False  # an attack: applied by benchmarks' attack stage with the detector, never here
    imports: tuple[str, ...] = ()  # heavy libraries its functions import on first use (see `step_modules`)

    def function(self, video: bool = False) -> Callable:
        module, func = (self.video_fn if video else self.frame_fn).split(":")
        return getattr(importlib.import_module(module), func)


@dataclass(frozen=True)
class Step:
    """One configured step: a type, its full parameters, the severity it came from, an optional pinned stage."""

    type: StepType
    params: tuple[tuple[str, Any], ...]
    severity: int | None = None
    stage: str | None = None  # pinned (`@video`), else resolved from the protocol

    def label(self) -> str:
        text = self.type.name
        custom = self.type.label_fn(dict(self.params)) if self.type.label_fn and self.severity is None else None
        if custom:
            text = custom
        elif self.severity is not None:
            text += f":{self.severity}"
            surrogate = dict(self.params).get("surrogate") if self.type.detector_dependent else ""
            if surrogate:  # PGD:3@meso: the transfer setting (attack steps are never pinned to a stage)
                return f"{text}@{surrogate}"
        else:
            extra = {k: v for k, v in self.params if self.type.params[k].default != v}
            if extra:
                text += "(" + ",".join(f"{k}={v}" for k, v in extra.items()) + ")"
        return text + (f"@{self.stage}" if self.stage else "")

    def describe(self) -> list[str]:
        if self.type.name == "IMGAUG":
            return list({"flip": FLIP_STEPS, "heavy": HEAVY_STEPS}[dict(self.params)["pipeline"]])
        return [f"{self.label()} " + ", ".join(f"{k}={v}" for k, v in self.params)]

    def apply(self, frames: np.ndarray, rng: np.random.Generator,
              write_back: str = "none") -> tuple[np.ndarray, dict]:
        """The step's frames and drawn parameters; with a `write_back` mode other than `none`, a DeeperForensics
        type's result is written back as the reference writes every distorted video (`WRITE_BACK_MODES`), and
        DFMIX writes back after each of its types."""
        check_write_back(write_back)
        if write_back != "none" and self.type.name == "DFMIX":
            return self.type.function()(frames, rng, write_back=write_back, **dict(self.params))
        out, drawn = self.type.function()(frames, rng, **dict(self.params))
        if write_back != "none" and self.type.name in WRITE_BACK_TYPES and len(out):
            module, func = WRITE_BACK_FN.split(":")
            out, drawn["write_back"] = getattr(importlib.import_module(module), func)(out, write_back)
        return out, drawn

    def apply_video(self, src: str, dst: str, rng: np.random.Generator) -> dict:
        if "video" not in self.type.stages:
            raise ValueError(f"step {self.label()} cannot run at the video stage")
        return self.type.function(video=True)(src, dst, rng, **dict(self.params))


def step_modules(levels: Iterable[Any]) -> tuple[str, ...]:
    """The modules the steps of `levels` (`base.Level`s) run in, and the heavy libraries those import on first use.

    Why: a pool of worker processes can import them once before forking its workers (a forkserver's preload);
    otherwise every worker pays for them on its first video (imgaug alone took about 0.7 s per worker, a fifth of
    a short run's first video)."""
    modules: set[str] = set()
    for level in levels:
        for op in getattr(level, "ops", ()):
            modules.update(fn.split(":")[0] for fn in (op.type.frame_fn, op.type.video_fn) if fn)
            modules.update(op.type.imports)
    return tuple(sorted(modules))


def check_write_back(mode: str) -> None:
    if mode not in WRITE_BACK_MODES:
        raise ValueError(f"unknown write-back mode {mode!r} (use {' or '.join(WRITE_BACK_MODES)})")


def make_step(type_name: str, severity: int | None = None, params: dict[str, Any] | None = None,
              stage: str | None = None) -> Step:
    """Validated step; errors are one line naming the problem (callers add file/key context)."""
    name = type_name if type_name in TYPES else type_name.upper()  # ic.* names are lower case
    if name not in TYPES:
        raise ValueError(f"unknown step type {type_name!r} (types: {', '.join(TYPES)})")
    st = TYPES[name]
    values: dict[str, Any] = {k: p.default for k, p in st.params.items()}
    if severity is not None:
        if not st.severities:
            raise ValueError(f"{name} takes no severity (give parameters instead: {', '.join(st.params) or 'none'})")
        if not isinstance(severity, int) or isinstance(severity, bool) or not 1 <= severity <= len(st.severities):
            raise ValueError(f"{name}: severity must be an integer 1-{len(st.severities)}, got {severity!r}")
        values.update(st.severities[severity - 1])
    for key, value in (params or {}).items():
        if key not in st.params:
            raise ValueError(f"{name}: unknown parameter {key!r} (parameters: {', '.join(st.params) or 'none'})")
        try:
            values[key] = st.params[key].validate(value)
        except ValueError as exc:
            raise ValueError(f"{name}: parameter {key!r} {exc}") from None
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise ValueError(f"{name} needs a severity 1-{len(st.severities)} or the parameters {', '.join(missing)}")
    if stage is not None and stage not in st.stages:
        raise ValueError(f"{name} cannot run at stage {stage!r} (allowed: {', '.join(st.stages)})")
    return Step(st, tuple(values.items()), severity if not params else None, stage)


def _pos(x: float) -> bool:
    return x > 0


def _odd(k: int) -> bool:
    return k >= 1 and k % 2 == 1


def _frac(x: float) -> bool:
    return 0.0 <= x < 1.0


def _prob(x: float) -> bool:
    return 0.0 <= x <= 1.0


_CRF = Param(int, check=lambda v: 0 <= v <= 51, hint="0-51")
_FPS = Param(int, 25, lambda v: v > 0, "> 0")
_PRESET = Param(str, "medium", lambda v: v in ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                                                 "slow", "slower", "veryslow"), hint="an x264/x265 preset")
_BORDER = Param(str, "reflect", lambda v: v in ("reflect", "constant"), hint="'reflect' or 'constant'")
_KBPS = Param(int, 0, lambda v: v >= 0, ">= 0 (kbit/s; 0: none)")
_SIDE = Param(int, 0, lambda v: v >= 0, ">= 0 (pixels; 0: no limit)")
_DF = "perturbations.deeperforensics"
_GEO = "perturbations.geometric"
_TMP = "perturbations.temporal"
_COD = "perturbations.codecs"
_SHR = "perturbations.sharing"
_OVL = "perturbations.overlays"

TYPES: dict[str, StepType] = {t.name: t for t in [
    StepType("CS", "DeeperForensics colour saturation: YCbCr chroma scaled toward neutral by `factor`",
             f"{_DF}:color_saturation", {"factor": Param(float, check=lambda v: v >= 0, hint=">= 0")},
             tuple({"factor": f} for f in (0.4, 0.3, 0.2, 0.1, 0.0))),
    StepType("CC", "DeeperForensics colour contrast: pixel values multiplied by `factor` (toward black)",
             f"{_DF}:color_contrast", {"factor": Param(float, check=lambda v: v >= 0, hint=">= 0")},
             tuple({"factor": f} for f in (0.85, 0.725, 0.6, 0.475, 0.35))),
    StepType("BW", "DeeperForensics block-wise: `blocks` grey 8x8 blocks per whole 256 px of the shorter side",
             f"{_DF}:block_wise", {"blocks": Param(int, check=lambda v: v >= 0, hint=">= 0"),
                                   "size": Param(int, 8, lambda v: v >= 1, ">= 1"),
                                   "value": Param(int, 128, lambda v: 0 <= v <= 255, "0-255"),
                                   "per_frame": Param(bool, True),
                                   "count": Param(str, "reference", lambda v: v in BLOCK_COUNTS,
                                                  "'reference' (min_side // 256 * blocks) or 'scaled'")},
             tuple({"blocks": b} for b in (16, 32, 48, 64, 80))),
    StepType("GNC", "DeeperForensics white Gaussian noise in YCbCr (variance on the [0, 1] scale)",
             f"{_DF}:gaussian_noise_color", {"variance": Param(float, check=lambda v: v >= 0, hint=">= 0"),
                                             "per_frame": Param(bool, True)},
             tuple({"variance": v} for v in (0.001, 0.002, 0.005, 0.01, 0.05))),
    StepType("GB", "DeeperForensics Gaussian blur: cv2.GaussianBlur, sigma = kernel / 6",
             f"{_DF}:gaussian_blur", {"kernel": Param(int, check=_odd, hint="odd >= 1")},
             tuple({"kernel": k} for k in (7, 9, 13, 17, 21))),
    StepType("PX", "DeeperForensics 'JPEG' (pixelation): bilinear shrink by `factor`, enlarge back",
             f"{_DF}:pixelation", {"factor": Param(int, check=lambda v: v >= 1, hint=">= 1")},
             tuple({"factor": f} for f in (2, 3, 4, 5, 6))),
    StepType("VC", "DeeperForensics video compression: real H.264 re-encode (libx264, yuv420p) at `crf`",
             f"{_COD}:h264_clip", {"crf": _CRF, "preset": _PRESET, "fps": _FPS},
             tuple({"crf": c} for c in (30, 32, 35, 38, 40)), SEQUENCE, f"{_COD}:h264_video"),
    StepType("H265", "real H.265/HEVC re-encode (libx265, yuv420p) at `crf` (same CRFs as VC)",
             f"{_COD}:h265_clip", {"crf": _CRF, "preset": _PRESET, "fps": _FPS},
             tuple({"crf": c} for c in (30, 32, 35, 38, 40)), SEQUENCE, f"{_COD}:h265_video"),
    StepType("JPEG", "real JPEG compression (cv2.imencode) at `quality`",
             f"{_COD}:jpeg", {"quality": Param(int, check=lambda v: 0 <= v <= 100, hint="0-100")},
             tuple({"quality": q} for q in (90, 70, 50, 30, 10))),
    StepType("HFLIP", "horizontal (mirror) flip with probability `p`", f"{_GEO}:hflip", {"p": Param(float, 1.0, _prob, "0-1")}),
    StepType("VFLIP", "vertical (upside-down) flip with probability `p`", f"{_GEO}:vflip", {"p": Param(float, 1.0, _prob, "0-1")}),
    StepType("ROT", "rotation by `degrees` about the centre, random sign",
             f"{_GEO}:rotate", {"degrees": Param(float), "border": _BORDER},
             tuple({"degrees": float(d)} for d in (5, 10, 15, 20, 30))),
    StepType("SCALE", "zoom in or out (random) by `zoom`, random shift up to `shift` x side per axis",
             f"{_GEO}:scale", {"zoom": Param(float, check=lambda v: v >= 1, hint=">= 1"),
                               "shift": Param(float, check=_frac, hint="0-1"), "border": _BORDER},
             tuple({"zoom": z, "shift": s} for z, s in ((1.05, 0.02), (1.1, 0.04), (1.15, 0.06), (1.2, 0.08), (1.3, 0.1)))),
    StepType("ASPECT", "stretch or squeeze (random) one axis (random) by `ratio` about the centre",
             f"{_GEO}:aspect", {"ratio": Param(float, check=lambda v: v >= 1, hint=">= 1"), "border": _BORDER},
             tuple({"ratio": r} for r in (1.05, 1.1, 1.15, 1.2, 1.3))),
    StepType("DROP", "drop a random `fraction` of the frames (frame count shrinks)",
             f"{_TMP}:drop", {"fraction": Param(float, check=_frac, hint="0-1")},
             tuple({"fraction": f} for f in (0.1, 0.2, 0.3, 0.4, 0.5)), SEQUENCE, f"{_TMP}:drop_video"),
    StepType("DUP", "duplicate a random `fraction` of the frames in place (frame count grows)",
             f"{_TMP}:dup", {"fraction": Param(float, check=_prob, hint="0-1")},
             tuple({"fraction": f} for f in (0.1, 0.2, 0.3, 0.4, 0.5)), SEQUENCE, f"{_TMP}:dup_video"),
    StepType("FPS", "frame-rate change by `factor` (nearest-frame resampling; count x factor)",
             f"{_TMP}:fps", {"factor": Param(float, check=lambda v: 0 < v <= 4, hint="in (0, 4]")},
             tuple({"factor": f} for f in (0.8, 2 / 3, 0.5, 1 / 3, 0.25)), SEQUENCE, f"{_TMP}:fps_video"),
    StepType("SHUFFLE", "shuffle frames within consecutive windows of `window` frames",
             f"{_TMP}:shuffle", {"window": Param(int, check=lambda v: v >= 1, hint=">= 1")},
             tuple({"window": w} for w in (2, 3, 4, 6, 8)), SEQUENCE, f"{_TMP}:shuffle_video"),
    StepType("SHARE", "platform re-share: rescale to the delivery size, cap the frame rate, H.264 at `crf` with a "
             "`maxrate` cap, `times` times (presets: share:NAME[:N], share:all)",
             f"{_SHR}:share_clip",
             {"short_side": Param(int, 720, lambda v: v >= 0, ">= 0 (0: no limit)"),
              "long_side": Param(int, 1280, lambda v: v >= 0, ">= 0 (0: no limit)"), "max_width": _SIDE,
              "fps_max": Param(float, 30.0, lambda v: v >= 0, ">= 0 (0: keep the rate)"),
              "crf": Param(int, 23, lambda v: 0 <= v <= 51, "0-51"), "maxrate": _KBPS, "bufsize": _KBPS,
              "profile": Param(str, "high", lambda v: v in ("baseline", "main", "high"), "'baseline', 'main' or 'high'"),
              "gop_seconds": Param(float, 2.0, _pos, "> 0"),
              "bframes": Param(int, -1, lambda v: v >= -1, ">= -1 (-1: the encoder's default)"),
              "pix_fmt": Param(str, "yuv420p", lambda v: v == "yuv420p", "'yuv420p'"),
              "codec": Param(str, "h264", lambda v: v in ("h264", "h265"), "'h264' or 'h265'"), "preset": _PRESET,
              "platform": Param(str, "custom", lambda v: bool(v) and v.replace("-", "").replace("_", "").isalnum(),
                                "a name (letters, digits, - _)"),
              "times": Param(int, 1, lambda v: 1 <= v <= MAX_TIMES, f"1-{MAX_TIMES}")},
             (), ("video",), f"{_SHR}:share_video", share_label),
    StepType("CALL", "video call: downscale to `short_side`, frame rate `fps`, constant `kbps`, random frozen frames",
             f"{_SHR}:call_clip", {"short_side": Param(int, check=_pos, hint="> 0"), "fps": Param(float, check=_pos, hint="> 0"),
                                  "kbps": Param(int, check=_pos, hint="> 0"), "freeze": Param(float, check=_frac, hint="0-1"),
                                  "freeze_len": Param(int, 5, lambda v: v >= 1, ">= 1")},
             tuple({"short_side": s, "fps": f, "kbps": k, "freeze": z} for s, f, k, z in
                   ((360, 20.0, 800, 0.03), (288, 15.0, 500, 0.06), (240, 12.0, 300, 0.1), (180, 10.0, 200, 0.15),
                    (144, 8.0, 120, 0.2))), ("video",), f"{_SHR}:call_video"),
    StepType("CAPTION", "subtitle band over the lower face: random line and height, text `size` x height, band `opacity`",
             f"{_OVL}:caption", {"size": Param(float, check=lambda v: 0 < v <= 0.5, hint="in (0, 0.5]"),
                                 "opacity": Param(float, check=_prob, hint="0-1")},
             tuple({"size": s, "opacity": o} for s, o in
                   ((0.05, 0.2), (0.065, 0.4), (0.08, 0.6), (0.095, 0.8), (0.11, 1.0)))),
    StepType("STICKER", "emoji-like sticker (random shape, place, angle) covering `coverage` of the image",
             f"{_OVL}:sticker", {"coverage": Param(float, check=lambda v: 0 < v <= 0.5, hint="in (0, 0.5]")},
             tuple({"coverage": c} for c in (0.03, 0.06, 0.1, 0.15, 0.22))),
    StepType("BEAUTY", "beauty filter: edge-preserving (bilateral) skin smoothing and lift at growing strength",
             f"{_OVL}:beauty", {"sigma_color": Param(float, check=_pos, hint="> 0"),
                                "sigma_space": Param(float, check=_pos, hint="> 0 (x shorter side)"),
                                "passes": Param(int, check=lambda v: v >= 1, hint=">= 1"),
                                "amount": Param(float, check=_prob, hint="0-1"),
                                "brighten": Param(float, check=_prob, hint="0-1")},
             tuple({"sigma_color": c, "sigma_space": s, "passes": p, "amount": a, "brighten": b} for c, s, p, a, b in
                   ((15.0, 0.006, 1, 0.5, 0.02), (25.0, 0.01, 1, 0.65, 0.04), (40.0, 0.015, 2, 0.8, 0.06),
                    (60.0, 0.02, 2, 0.9, 0.08), (80.0, 0.025, 3, 1.0, 0.1)))),
    StepType("RECAPTURE", "screen recapture: random perspective tilt, moire, gamma and white-balance shift, blur, noise",
             f"{_OVL}:recapture", {k: Param(float, check=lambda v: v >= 0, hint=">= 0") for k in
                                   ("tilt", "moire", "gamma", "white_balance", "blur", "noise")},
             tuple({"tilt": t, "moire": m, "gamma": g, "white_balance": wb, "blur": b, "noise": n}
                   for t, m, g, wb, b, n in ((0.01, 0.02, 0.04, 0.03, 0.3, 1.0), (0.02, 0.035, 0.08, 0.06, 0.5, 2.0),
                                             (0.03, 0.05, 0.12, 0.09, 0.7, 3.0), (0.045, 0.07, 0.16, 0.12, 0.9, 4.0),
                                             (0.06, 0.1, 0.2, 0.15, 1.2, 6.0)))),
    StepType("DFMIX", "DeeperForensics mixture: `min_types`-`max_types` random DF types at random severities per video",
             f"{_DF}:mixture", {"min_types": Param(int, 2, lambda v: 1 <= v <= 7, "1-7"),
                                "max_types": Param(int, 4, lambda v: 1 <= v <= 7, "1-7"),
                                "video_compression": Param(bool, True)}),
    StepType("IMGAUG", "an imgaug pipeline of the published study: `flip` or `heavy`",
             "perturbations.imgaug_levels:pipeline",
             {"pipeline": Param(str, check=lambda v: v in ("flip", "heavy"), hint="'flip' or 'heavy'")},
             imports=("imgaug.augmenters",)),
]}


def _corruption(name: str) -> StepType:
    draws = "one random draw per video, reused on every frame" if name in RANDOM else "deterministic"
    held = ", held-out" if name in HELD_OUT else ""
    return StepType(f"{PREFIX}{name}", f"ImageNet-C {name.replace('_', ' ')} (imagecorruptions{held}; {draws})",
                    "perturbations.imagenet_c:corrupt_video",
                    {"corruption": Param(str, name, lambda v: v in STANDARD + HELD_OUT, "an ImageNet-C name"),
                     "severity": Param(int, check=lambda v: 1 <= v <= 5, hint="1-5")},
                    tuple({"severity": s} for s in range(1, 6)), imports=("imagecorruptions",))


_EPS = (1.0, 2.0, 4.0, 8.0, 16.0)  # L-inf radius in 0-255 pixel units per severity (Madry et al.'s grid, doubled)
_ATTACK = {"eps": Param(float, check=_pos, hint="> 0 (0-255 pixel units)"),
           "steps": Param(int, 10, lambda v: v >= 1, ">= 1"),
           "step_ratio": Param(float, 2.5, _pos, "> 0 (step size = step_ratio x eps / steps)"),
           "surrogate": Param(str, "", lambda v: v == "" or v.replace("-", "").replace("_", "").isalnum(),
                              "a detector name ('': each detector attacks itself)")}
ATTACK_FN = "perturbations.attack_spec:needs_detector"
ATTACK_TYPES = ("PGD", "PGD-EOT")

TYPES.update({t.name: t for t in [_corruption(n) for n in STANDARD + HELD_OUT] + [
    StepType("PGD", "white-box L-inf PGD on the detector's input crops towards the wrong class (ART), random start "
             "seeded per video; `@DETECTOR` computes it on that surrogate for every detector (transfer)",
             ATTACK_FN, dict(_ATTACK), tuple({"eps": e} for e in _EPS), ("face",), detector_dependent=True),
    StepType("PGD-EOT", "PGD with expectation over `samples` JPEG re-saves (quality `quality_min`-`quality_max`, "
             "straight-through gradient) per step, so it survives compression",
             ATTACK_FN, {**_ATTACK, "samples": Param(int, 6, lambda v: v >= 1, ">= 1"),
                         "quality_min": Param(int, 50, lambda v: 1 <= v <= 100, "1-100"),
                         "quality_max": Param(int, 95, lambda v: 1 <= v <= 100, "1-100")},
             tuple({"eps": e} for e in _EPS), ("face",), detector_dependent=True),
]})

DF_TYPES = ("CS", "CC", "BW", "GNC", "GB", "PX", "VC")
