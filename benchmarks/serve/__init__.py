"""The local web app (`python -m benchmarks serve`): runs, their per-video tables and face crops, comparisons, and
checking a video of your own. It orchestrates: pages read the run folders' files (through `reports.run_files`),
crops come from the pipeline's caches, an uploaded video goes through `benchmarks.predict`.

Needs the `serve` extra (FastAPI, Jinja2, uvicorn, python-multipart); `benchmarks.serve.app` imports them.
"""
from __future__ import annotations

import importlib

__all__ = ["Checker", "create_app", "serve"]

LAZY = {"create_app": "benchmarks.serve.app:create_app", "serve": "benchmarks.serve.app:serve",
        "Checker": "benchmarks.serve.predicting:Checker"}


def __getattr__(name: str):
    """`create_app`, `serve` and `Checker` on first use: the command line's parser stays free of FastAPI."""
    if name not in LAZY:
        raise AttributeError(f"module 'benchmarks.serve' has no attribute {name!r}")
    module, attr = LAZY[name].split(":")
    return getattr(importlib.import_module(module), attr)
