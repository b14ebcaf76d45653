"""Fault cases: each one commits a fault for real (a plug-in that returns fewer scores, swapped cache files, two
runs on one folder, SIGTERM with workers, a symlink out of the data root, ...) and checks the outcome the tool
promises for it (a status row, an exit code, no process left, nothing silently reused).

One registry, two runners: `python -m tools.fault_injection` runs every case and prints one line each (CI runs it),
and `tests/test_faults.py` runs each case as a test. A case is a function `(scratch: Path) -> str` registered with
`@fault(area)`: it works only inside `scratch`, returns the observed outcome as one line, and raises
`FaultBroken` (or AssertionError) when the promise is broken.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FaultCase", "FaultBroken", "fault", "cases", "AREAS"]

# One module of cases per area, imported by `cases()`.
AREAS = ("detectors", "caches", "run_folder", "signals", "inputs")


class FaultBroken(AssertionError):
    """The tool did not keep its promise for this fault."""


@dataclass(frozen=True)
class FaultCase:
    area: str
    name: str
    check: Callable[[Path], str]  # does the fault inside a scratch folder; returns the observed outcome (one line)
    doc: str  # the fault and the promised outcome


_CASES: dict[str, FaultCase] = {}


def fault(area: str) -> Callable[[Callable[[Path], str]], Callable[[Path], str]]:
    """Register the decorated function as a fault case of `area` (named after the function)."""
    if area not in AREAS:
        raise ValueError(f"unknown fault area {area!r}; one of {', '.join(AREAS)}")

    def register(check: Callable[[Path], str]) -> Callable[[Path], str]:
        name = f"{area}.{check.__name__}"
        if name in _CASES:
            raise ValueError(f"fault case {name} registered twice")
        _CASES[name] = FaultCase(area, name, check, " ".join((check.__doc__ or "").split()))
        return check

    return register


def cases() -> list[FaultCase]:
    """Every registered case, in area order then definition order."""
    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}")
    return sorted(_CASES.values(), key=lambda c: AREAS.index(c.area))
