"""`run --protocol NAME` on the command line: the preset's settings, except those the user typed.

A flag typed on the command line wins over the preset, and says so in one line (`note: --frames 8 overrides the
lipforensics preset's num_frames=250`), so a run never follows a preset silently in part. Which flags were typed
is found by parsing the command again into a namespace pre-filled with a marker: argparse leaves a pre-filled
attribute alone unless its flag appears, so a typed value equal to the default still counts as typed.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..config import RunConfig
from ..protocols import DATASET_SETTINGS, FACES_PREFIX, Protocol, apply, value_of
from .datasets import OPTION_FLAGS

UNTYPED = object()  # marks an attribute whose flag was not on the command line

# Setting key -> the `run` flag's dest, where they are not spelled alike (`faces.X` is dest X otherwise).
FLAG_DESTS = {"levels": "level", "num_frames": "frames", "detectors": "detector", "faces.detector": "face_detector",
              "faces.model_path": "face_model", "faces.threshold": "face_threshold"}


def typed_dests(build: Callable[[], argparse.ArgumentParser], argv: Sequence[str]) -> set[str]:
    """The dests of `build()`'s arguments that `argv` gives explicitly (append flags count when given)."""
    parser = build()
    defaults = vars(parser.parse_args([]))
    watched = {dest for dest, value in defaults.items() if not isinstance(value, list)}
    parsed = parser.parse_args(list(argv), namespace=argparse.Namespace(**dict.fromkeys(watched, UNTYPED)))
    lists = {dest for dest, value in defaults.items() if isinstance(value, list) and getattr(parsed, dest)}
    return {dest for dest in watched if getattr(parsed, dest) is not UNTYPED} | lists


def command_argv(args: argparse.Namespace) -> list[str]:
    """The arguments after the subcommand's name (`cli.main` keeps the whole command line in `args.argv`)."""
    argv = list(getattr(args, "argv", None) or [])
    return argv[argv.index(args.command) + 1:] if args.command in argv else []


def flag_dest(key: str) -> str:
    return FLAG_DESTS.get(key, key.removeprefix(FACES_PREFIX))


def follow(config: RunConfig, protocol: Protocol, typed: set[str]) -> RunConfig:
    """`config` (built from the flags) with the preset's settings where no flag was typed; one note on stderr for
    each typed flag that changes a preset value."""
    keep = {key for key in protocol.settings if flag_dest(key) in typed}
    for key in sorted(keep):
        wanted, actual = protocol.settings[key], value_of(config, key)
        if (list(wanted) if isinstance(wanted, tuple) else wanted) != actual:
            dropped = [k for k in DATASET_SETTINGS if k in protocol.settings] if key == "dataset" else []
            note(f"--{flag_dest(key).replace('_', '-')} {_short(actual)}", protocol, key, wanted,
                 f" (its {' and '.join(dropped)} are not applied)" if dropped else "")
    if "dataset" in keep and config.dataset != protocol.settings["dataset"]:
        return apply(config, protocol, keep=dict.fromkeys(keep))
    for option, wanted in protocol.settings.get("dataset_options", {}).items():
        if option in config.dataset_options and str(config.dataset_options[option]) != str(wanted):
            flag = OPTION_FLAGS.get(option, f"--dataset-option {option}=")
            value = config.dataset_options[option]
            note(f"{flag}{value}" if flag.endswith("=") else f"{flag} {value}", protocol, f"dataset option {option}",
                 wanted)
    return apply(config, protocol, keep=dict.fromkeys(keep))


def note(given: str, protocol: Protocol, key: str, wanted: Any, more: str = "") -> None:
    print(f"note: {given} overrides the {protocol.name} preset's {key}={_short(wanted)}{more}", file=sys.stderr)


def _short(value: Any) -> str:
    """A setting for a one-line note: long level lists shortened."""
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
        return ",".join(items) if len(items) <= 6 else f"{','.join(items[:4])},... ({len(items)} levels)"
    return str(value)
