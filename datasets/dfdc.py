"""`dfdc`: the Deepfake Detection Challenge data (Dolhansky et al. 2020) as downloaded.

Three sources can sit under one root, and each video's `split` says which one it came from:

- `parts`: ROOT/dfdc_train_part_N/metadata.json (`{"x.mp4": {"label": "FAKE"|"REAL",
  "split": "train", "original": "y.mp4"|null}}`), filtered by option `parts` ("45-49", "0,3").
  The reference study (deepfake_detector, 2020) drew its test set from these (500 real + 500
  fake from parts 45-49, pandas `sample(n=500, random_state=24)` per class), because the
  labelled public test set came later. Option `selection=reference` reproduces exactly those
  1000 videos; the default `selection=seeded` is this suite's own seeded draw of the same sizes,
  which picks other videos (about 13% of them in common: chance level).
- `test_videos`: ROOT/test_videos/ with labels.csv (`filename,label`, 1 = fake).
- `train_sample_videos`: ROOT/train_sample_videos/metadata.json (the 400-video Kaggle sample).

Split `test` is `test_videos` when present, else the train parts (noted in describe());
`train` is the train parts; `all` is every source present.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import FAKE, REAL, Dataset, DatasetError, VideoItem
from .common import (
    as_bool,
    as_choices,
    as_int,
    check_split,
    check_unique_ids,
    load_json,
    pandas_sample_positions,
    parse_int_set,
    parse_label,
    read_csv,
    require_root,
    safe_relpath,
    subsample,
    video_id,
)

PARTS, TEST_VIDEOS, TRAIN_SAMPLE = "parts", "test_videos", "train_sample_videos"
SOURCES = (PARTS, TEST_VIDEOS, TRAIN_SAMPLE)
SPLITS = ("test", "train", "all", *SOURCES)
METADATA = "metadata.json"
LABELS_CSV = "labels.csv"
DEFAULT_SEED = 24
SEEDED, REFERENCE = "seeded", "reference"
SELECTIONS = (SEEDED, REFERENCE)
# The reference's test pool: parts 45-49 in the order its metadata frames were concatenated (utils.py of
# deepfake_detector lists part 49 before 48); pandas samples by row position, so the order decides the videos.
REFERENCE_PARTS = (45, 46, 47, 49, 48)
REFERENCE_SIZE = 1000  # 500 real + 500 fake
TEST_FROM_PARTS = ("parts=45-49, max_videos=1000, balance=True, seed=24 (500 real + 500 fake; selection=reference "
                   "for the reference study's exact videos)")
LAYOUT = (f"ROOT/dfdc_train_part_N/{METADATA}, ROOT/{TEST_VIDEOS}/{LABELS_CSV} (filename,label; 1 = fake) "
          f"and/or ROOT/{TRAIN_SAMPLE}/{METADATA}")
_PART_DIR = re.compile(r"^dfdc_train_part_(\d+)$")
_DFDC_LABELS = {"FAKE": FAKE, "REAL": REAL}


class DFDCDataset(Dataset):
    """DFDC: train parts (metadata.json), public test_videos (labels.csv), train_sample_videos; seeded or reference sample."""

    name = "dfdc"

    def __init__(self, root: str | Path | None = None, split: str = "test", parts: object = None,
                 max_videos: object = None, balance: object = False, seed: object = DEFAULT_SEED,
                 selection: object = SEEDED) -> None:
        check_split(split, SPLITS, self.name)
        root_path = require_root(root, self.name, LAYOUT)
        self.options: dict[str, Any] = {
            "parts": parse_int_set(parts, "parts") if parts not in (None, "", "all") else None,
            "max_videos": as_int(max_videos, "max_videos", minimum=1) if max_videos not in (None, "") else None,
            "balance": as_bool(balance, "balance"),
            "seed": as_int(seed, "seed"),
            "selection": as_choices(selection, "selection", SELECTIONS)[0] if selection not in (None, "") else SEEDED,
        }
        if self.options["selection"] == REFERENCE:
            self._reference_options()
        if self.options["balance"] and self.options["max_videos"] is None:
            raise DatasetError("dataset 'dfdc': balance=True needs max_videos=N (N/2 real + N/2 fake)")
        notes: list[str] = []
        problems: list[str] = []
        sources = self._sources(root_path, split, notes)
        if self.options["selection"] == REFERENCE and sources != [PARTS]:
            raise DatasetError(f"dataset 'dfdc': selection=reference draws from the train parts 45-49, but split "
                               f"'{split}' reads {', '.join(sources)}; use --split parts")
        items: list[VideoItem] = []
        for source in sources:
            if source == PARTS:
                items += read_parts(root_path, self.options["parts"], problems)
            elif source == TEST_VIDEOS:
                items += read_labels_csv(root_path / TEST_VIDEOS / LABELS_CSV)
            else:
                items += read_metadata(root_path / TRAIN_SAMPLE / METADATA, TRAIN_SAMPLE, TRAIN_SAMPLE, "")
        check_unique_ids(items, str(root_path))
        n, balance, seed = self.options["max_videos"], self.options["balance"], self.options["seed"]
        if self.options["selection"] == REFERENCE:
            items = reference_selection(items, n, seed, problems, f"{root_path} (split {split})")
            notes.append(f"reference selection: pandas sample(n={n // 2}, random_state={seed}) per class over parts "
                         f"{','.join(map(str, REFERENCE_PARTS))} in that order (the deepfake_detector test set)")
        else:
            items = subsample(items, n, balance, seed, f"{root_path} (split {split})")
            if n is not None:
                notes.append(f"seeded subsample: max_videos={n}, balance={balance}, seed={seed}")
        super().__init__(root_path, split, items, notes=notes, problems=problems)

    def _reference_options(self) -> None:
        """selection=reference fixes the pool and the sizes; options that would change them are refused, not
        silently ignored (a run that says `reference` must hold the reference's videos)."""
        options = self.options
        if options["parts"] is not None and options["parts"] != sorted(REFERENCE_PARTS):
            raise DatasetError(f"dataset 'dfdc': selection=reference draws from parts 45-49 only, got parts="
                               f"{_ranges(options['parts'])}")
        if options["max_videos"] is not None and options["max_videos"] % 2:
            raise DatasetError(f"dataset 'dfdc': selection=reference samples N/2 per class; max_videos="
                               f"{options['max_videos']} is odd (the reference: 1000)")
        options.update(parts=sorted(REFERENCE_PARTS), max_videos=options["max_videos"] or REFERENCE_SIZE,
                       balance=True)

    @staticmethod
    def _sources(root: Path, split: str, notes: list[str]) -> list[str]:
        present = {PARTS: any(_PART_DIR.match(p.name) for p in root.iterdir() if p.is_dir()),
                   TEST_VIDEOS: (root / TEST_VIDEOS / LABELS_CSV).is_file(),
                   TRAIN_SAMPLE: (root / TRAIN_SAMPLE / METADATA).is_file()}
        if not any(present.values()):
            raise DatasetError(f"data root {root} is not a DFDC tree; expected {LAYOUT}")
        if split == "all":
            return [s for s in SOURCES if present[s]]
        if split == "test":
            if present[TEST_VIDEOS]:
                return [TEST_VIDEOS]
            notes.append(f"no {TEST_VIDEOS}/{LABELS_CSV}: split 'test' uses the train parts (as a test set: "
                         f"{TEST_FROM_PARTS})")
            split = PARTS
        source = PARTS if split == "train" else split
        if not present[source]:
            wanted = {PARTS: "dfdc_train_part_N/ folders", TEST_VIDEOS: f"{TEST_VIDEOS}/{LABELS_CSV}",
                      TRAIN_SAMPLE: f"{TRAIN_SAMPLE}/{METADATA}"}[source]
            raise DatasetError(f"data root {root}: split '{split}' needs {wanted}; expected {LAYOUT}")
        return [source]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "options": dict(self.options)}


def reference_selection(items: list[VideoItem], n: int, seed: int, problems: list[str],
                        source: str) -> list[VideoItem]:
    """The reference study's test videos among `items` (order kept): per class, what pandas'
    `sample(n=n // 2, random_state=seed)` picks from the class's rows of parts 45, 46, 47, 49, 48 concatenated in
    that order, each part's videos in its metadata.json order. A missing part or metadata file changes every row
    position after it, so it is an error here, not a layout problem."""
    if problems:
        raise DatasetError(f"{source}: selection=reference needs all of parts 45-49 with their metadata.json "
                           f"({'; '.join(problems)})")
    by_part: dict[str, list[VideoItem]] = {}
    for item in items:
        by_part.setdefault(item.groups["part"], []).append(item)
    pool = [item for part in REFERENCE_PARTS for item in by_part.get(str(part), [])]
    keep: set[str] = set()
    for label in (REAL, FAKE):
        rows = [item for item in pool if item.label == label]
        kind = "real" if label == REAL else "fake"
        keep.update(rows[i].video_id for i in pandas_sample_positions(len(rows), n // 2, seed, f"{source}, {kind}"))
    return [item for item in items if item.video_id in keep]


def read_parts(root: Path, wanted: list[int] | None, problems: list[str]) -> list[VideoItem]:
    """Items of the selected dfdc_train_part_N folders (all found when `wanted` is None)."""
    found = {int(m.group(1)): p for p in root.iterdir() if p.is_dir() and (m := _PART_DIR.match(p.name))}
    numbers = sorted(found) if wanted is None else wanted
    absent = [n for n in numbers if n not in found]
    if absent and len(absent) == len(numbers):
        raise DatasetError(f"data root {root}: none of parts {_ranges(numbers)} present "
                           f"(found: {_ranges(sorted(found)) or 'none'})")
    if absent:
        problems.append(f"part folder(s) {_ranges(absent)} missing")
    items: list[VideoItem] = []
    for number in numbers:
        if number not in found:
            continue
        metadata = found[number] / METADATA
        if not metadata.is_file():
            problems.append(f"{found[number].name}/{METADATA} missing (part skipped)")
            continue
        items += read_metadata(metadata, PARTS, str(number), found[number].name)
    return items


def read_metadata(path: Path, split: str, part: str, prefix: str) -> list[VideoItem]:
    """Items of one DFDC metadata.json; errors name the file and the JSON key."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object mapping file names to entries, got {type(data).__name__}")
    root = path.parent
    items: list[VideoItem] = []
    for key, entry in data.items():
        where = f"{path}[{key!r}]"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: expected an object with label, got {type(entry).__name__}")
        raw_label = entry.get("label")
        if raw_label not in _DFDC_LABELS:
            raise DatasetError(f"{where}: bad label {raw_label!r}; allowed: 'FAKE' or 'REAL'")
        original = entry.get("original")
        if original is not None and not isinstance(original, str):
            raise DatasetError(f"{where}: 'original' must be a file name or null, got {type(original).__name__}")
        rel = safe_relpath(str(key), where)
        items.append(VideoItem(video_id(f"{prefix}/{rel}" if prefix else f"{split}/{rel}"), root / rel,
                               _DFDC_LABELS[raw_label], split, {"part": part, "original": original or ""}, where))
    if not items:
        raise DatasetError(f"{path}: no entries")
    return items


def read_labels_csv(path: Path) -> list[VideoItem]:
    """Items of the public test set's labels.csv (filename,label with 1 = fake)."""
    columns, rows = read_csv(path)
    missing = [c for c in ("filename", "label") if c not in columns]
    if missing:
        raise DatasetError(f"{path}: missing required column(s) {', '.join(missing)}; has {', '.join(columns)}")
    if not rows:
        raise DatasetError(f"{path}: no rows")
    items = []
    for row in rows:
        label = row.fields["label"].strip()
        if label not in ("0", "1"):
            raise DatasetError(f"{row.where}: bad label '{label}'; allowed: 0 (real) or 1 (fake)")
        rel = safe_relpath(row.fields["filename"], row.where)
        items.append(VideoItem(video_id(f"{TEST_VIDEOS}/{rel}"), path.parent / rel, parse_label(label, row.where),
                               TEST_VIDEOS, {"part": "", "original": ""}, row.where))
    return items


def _ranges(numbers: list[int]) -> str:
    """[45, 46, 47, 49] -> '45-47,49' (short messages for long part lists)."""
    out: list[str] = []
    for n in numbers:
        if out and n == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out)
