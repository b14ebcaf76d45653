"""Dataset readers behind one call: `datasets.open(name, root, split)`.

The registry maps names to "module:Class" strings and imports lazily, so listing datasets
never pays for a reader's heavy imports (the demo generator pulls in PyAV and scikit-image).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .base import FAKE, REAL, Dataset, DatasetError, VideoItem

__all__ = ["FAKE", "REAL", "Dataset", "DatasetError", "VideoItem", "available", "describe", "open"]

_REGISTRY: dict[str, str] = {
    "demo": "datasets.demo:DemoDataset",
    "folder": "datasets.folder:FolderDataset",
}


def available() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(_REGISTRY)


def _load(name: str) -> type[Dataset]:
    target = _REGISTRY.get(name)
    if target is None:
        raise DatasetError(f"unknown dataset '{name}'; available: {', '.join(available())}")
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def describe(name: str) -> str:
    """One-line description of a registered dataset (first line of its class docstring)."""
    doc = (_load(name).__doc__ or "").strip()
    return f"{name}: {doc.splitlines()[0] if doc else '(no description)'}"


def open(name: str, root: str | Path | None = None, split: str = "test", **options: object) -> Dataset:  # noqa: A001
    """Open dataset `name` at `root` (None: the reader's default, if it has one) for `split`."""
    return _load(name)(root=root, split=split, **options)
