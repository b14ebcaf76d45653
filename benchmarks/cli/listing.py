"""`python -m benchmarks list [protocols]`: the registered detectors, named weights, datasets, perturbation levels,
step types and protocol presets; `list protocols` shows each preset in full (settings, source, known deviations)."""
from __future__ import annotations

import argparse

import datasets
import detectors
import perturbations

from .. import protocols


def add_parser(subparsers) -> None:
    listing = subparsers.add_parser("list", help="show registered detectors, named weights, datasets, perturbation "
                                    "levels and protocol presets")
    listing.add_argument("what", nargs="?", choices=["protocols"],
                         help="protocols: each protocol preset (run --protocol NAME) with its settings, source and "
                         "known deviations")
    listing.set_defaults(handler=main)


def print_protocols() -> None:
    for protocol in protocols.PROTOCOLS.values():
        print(f"{protocol.name}: {protocol.description}")
        print(f"  source: {protocol.source}")
        for key, value in protocol.settings.items():
            print(f"  {key} = {_setting(value)}")
        print(f"  headline: {protocol.headline}-level AUC")
        for name, wanted in protocol.detector_input.items():
            print(f"  input of {name}: " + ", ".join(f"{k} {_setting(v)}" for k, v in wanted.items()))
        for deviation in protocol.deviations:
            print(f"  deviates: {deviation}")
        print()


def _setting(value: object) -> str:
    if isinstance(value, tuple) and len(value) > 8:
        return f"{', '.join(value[:4])}, ..., {value[-1]} ({len(value)} levels)"
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return repr(dict(value)) if isinstance(value, dict) else repr(value)


def main(args: argparse.Namespace) -> int:
    if args.what == "protocols":
        print_protocols()
        return 0
    print("detectors:")
    for name in detectors.available():
        print(f"  {name:18s} {detectors.describe(name)}")
    print(f"  {'timm:<model>':18s} any timm backbone with a binary head (pool, dense 256-128-64, sigmoid; "
          "VGG as its conv base)")
    print(f"  {'option ela=true':18s} any detector on error-level-analysis images (--detector-option ela=true)")
    print(f"  {'pkg.module:Class':18s} your own detector implementing the adapter protocol (README)")
    print("named weights (--weights NAME, shipped with the package; `weights info NAME` for the file):")
    for name, entry in detectors.NAMED_WEIGHTS.items():
        print(f"  {name:18s} for {entry.detector}: {entry.description}; {entry.licence}")
    print("datasets:")
    for name in datasets.available():
        print(f"  {name:18s} {datasets.describe(name).removeprefix(name + ': ')}")
    print("perturbation levels (--level; 'all' = none, flip, heavy):")
    for name in perturbations.available():
        print(f"  {name:18s} {perturbations.describe(name)}")
    print("perturbation step types (--level TYPE:SEVERITY, joined with +; see perturbations/README.md):")
    print("  " + ", ".join(perturbations.step_types()))
    print("platform re-sharing presets (--level share:NAME, share:NAME:N for N re-shares, share:all):")
    for name, description in perturbations.share_presets().items():
        print(f"  {'share:' + name:18s} {description}")
    print("ImageNet-C corruptions (--level ic.NAME:S; ic:S = the 15 standard at S, ic:all = 15 x 5; * held-out):")
    print("  " + ", ".join(perturbations.IC_STANDARD) + "; * " + ", ".join(perturbations.IC_HELD_OUT))
    print("adversarial attacks (--level TYPE:S, or TYPE:S@DETECTOR to transfer from that detector; own report table):")
    for name in perturbations.ATTACK_TYPES:
        print(f"  {name:18s} {perturbations.step_types()[name]}")
    print("protocol presets (run --protocol NAME; `list protocols` for their settings):")
    for protocol in protocols.PROTOCOLS.values():
        print(f"  {protocol.name:18s} {protocol.description}")
    return 0
