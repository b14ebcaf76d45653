"""Weight files shipped with the package, by name: `--weights MesoInception_DF` instead of a path.

The four MesoNet files are the authors' own Keras 2.1.5 weights (Afchar, Nozick, Yamagishi, Echizen, "MesoNet: a
Compact Facial Video Forgery Detection Network", WIFS 2018; github.com/DariusAf/MesoNet), shipped unchanged under the
Apache License 2.0 with its LICENSE and NOTICE (`detectors/weights/mesonet/`). A name only picks the file: the run
loads it exactly as it would from its path, so the scores are the same and the manifest records the same sha256.

Torch-free, so `list` and the command line can resolve and check names before any model code is imported.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .errors import CheckpointError

__all__ = ["NamedWeights", "NAMED_WEIGHTS", "WEIGHTS_DIR", "names", "get", "resolve", "looks_like_name"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
MESONET = ("MesoNet authors' Keras weights (Afchar et al., WIFS 2018, github.com/DariusAf/MesoNet), Apache-2.0 "
           "(detectors/weights/mesonet/LICENSE, NOTICE)")


@dataclass(frozen=True)
class NamedWeights:
    """One shipped weight file and what it fits."""

    name: str
    file: str  # relative to WEIGHTS_DIR
    detector: str  # the registry name whose architecture it holds
    description: str
    source: str
    licence: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


def _meso(name: str, detector: str, model: str, trained_on: str) -> NamedWeights:
    return NamedWeights(name, f"mesonet/{name}.h5", detector, f"{model} trained on {trained_on} by the MesoNet "
                        f"authors; 256 px RGB in [0, 1], sigmoid output P(real) (read as P(fake) here)", MESONET,
                        "Apache-2.0")


NAMED_WEIGHTS = MappingProxyType({w.name: w for w in (
    _meso("MesoInception_DF", "meso", "MesoInception4", "the authors' Deepfake dataset"),
    _meso("MesoInception_F2F", "meso", "MesoInception4", "FaceForensics Face2Face"),
    _meso("Meso4_DF", "meso4", "Meso4", "the authors' Deepfake dataset"),
    _meso("Meso4_F2F", "meso4", "Meso4", "FaceForensics Face2Face"),
)})


def names(detector: str | None = None) -> list[str]:
    """The shipped names (those that fit `detector` when given)."""
    return [n for n, w in NAMED_WEIGHTS.items() if detector is None or w.detector == detector]


def looks_like_name(value: str | Path) -> bool:
    """A bare word (no folder, no extension) that is not an existing file: meant as a name, not a path."""
    text = str(value)
    return bool(text) and "/" not in text and "\\" not in text and "." not in text and not Path(text).exists()


def get(name: str) -> NamedWeights:
    """The entry called `name`; unknown: a CheckpointError (one line) with a did-you-mean and the known names."""
    if name in NAMED_WEIGHTS:
        return NAMED_WEIGHTS[name]
    close = difflib.get_close_matches(name, NAMED_WEIGHTS, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise CheckpointError(f"unknown weights name '{name}' (and no such file); {hint}named weights: "
                          f"{', '.join(NAMED_WEIGHTS)}; or pass a weight file's path")


def resolve(weights: str | Path | None, detector: str | None = None) -> str | Path | None:
    """`weights` as given, or the shipped file when it is a name; a name for another `detector` (checked when
    given), an unknown name or a shipped file missing from the installation is a one-line CheckpointError."""
    if weights is None or not looks_like_name(weights):
        return weights
    entry = get(str(weights))
    if detector is not None and entry.detector != detector:
        fitting = names(detector)
        raise CheckpointError(f"named weights '{entry.name}' are for detector '{entry.detector}', not '{detector}'"
                              + (f"; for {detector}: {', '.join(fitting)}" if fitting else ""))
    if not entry.path.is_file():
        raise CheckpointError(f"named weights '{entry.name}': {entry.path} is missing from this installation "
                              f"(reinstall the package)")
    return entry.path
