"""Fault cases: signals (see tools/faults/__init__.py)."""
from __future__ import annotations
