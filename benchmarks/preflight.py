"""The whole run checked before anything expensive starts: names, files, level specs, folders.

Why here and first: a misspelled detector used to be reported 5-22 s after the command, once worker processes and
torch had started (issue 17). Every check below reads only the registries (`detectors`, `datasets`,
`perturbations`, all torch-free) and the file system, so `python -m benchmarks run --detector mesoo` fails in
about half a second with one line and a "did you mean". `run()` calls `check_run` too, so the Python API refuses
the same inputs the same way; the command line calls it before it starts the forkserver or imports torch.

What cannot be known without the heavy imports is left to the stage that knows it: whether a timm model name exists
(timm imports torch), whether a plug-in's submodule and class exist (importing them runs the user's code), whether
a weight file fits its detector, and whether the dataset's files are readable.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import datasets
import detectors
import perturbations
from detectors import named_weights
from reports.run_files import MANIFEST_FILE, read_json

from .config import RunConfig, default_runs_dir

__all__ = ["check_run", "check_detectors", "check_dataset", "check_file", "check_files", "check_output"]


def check_run(config: RunConfig) -> list[str]:
    """ValueError (one line, naming the setting and what would be right) for the first bad input of `config`;
    returns the expanded level names. Loads `config.levels_files` (a bad file is an error naming it)."""
    check_detectors(config.detectors)
    for levels_file in config.levels_files:
        perturbations.load_levels_file(levels_file)
    levels = perturbations.expand(",".join(config.levels))
    check_dataset(config.dataset, config.dataset_options, config.data_root)
    check_files(config)
    check_backend(config.backend)
    check_output(config.out)
    return levels


def check_backend(backend: str) -> None:
    """`--backend onnxruntime` needs the ONNX packages: main dependencies, so missing only from an environment
    installed by hand (found without importing them)."""
    missing = [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
    if backend == "onnxruntime" and missing:
        raise ValueError(f"--backend onnxruntime needs {' and '.join(missing)}: pip install 'onnxruntime>=1.17' "
                         "'onnx>=1.15' (or --backend torch)")


def check_detectors(names: list[str]) -> None:
    """Every detector name known to the registry, `timm:MODEL` or an importable `package.module:Class`."""
    if not names:
        raise ValueError("no detector given (--detector NAME, see `list`)")
    for name in names:
        detectors.check(name)


def check_dataset(name: str, options: dict[str, object], data_root: str | None) -> None:
    """A registered dataset (with a "did you mean"), options its reader has, and a data root that is a folder
    (or one the reader generates, as the demo does)."""
    datasets.check_options(name, options)
    datasets.check_root(name, data_root)


def check_file(what: str, path: str | os.PathLike | None) -> None:
    """`path` (when given) is a file; `what` names the setting in the message."""
    if path is None:
        return
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"{what}: {str(path)!r} " + ("is a folder, not a file" if file.is_dir() else "does not exist"))


def check_files(config: RunConfig) -> None:
    """Weight files, backbone weights and the face model exist as files (their content is checked on load)."""
    # A shipped weight file by name (`--weights MesoInception_DF`) resolves to its file; an unknown name, or one for
    # another detector, is a one-line error listing the names that fit.
    named = [(f"weights for {det!r} (--weights)", named_weights.resolve(path, det))
             for det, path in config.weights.items() if path]
    named += [(f"backbone weights for {det!r} (--backbone-weights)", path)
              for det, path in config.backbone_weights.items() if path]
    for det in [*config.weights, *config.backbone_weights]:
        if det not in config.detectors:
            raise ValueError(f"weights given for {det!r}, which is not one of the run's detectors "
                             f"({', '.join(config.detectors)})")
    if config.faces.model_path:
        named.append(("face model (--face-model)", config.faces.model_path))
    elif config.faces.detector == "yunet":
        raise ValueError("face detector yunet needs its model file: --face-model face_detection_yunet_*.onnx")
    for what, path in named:
        check_file(what, path)


def check_output(out: str | None) -> None:
    """The run folder can be written: `out` (or the default runs/ folder) is a folder or can be made one, and a
    manifest in it can be read. Whether it holds a run of another configuration is decided, with the lock taken, by
    `runner.resolve_run_dir`."""
    target = Path(out).expanduser() if out else default_runs_dir()
    if target.exists() and not target.is_dir():
        raise ValueError(f"output folder {str(target)!r} (--out) is a file")
    if out and (target / MANIFEST_FILE).is_file():
        try:
            read_json(target / MANIFEST_FILE)
        except (OSError, ValueError) as error:
            raise ValueError(f"output folder {out!r} (--out) holds an unreadable {MANIFEST_FILE} ({error}); "
                             "choose another --out") from None
    existing = next(p for p in [target, *target.absolute().parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {str(target)!r} cannot be created: {str(existing)!r} is not writable")
