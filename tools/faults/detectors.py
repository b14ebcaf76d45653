"""Fault cases: detectors (see tools/faults/__init__.py)."""
from __future__ import annotations
