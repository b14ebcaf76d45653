"""Protocol presets: the settings of a published evaluation, by name (`run --protocol NAME`, `list protocols`).

A number is comparable with a paper's only when it was measured the paper's way, and the way is a dozen settings
spread over the command line (levels, the stage they apply at, frames, sampling, aggregation, the test videos).
A preset names them once, with the paper and code they come from and what this suite still does differently, so
`--protocol lipforensics` gives exactly those settings and the manifest and report say which preset was followed
and which settings the user changed.

Settings are keyed by `RunConfig` field name (`faces.FIELD` for a `FaceSettings` field); every key and value is
checked when this module is imported, so a preset that names a field `RunConfig` lacks fails at once, in tests.
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import perturbations

from .config import FaceSettings, RunConfig

__all__ = ["Protocol", "PROTOCOLS", "names", "get", "configure", "apply", "differences", "record", "value_of", "check",
           "input_differences", "FACES_PREFIX", "DATASET_SETTINGS", "HEADLINES"]

FACES_PREFIX = "faces."  # settings key prefix for a FaceSettings field
DATASET_SETTINGS = ("split", "dataset_options")  # dropped when the user picks another dataset than the preset's
DF_WRITE_BACK = "xvid+h264"  # the DeeperForensics code's --via_xvid: frames written to XVID .avi, then ffmpeg to .mp4
HEADLINES = ("video", "frame")  # the AUC a source reports: over video scores, or over all frames (metrics.json: both)
HALF = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@dataclass(frozen=True)
class Protocol:
    """One published evaluation: its settings and where they come from."""

    name: str
    description: str
    source: str  # paper and code repository the settings were read from
    settings: Mapping[str, Any]  # RunConfig field (or faces.FIELD) -> value
    deviations: tuple[str, ...] = field(default=())  # what this suite still does differently from the source
    headline: str = "video"  # the AUC the source's tables report (HEADLINES); metrics.json has both
    # How the source fed its detectors, per registry name: input_size, normalisation {mean, std}, clip_frames. A
    # preset never changes how a model is fed (that belongs to its weights' card): the run records where a detector's
    # own input contract differs from the source's (`input_differences`).
    detector_input: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        object.__setattr__(self, "detector_input", MappingProxyType(dict(self.detector_input)))
        if self.headline not in HEADLINES:
            raise ValueError(f"protocol preset '{self.name}': headline must be one of {HEADLINES}")


DFDC_REFERENCE = Protocol(
    name="dfdc-reference",
    description="the DFDC test set of the deepfake_detector study: 500 real + 500 fake videos of train parts "
                "45-49 drawn exactly as its code drew them, 5 frames per video, video score = mean of frame P(fake)",
    source="C. Otto, 'Comparing the Performance of Deepfake Detection Methods on Benchmark Datasets' (master's "
           "thesis, University of Bamberg, 2020); code github.com/CatoGit/Comparing-the-Performance-of-Deepfake-"
           "Detection-Methods-on-Benchmark-Datasets (deepfake_detector/dfdetector.py label_data, utils.py "
           "dfdc_metadata_setup, test.py)",
    settings={"dataset": "dfdc", "split": "parts", "dataset_options": {"selection": "reference"}, "num_frames": 5,
              "faces.sampling": "even", "faces.margin": 1.3, "aggregate": "mean"},
    deviations=(
        "faces: CenterFace (threshold 0.5, largest face tracked) instead of RetinaFace ResNet-50 (confidence > 0.9)",
        "crop: a square of 1.3x the longer box side; the reference widens width and height by 30% each and resizes "
        "the rectangle to the detector's input (aspect ratio not kept)",
        "levels: the reference scored its DFDC test set clean; the levels given (default heavy) are this suite's",
    ),
)

DEEPERFORENSICS = Protocol(
    name="deeperforensics",
    description="the seven DeeperForensics-1.0 distortions at severities 1-5 (35 levels and the clean one), "
                "applied to full frames before face detection, each perturbed video written back through XVID and "
                "ffmpeg as the reference script does",
    source="L. Jiang et al., 'DeeperForensics-1.0: A Large-Scale Dataset for Real-World Face Forgery Detection' "
           "(CVPR 2020); code github.com/EndlessSora/DeeperForensics-1.0 (perturbation/add_distortion_to_video.py "
           "--via_xvid, perturbation/distortions.py)",
    settings={"levels": tuple(perturbations.expand("df:all")), "apply_at": "frame", "df_write_back": DF_WRITE_BACK},
    deviations=(
        "dataset, frames and detector are not fixed by the reference (its hidden test set has no reader here): "
        "choose them with --dataset, --frames and --detector",
        "the reference's 'random' type and level are drawn unseeded; the preset's 35 levels are fixed type x "
        "severity pairs (random mixtures, df:mix, are seeded here and not part of the preset)",
    ),
)

LIPFORENSICS = Protocol(
    name="lipforensics",
    description="LipForensics' robustness test: FaceForensics++ c23 test split (Deepfakes, FaceSwap, Face2Face, "
                "NeuralTextures), the seven DeeperForensics distortions at severities 1-5 on full frames, the first "
                "250 frames per video (10 clips of 25), video score = mean of logits",
    source="A. Haliassos et al., 'Lips Don't Lie: A Generalisable and Robust Approach to Face Forgery Detection' "
           "(CVPR 2021, robustness section); code github.com/ahaliassos/LipForensics (evaluate.py: 25-frame clips, "
           "mean of clip logits, video-level AUC; data/dataset_clips.py: non-overlapping clips from frame 0, at "
           "most 270 frames per video); distortions from the DeeperForensics-1.0 code",
    settings={"dataset": "ffpp", "split": "test",
              "dataset_options": {"compression": "c23", "methods": "Deepfakes,FaceSwap,Face2Face,NeuralTextures"},
              "levels": tuple(perturbations.expand("df:all")), "apply_at": "frame", "df_write_back": DF_WRITE_BACK,
              "num_frames": 250, "faces.sampling": "first", "aggregate": "logit-mean"},
    deviations=(
        "input: a face crop (1.3x the box) per detector instead of LipForensics' 88x88 grayscale mouth crops "
        "aligned with 68 landmarks (RetinaFace + FAN); the LipForensics model itself is not in the zoo",
        "frames: a video shorter than 270 frames gives min(n, 250) frames here, whole 25-frame clips only "
        "(floor(n / 25) x 25) in the reference",
        "clips: give a clip detector --detector-option clip_frames=25 to score 25-frame clips as the reference did; "
        "frame detectors average the logits of single frames",
        "the released code has no perturbation step: whether faces and landmarks were found on the perturbed or the "
        "clean frames is not published; --apply-at frame detects them on the perturbed frames",
    ),
)

FFPP_TEST = {"dataset": "ffpp", "split": "test",
             "dataset_options": {"compression": "c23", "methods": "Deepfakes,FaceSwap,Face2Face,NeuralTextures"}}

DEEPFAKEBENCH = Protocol(
    name="deepfakebench",
    description="DeepfakeBench's test protocol: FaceForensics++ c23 test split (its four methods), 32 frames per video "
                "from first to last frame, face crop 1.3x, inputs 256 px normalised with mean = std = 0.5, frame-level "
                "AUC as the headline and video AUC = mean of frame P(fake)",
    source="Z. Yan et al., 'DeepfakeBench: A Comprehensive Benchmark of Deepfake Detection' (NeurIPS 2023 Datasets "
           "and Benchmarks); code github.com/SCLBD/DeepfakeBench (preprocessing/preprocess.py: fixed_num_frames "
           "np.linspace(0, n - 1, 32, endpoint=True), dlib largest face, 5-point alignment at scale 1.3, 256 px; "
           "preprocessing/config.yaml num_frames 32; training/config/detector/xception.yaml, meso4.yaml, "
           "efficientnetb4.yaml: frame_num test 32, resolution 256, mean/std 0.5, compression c23, test_dataset "
           "FaceForensics++; training/metrics/utils.py get_test_metrics: frame AUC, video AUC = mean per video)",
    settings={**FFPP_TEST, "num_frames": 32, "faces.sampling": "linspace", "faces.margin": 1.3, "aggregate": "mean"},
    headline="frame",
    detector_input={name: {"input_size": 256, "normalisation": HALF} for name in ("meso", "meso4", "xception",
                                                                                  "efficientnet")},
    deviations=(
        "faces: CenterFace (threshold 0.5, largest face tracked) instead of dlib's frontal detector (largest face)",
        "alignment: DeepfakeBench warps each face onto a 5-point template (eyes, nose, mouth corners from dlib's 81 "
        "landmarks; skimage similarity transform, scale 1.3, 256 px); this suite has no landmark detector and cuts "
        "a square of 1.3x the box, unrotated",
        "frames without a face: DeepfakeBench drops the frame (a video may keep fewer than 32); here a lost face keeps "
        "the tracked or interpolated box",
        "detector inputs: the 256 px / mean = std = 0.5 of its xception, meso4, meso4Inception and efficientnetb4 "
        "configs (checked per detector, listed when different); other DeepfakeBench configs differ (sbi.yaml: "
        "ImageNet mean/std; clip.yaml: 224 px)",
        "levels: DeepfakeBench has no test-time perturbation module; the levels given (default heavy) are this suite's",
    ),
)

FFPP = Protocol(
    name="ffpp",
    description="FaceForensics++'s released detection code: c23 test split (four methods), a square face crop of "
                "1.3x the detected box, no alignment, XceptionNet at 299 px with mean = std = 0.5, softmax class 1 = "
                "fake, frame-level predictions",
    source="A. Rössler et al., 'FaceForensics++: Learning to Detect Manipulated Facial Images' (ICCV 2019); code "
           "github.com/ondyari/FaceForensics (classification/detect_from_video.py: dlib frontal detector, "
           "get_boundingbox scale=1.3 square around the box centre, clipped at the frame; classification/dataset/"
           "transform.py xception_default_data_transforms: Resize 299, Normalize 0.5/0.5; dataset/splits/test.json)",
    settings={**FFPP_TEST, "faces.margin": 1.3, "aggregate": "mean"},
    headline="frame",
    detector_input={"xception": {"input_size": 299, "normalisation": HALF}},
    deviations=(
        "frames: detect_from_video.py scores every frame from frame 0; the paper does not state how many frames per "
        "test video its tables use, so the preset sets none: --frames (default 32, evenly spaced) is the run's; "
        "--sampling first --frames N scores the first N frames as the script does",
        "faces: CenterFace (threshold 0.5, largest face tracked) instead of dlib's frontal detector (its first "
        "detection); the paper's models were trained on Face2Face-tracker crops (classification/README.md)",
        "crop at the frame border: the reference shrinks the square to stay inside the frame, this suite mirrors "
        "the pixels past the edge",
        "video score: the reference gives frame predictions only; the video score here is the mean of frame P(fake)",
        "levels: the paper compares compression levels (raw, c23, c40: --compression), not perturbations; the levels "
        "given (default heavy) are this suite's",
    ),
)

CS188 = Protocol(
    name="cs188",
    description="the UCLA CS188 course study the MesoNet and ResNet-LSTM seeds come from: Celeb-DF v2 test list, "
                "20 evenly spaced frames, whole frames perturbed (none, flip/rotate, heavy imgaug) and faces found "
                "again, crop 1.3x, video score = mean of frame sigmoids, sequence models read the 20 crops as one clip",
    source="the study's 3-tier Celeb-DF table and its code base 'deepfake_detector' (github.com/CatoGit/Comparing-"
           "the-Performance-of-Deepfake-Detection-Methods-on-Benchmark-Datasets: dfdetector.py benchmark, "
           "datasets.py np.linspace(0, n, 20, endpoint=False), pretrained_mods/*.py input sizes and normalisation), "
           "as digested in the project's field notes (docs/protocol.md#cs188)",
    settings={"dataset": "celebdf", "split": "test", "num_frames": 20, "faces.sampling": "even", "faces.margin": 1.3,
              "aggregate": "mean", "levels": ("none", "flip", "heavy"), "apply_at": "frame"},
    headline="video",
    detector_input={"meso": {"input_size": 256, "normalisation": HALF},
                    "xception": {"input_size": 299, "normalisation": HALF},
                    "resnet-lstm": {"input_size": 224, "normalisation": IMAGENET, "clip_frames": 20},
                    "efficientnet-lstm": {"input_size": 240, "normalisation": IMAGENET, "clip_frames": 20}},
    deviations=(
        "faces: CenterFace (threshold 0.5, largest face tracked) instead of RetinaFace ResNet-50 (confidence > 0.9)",
        "crop: a square of 1.3x the longer box side; the reference widens width and height by 30% each and resizes "
        "the rectangle to the detector's input (aspect ratio not kept)",
        "levels: flip and heavy are this suite's reconstruction of the study's tiers; the study did not publish the "
        "flip probability or the rotation angle (docs/perturbations.md)",
        "detector inputs: the published MesoNet Keras weights take [0, 1] inputs, not the deepfake_detector port's "
        "mean = std = 0.5 (listed as a difference; each model is fed as its weights were trained)",
    ),
)

PROTOCOLS: Mapping[str, Protocol] = MappingProxyType({p.name: p for p in (DEEPERFORENSICS, LIPFORENSICS,
                                                                           DFDC_REFERENCE, DEEPFAKEBENCH, FFPP,
                                                                           CS188)})


def names() -> list[str]:
    return list(PROTOCOLS)


def get(name: str) -> Protocol:
    """The preset called `name`; an unknown name is a ValueError with a did-you-mean and the known names."""
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    close = difflib.get_close_matches(name, PROTOCOLS, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ValueError(f"unknown protocol preset '{name}'; {hint}presets: {', '.join(PROTOCOLS)}")


def apply(config: RunConfig, protocol: Protocol, keep: Mapping[str, Any] | None = None) -> RunConfig:
    """`config` with the preset's settings, except the keys in `keep` (settings the user chose: their value in
    `config` stands); `dataset_options` are merged key by key, the user's keys winning."""
    keep = keep or {}
    changes: dict[str, Any] = {}
    faces: dict[str, Any] = {}
    other_dataset = "dataset" in keep and config.dataset != protocol.settings.get("dataset", config.dataset)
    for key, value in protocol.settings.items():
        if other_dataset and key in DATASET_SETTINGS:
            continue  # the preset's split and reader options belong to its dataset, not to the one chosen instead
        if key == "dataset_options":
            changes[key] = {**value, **config.dataset_options}
        elif key in keep or (key.startswith(FACES_PREFIX) and "faces" in keep):
            continue
        elif key.startswith(FACES_PREFIX):
            faces[key.removeprefix(FACES_PREFIX)] = value
        else:
            changes[key] = list(value) if isinstance(value, tuple) else value
    return dataclasses.replace(config, **changes, faces=dataclasses.replace(config.faces, **faces),
                               protocol=protocol.name)


def configure(name: str, **changes: Any) -> RunConfig:
    """A RunConfig following preset `name`, with `changes` (RunConfig fields) on top: the Python form of
    `run --protocol NAME [flags]`. `dataset_options` in `changes` are merged with the preset's."""
    protocol = get(name)
    return apply(RunConfig(**changes), protocol, keep={k: v for k, v in changes.items() if k != "dataset_options"})


def value_of(config: RunConfig, key: str) -> Any:
    """A setting's value in `config` (`faces.FIELD` reads the face settings)."""
    if key.startswith(FACES_PREFIX):
        return getattr(config.faces, key.removeprefix(FACES_PREFIX))
    return getattr(config, key)


def differences(config: RunConfig, protocol: Protocol) -> dict[str, dict[str, Any]]:
    """Settings of `config` that differ from the preset's: {key: {"preset": value, "run": value}} (for a
    dataset option, key `dataset_options.KEY`). Computed from the config itself, so the record holds for a
    Python caller as well as for the command line."""
    found: dict[str, dict[str, Any]] = {}
    for key, wanted in protocol.settings.items():
        actual = value_of(config, key)
        if key == "dataset_options":
            for option, value in wanted.items():
                if str(actual.get(option)) != str(value):
                    found[f"{key}.{option}"] = {"preset": value, "run": actual.get(option)}
        elif (list(wanted) if isinstance(wanted, tuple) else wanted) != actual:
            found[key] = {"preset": _plain(wanted), "run": _plain(actual)}
    return found


def input_differences(protocol: Protocol, contracts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{detector: {key: {"preset": value, "detector": value}}} where a detector's input contract (`detectors.
    input_contract`) differs from how the source fed that detector; detectors the source did not use are absent."""
    found: dict[str, dict[str, Any]] = {}
    for name, contract in contracts.items():
        for key, wanted in protocol.detector_input.get(name, {}).items():
            actual = contract.get(key)
            if key == "normalisation" and actual is not None:  # float32 round trips: compare to 1e-6
                same = all(abs(a - b) <= 1e-6 for k in ("mean", "std") for a, b in zip(actual[k], wanted[k]))
            else:
                same = actual == wanted
            if not same:
                found.setdefault(name, {})[key] = {"preset": _plain(wanted), "detector": actual}
    return found


def record(config: RunConfig, contracts: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
    """The manifest's `protocol_preset` entry: which preset, its source, settings, headline AUC, detector inputs and
    known deviations, the settings this run changed, and (given the detectors' input `contracts`) where a
    detector is fed otherwise than the source fed it (None without a preset)."""
    if config.protocol is None:
        return None
    protocol = get(config.protocol)
    return {"name": protocol.name, "description": protocol.description, "source": protocol.source,
            "settings": {k: _plain(v) for k, v in protocol.settings.items()}, "headline": protocol.headline,
            "detector_input": {k: dict(v) for k, v in protocol.detector_input.items()},
            "deviations": list(protocol.deviations), "overrides": differences(config, protocol),
            "input_differences": input_differences(protocol, contracts or {})}


def _plain(value: Any) -> Any:
    """JSON-ready: tuples as lists, mapping proxies as dicts."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def check(protocol: Protocol) -> None:
    """Every key a RunConfig (or FaceSettings) field, every value accepted by RunConfig's own checks and every
    level known: a preset that cannot run fails at import, not in a user's run."""
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    face_fields = {f.name for f in dataclasses.fields(FaceSettings)}
    for key in protocol.settings:
        inner = key.removeprefix(FACES_PREFIX)
        known = inner in face_fields if key.startswith(FACES_PREFIX) else key in fields and key != "faces"
        if not known:
            raise ValueError(f"protocol preset '{protocol.name}': '{key}' is no RunConfig setting")
    config = apply(RunConfig(), protocol)
    for level in config.levels:
        perturbations.get(level)


for _protocol in PROTOCOLS.values():
    check(_protocol)
