"""Shared fixtures. Real material lives in ../shared/data (never committed); tests that need it skip."""
from __future__ import annotations

from pathlib import Path

import pytest

import benchmarks  # noqa: F401  (first: binds `datasets`, `reports`... to this project's packages, not namesakes)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


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
