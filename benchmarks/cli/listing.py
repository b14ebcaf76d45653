"""`python -m benchmarks list`: the registered detectors, datasets, perturbation levels and step types."""
from __future__ import annotations

import argparse

import datasets
import detectors
import perturbations


def add_parser(subparsers) -> None:
    listing = subparsers.add_parser("list", help="show registered detectors, datasets and perturbation levels")
    listing.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    print("detectors:")
    for name in detectors.available():
        print(f"  {name:18s} {detectors.describe(name)}")
    print(f"  {'timm:<model>':18s} any timm backbone with a binary head (pool, dense 256-128-64, sigmoid)")
    print(f"  {'pkg.module:Class':18s} your own detector implementing the adapter protocol (README)")
    print("datasets:")
    for name in datasets.available():
        print(f"  {name:18s} {datasets.describe(name).removeprefix(name + ': ')}")
    print("perturbation levels (--level; 'all' = none, flip, heavy):")
    for name in perturbations.available():
        print(f"  {name:18s} {perturbations.describe(name)}")
    print("perturbation step types (--level TYPE:SEVERITY, joined with +; see perturbations/README.md):")
    print("  " + ", ".join(perturbations.step_types()))
    return 0
