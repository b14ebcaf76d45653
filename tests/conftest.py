"""Shared fixtures. Real material lives in ../shared/data (never committed); tests that need it skip."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import benchmarks  # noqa: F401  (first: binds `datasets`, `reports`... to this project's packages, not namesakes)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


# Folders the suite may write in the checkout: caches of Python and its tools, virtualenvs, CI's cache.
SCRATCH = {".git", ".cache", ".pytest_cache", ".ruff_cache", ".benchmarks", "__pycache__", ".venv", ".venv-ci"}


def checkout_entries() -> set[str]:
    """Every file and folder of the checkout but the scratch folders (a few hundred entries: milliseconds)."""
    found = set()
    for folder, dirs, files in os.walk(PROJECT_ROOT):
        dirs[:] = [d for d in dirs if d not in SCRATCH and not d.endswith(".egg-info")]
        rel = Path(folder).relative_to(PROJECT_ROOT)
        found.update(str(rel / name) for name in dirs + files)
    return found


@pytest.fixture(scope="session", autouse=True)
def checkout_left_clean():
    """Tests write under their tmp paths only: a file or folder the suite adds to the checkout (an empty
    `runs/train-<timestamp>/` once) fails the session, naming it."""
    before = checkout_entries()
    yield
    added = sorted(checkout_entries() - before)
    assert not added, f"the tests left {len(added)} new path(s) in the checkout (write under tmp_path): {added[:10]}"


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the calling test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not present: {path} (only on development machines)")
    return path


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture
def restore_levels():
    """Levels registered during a test (e.g. from a levels file) are removed afterwards, so later tests that
    expand `all` never see them."""
    from perturbations import spec
    saved = dict(spec.registry())
    yield
    spec._REGISTRY.clear()
    spec._REGISTRY.update(saved)
