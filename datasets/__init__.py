"""Dataset readers behind one call: `datasets.open(name, root, split)`.

The registry maps names to "module:Class" strings and imports lazily, so listing datasets
never pays for a reader's heavy imports (the demo generator pulls in PyAV and scikit-image).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import re
from pathlib import Path

from .base import FAKE, REAL, Dataset, DatasetError, Progress, VideoItem
from .paths import PATH_PROBLEMS, PathProblem, audit_paths, check_inside_root

__all__ = ["FAKE", "REAL", "Dataset", "DatasetError", "Progress", "VideoItem", "available", "check_options", "check_root", "describe",
           "open", "reader_options",
           "register", "unregister", "PATH_PROBLEMS", "PathProblem", "audit_paths", "check_inside_root"]

TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # "package.module:Class"

_REGISTRY: dict[str, str | type[Dataset]] = {
    "celebdf": "datasets.celebdf:CelebDFDataset",
    "celebdf-v1": "datasets.celebdf:CelebDFv1Dataset",
    "demo": "datasets.demo:DemoDataset",
    "dfdc": "datasets.dfdc:DFDCDataset",
    "ffpp": "datasets.ffpp:FFPPDataset",
    "folder": "datasets.folder:FolderDataset",
}


def register(name: str, target: str | type[Dataset], replace: bool = False) -> None:
    """Add a dataset layout without editing this file; `datasets.open(name, root, split)` then reads it.

    `target` is a "module:Class" string (imported on first use, like the built-in entries) or the class;
    the class is a `Dataset` taking `root`, `split` and its own keyword options. A taken name is a
    ValueError unless `replace=True`. Example::

        datasets.register("mylab", "mylab.data:MyLabDataset")
        ds = datasets.open("mylab", "/data/mylab", "test")
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise ValueError(f"dataset name {name!r}: letters, digits, _ . - only")
    if isinstance(target, str):
        if not TARGET.fullmatch(target):
            raise ValueError(f"dataset {name!r}: target must be 'package.module:Class', got {target!r}")
    elif not (inspect.isclass(target) and issubclass(target, Dataset)):
        raise ValueError(f"dataset {name!r}: target must be a 'module:Class' string or a Dataset subclass, "
                         f"got {target!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"dataset {name!r} is already registered ({_REGISTRY[name]!r}); pass replace=True")
    _REGISTRY[name] = target


def unregister(name: str) -> None:
    """Remove a registered dataset (built-in or added with `register`); unknown names are a DatasetError."""
    _load(name)  # the usual error for an unknown name
    del _REGISTRY[name]


def available() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(_REGISTRY)


def _load(name: str) -> type[Dataset]:
    target = _REGISTRY.get(name)
    if target is None:
        close = difflib.get_close_matches(str(name), available(), n=2)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise DatasetError(f"unknown dataset '{name}'{hint}; available: {', '.join(available())}")
    if not isinstance(target, str):
        return target
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def describe(name: str) -> str:
    """One-line description of a registered dataset (first line of its class docstring)."""
    doc = (_load(name).__doc__ or "").strip()
    return f"{name}: {doc.splitlines()[0] if doc else '(no description)'}"


HOOKS = ("self", "root", "split", "progress")  # reader parameters that are not options of the data


def reader_options(name: str) -> dict[str, object]:
    """Reader options of dataset `name` with their defaults (beyond root, split and the progress callback)."""
    parameters = inspect.signature(_load(name).__init__).parameters
    return {k: p.default for k, p in parameters.items() if k not in HOOKS
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check_options(name: str, options: dict[str, object]) -> None:
    """A DatasetError for an unknown dataset (with a "did you mean") or an option its reader does not have,
    listing the ones it has: decided from the reader's signature, before any file is read."""
    known = reader_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DatasetError(f"dataset '{name}' has no option(s) {', '.join(unknown)}{hint}; "
                           f"its options: {', '.join(known) or 'none'}")


def check_root(name: str, root: str | Path | None) -> None:
    """A DatasetError when `root` is given but is not a folder, unless the reader generates its data there."""
    if root is not None and not Path(root).expanduser().is_dir() and not _load(name).generates:
        raise DatasetError(f"data root {str(root)!r} (--data-root) does not exist or is not a folder")


def open(name: str, root: str | Path | None = None, split: str = "test", *, progress: Progress | None = None,  # noqa: A001
         **options: object) -> Dataset:
    """Open dataset `name` at `root` (None: the reader's default, if it has one) for `split`.

    `options` are reader-specific (e.g. dfdc parts="45-49"); values may be strings, as typed on a
    command line. An option the reader does not have is an error listing the ones it has, rather
    than a TypeError from deep inside. `progress(done, total)` is called by readers that prepare data
    first (the demo generator, per clip rendered), so a caller can show a bar; readers that only list
    files never call it.
    """
    check_options(name, options)
    reader = _load(name)
    if progress is not None and "progress" in inspect.signature(reader.__init__).parameters:
        options["progress"] = progress
    return reader(root=root, split=split, **options)
