"""`python -m benchmarks datasets check|list`: is a dataset on disk what the reader expects?

A benchmark number is only as good as its data: a missing download part, a truncated file or
the same video under two names silently shifts AUC. `check` finds these before a long run:
counts per split/label/group, files whose real path (symlinks resolved) is outside the data
root, symlink loops, dangling links, listed names that are not files (a directory x.mp4),
missing files, files PyAV cannot open as video (optional, it opens every file), duplicate
content (size first, then sha256 only among equal sizes), and the reader's layout problems.
Exit 0 when clean, 1 when anything is wrong, 2 on a bad input.
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict

import datasets

from ..hashing import file_sha256
from ..pipeline.decode import VideoReadError, probe_video
from .arguments import positive_int, seed_int

MAX_GROUP_VALUES = 20       # group keys with more distinct values (ids) are not tabulated
MAX_LISTED = 20             # per problem kind, further entries are summarised
# Reader option -> the flag that sets it (`add_dataset_option_args`); others come from --dataset-option KEY=VALUE.
OPTION_FLAGS = {"parts": "--parts", "max_videos": "--sample", "seed": "--dataset-seed", "balance": "--balance",
                "compression": "--compression", "methods": "--methods"}


def add_dataset_option_args(parser: argparse.ArgumentParser) -> None:
    """Reader options as flags; shared with `run` so both commands select the same videos."""
    group = parser.add_argument_group("dataset options (passed to the reader; see README)")
    group.add_argument("--parts", help="dfdc: train parts, e.g. 45-49 or 0,3,7-9 (default: all found)")
    group.add_argument("--sample", type=positive_int, metavar="N", help="dfdc: seeded subsample of N videos (reader option max_videos)")
    group.add_argument("--balance", action="store_true", help="dfdc: with --sample, half real and half fake")
    group.add_argument("--dataset-seed", type=seed_int, help="dfdc: subsample seed (default 24, the reference study's "
                       "seed; with this suite's own draw the videos differ: --dataset-option selection=reference gives "
                       "the reference's)")
    group.add_argument("--compression", help="ffpp: raw, c23 (default) or c40")
    group.add_argument("--methods", help="ffpp: comma list of manipulation methods or all (default the four classic)")
    group.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                       help="any other reader option (repeatable), e.g. dfdc selection=reference: the deepfake_detector "
                       "study's exact 500 real + 500 fake test videos of parts 45-49")
    parser.add_argument("--follow-symlinks", action="store_true",
                        help="read video files that symlinks point to outside the data root (a symlink farm); by "
                        "default a listed file whose real path is outside the root is refused")


def dataset_options(args: argparse.Namespace) -> dict[str, object]:
    """The `**options` for `datasets.open` from the flags of `add_dataset_option_args` (unset flags omitted)."""
    dests = {key: flag.removeprefix("--").replace("-", "_") for key, flag in OPTION_FLAGS.items()}
    options: dict[str, object] = {key: getattr(args, dest) for key, dest in dests.items()
                                  if getattr(args, dest, None) not in (None, False)}
    for item in getattr(args, "dataset_option", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--dataset-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value
    return options


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("datasets", help="check a dataset on disk, or list dataset readers and options",
                                   description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="datasets_command", required=True)
    check = sub.add_parser("check", help="counts, files outside the root, symlink loops, dangling links, non-files, "
                           "missing/unreadable/duplicate files and layout; exit 1 on problems")
    check.add_argument("--dataset", required=True, help="dataset name (see `datasets list`)")
    check.add_argument("--data-root", help="dataset folder")
    check.add_argument("--split", default="all", help="split to check (default all)")
    check.add_argument("--no-probe", action="store_true", help="skip opening every file with PyAV (huge datasets)")
    check.add_argument("--no-duplicates", action="store_true", help="skip the duplicate-content search")
    add_dataset_option_args(check)
    check.set_defaults(handler=cmd_check)
    listing = sub.add_parser("list", help="dataset readers with their options and defaults")
    listing.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    """Each reader with its options as the flags that set them (`run` and `datasets check` take the same)."""
    for name in datasets.available():
        print(datasets.describe(name))
        for key, default in datasets.reader_options(name).items():
            print(f"    {option_flag(key):34s} default: {_default(default)}")
    return 0


def option_flag(key: str) -> str:
    """The flag that sets reader option `key` (`--parts`), or `--dataset-option KEY=VALUE` for the others."""
    flag = OPTION_FLAGS.get(key)
    if flag == "--balance":
        return flag
    return f"{flag} VALUE" if flag else f"--dataset-option {key}=VALUE"


def _default(value: object) -> str:
    if value is None:
        return "not set (the reader's choice)"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def cmd_check(args: argparse.Namespace) -> int:
    dataset = datasets.open(args.dataset, args.data_root, split=args.split, **dataset_options(args))
    items = list(dataset)
    print(f"{dataset.name} at {dataset.root} (split {dataset.split}): {len(items)} videos")
    _print_counts(items)
    for note in dataset.notes:
        print(f"note: {note}")
    findings: dict[str, list[str]] = {"layout": list(dataset.problems)}
    problems = datasets.audit_paths(items, dataset.root)
    if args.follow_symlinks:  # asked for: noted, not a finding, and the files are probed like the others
        outside = [p for p in problems if p.kind == "escapes_root"]
        problems = [p for p in problems if p.kind != "escapes_root"]
        if outside:
            print(f"note: {len(outside)} video(s) outside the data root through symlinks, read (--follow-symlinks)")
    for kind in datasets.PATH_PROBLEMS:  # one line per path: escapes root, symlink loop, dangling link, not a file
        findings[kind.replace("_", " ")] = [p.line() for p in problems if p.kind == kind]
    flagged = {p.item.video_id for p in problems}
    present = [item for item in items if item.video_id not in flagged and item.path.is_file()]
    findings["missing"] = [f"{item.video_id}: {item.path}" for item in items
                           if item.video_id not in flagged and not item.path.is_file()]
    if not args.no_probe:
        findings["unreadable"] = _probe(present)
    if not args.no_duplicates:
        findings["duplicate"] = _duplicates(present)
    failed = False
    for kind, lines in findings.items():
        print(f"{kind}: {len(lines) or 'none'}")
        for line in lines[:MAX_LISTED]:
            print(f"  {line}")
        if len(lines) > MAX_LISTED:
            print(f"  ... and {len(lines) - MAX_LISTED} more")
        failed = failed or bool(lines)
    print("problems found" if failed else "ok")
    return 1 if failed else 0


def _print_counts(items: list[datasets.VideoItem]) -> None:
    by_split = Counter((item.split, item.label) for item in items)
    print("| split | real | fake | total |\n|---|---:|---:|---:|")
    for split in sorted({s for s, _ in by_split}):
        real, fake = by_split[(split, datasets.REAL)], by_split[(split, datasets.FAKE)]
        print(f"| {split} | {real} | {fake} | {real + fake} |")
    values: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        for key, value in item.groups.items():
            values[key][(value, item.label)] += 1
    for key, counter in values.items():
        names = sorted({v for v, _ in counter})
        if len(names) > MAX_GROUP_VALUES:
            continue
        cells = ", ".join(f"{v or '(none)'} {counter[(v, datasets.REAL)]}/{counter[(v, datasets.FAKE)]}" for v in names)
        print(f"{key} (real/fake): {cells}")


def _probe(items: list[datasets.VideoItem]) -> list[str]:
    """Files PyAV cannot open as a video with frames (imported here: listing needs no PyAV)."""
    bad = []
    for item in items:
        try:
            probe_video(item.path)
        except VideoReadError as error:
            bad.append(f"{item.video_id}: {error.status} ({error})")
    return bad


def _duplicates(items: list[datasets.VideoItem]) -> list[str]:
    """Groups of files with identical content: sizes first, sha256 only where sizes collide."""
    by_size: dict[int, list[datasets.VideoItem]] = defaultdict(list)
    for item in items:
        by_size[item.path.stat().st_size].append(item)
    found = []
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        by_hash: dict[str, list[str]] = defaultdict(list)
        for item in same_size:
            by_hash[file_sha256(item.path)].append(item.video_id)
        found += [f"same content: {', '.join(ids)}" for ids in by_hash.values() if len(ids) > 1]
    return found

