"""`folder`: videos under ROOT/real + ROOT/fake, or listed in ROOT/manifest.csv / manifest.json.

Manifests are validated strictly (paths must stay inside ROOT, labels must be known, no
duplicates) because a silently misread label corrupts every metric downstream. Listed files
that do not exist are kept: the runner records them as `missing_file` instead of the dataset
shrinking without notice.
"""
from __future__ import annotations

import csv
import json
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import FAKE, REAL, VIDEO_EXTENSIONS, Dataset, DatasetError, VideoItem

MANIFEST_CSV = "manifest.csv"
MANIFEST_JSON = "manifest.json"
REQUIRED_COLUMNS = ("path", "label")
RESERVED_COLUMNS = ("path", "label", "split")
DEFAULT_SPLIT = "test"
ALL_SPLITS = "all"

_LABELS = {"real": REAL, "fake": FAKE, "0": REAL, "1": FAKE}
_ALLOWED_LABELS = "'real', 'fake' (any case), '0' (real) or '1' (fake)"
_LAYOUTS = (
    "expected one of two layouts: (1) ROOT/real/ and ROOT/fake/ holding video files "
    f"({', '.join(VIDEO_EXTENSIONS)}), or (2) ROOT/{MANIFEST_CSV} (columns path,label[,split,...]) "
    f"or ROOT/{MANIFEST_JSON} (a list of objects with the same keys)"
)


@dataclass(frozen=True)
class ManifestRow:
    """One manifest record before validation; `where` is 'file:line' for error messages."""

    where: str
    fields: dict[str, str]


class FolderDataset(Dataset):
    """Your own videos: ROOT/real + ROOT/fake folders, or a manifest.csv/json with labels, splits, groups."""

    name = "folder"

    def __init__(self, root: str | Path | None = None, split: str = DEFAULT_SPLIT) -> None:
        if root is None:
            raise DatasetError(f"dataset 'folder' needs a root directory; {_LAYOUTS}")
        root_path = Path(root).expanduser()
        notes: list[str] = []
        super().__init__(root_path, split, load_items(root_path, split, notes), notes=notes)


def load_items(root: Path, split: str = DEFAULT_SPLIT, notes: list[str] | None = None) -> list[VideoItem]:
    """Items under `root` for `split`, from a manifest if present, else from real/ + fake/ (what that scan does
    not follow goes to `notes`)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data root {root} does not exist or is not a directory; {_LAYOUTS}")
    csv_path, json_path = root / MANIFEST_CSV, root / MANIFEST_JSON
    if csv_path.is_file() and json_path.is_file():
        raise DatasetError(f"{root}: both {MANIFEST_CSV} and {MANIFEST_JSON} present; keep exactly one")
    if csv_path.is_file():
        return read_manifest(csv_path, split)
    if json_path.is_file():
        return read_manifest(json_path, split)
    if (root / "real").is_dir() or (root / "fake").is_dir():
        return _select_split(scan_label_dirs(root, notes), has_split=False, split=split, source=str(root))
    raise DatasetError(f"data root {root} has no {MANIFEST_CSV}, {MANIFEST_JSON}, real/ or fake/; {_LAYOUTS}")


def scan_label_dirs(root: Path, notes: list[str] | None = None) -> list[VideoItem]:
    """Video names found recursively under root/real and root/fake, sorted by relative path.

    Every entry with a video extension is an item, whether a file or not (a dangling link, a symlink loop, a
    directory named x.mp4): the run gives it a status row and `datasets check` names it, rather than the dataset
    shrinking without a word. Symlinked folders are followed (where they lead is checked later, against the root);
    one already scanned (a loop) is not entered again, with a line in `notes`."""
    notes = notes if notes is not None else []
    items: list[VideoItem] = []
    seen = {os.path.realpath(root / folder) for folder in ("real", "fake") if (root / folder).is_dir()}
    for folder, label in (("real", REAL), ("fake", FAKE)):
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(walk_video_names(base, root, notes, seen)):
            rel = path.relative_to(root).as_posix()
            items.append(VideoItem(video_id=video_id(rel), path=root / rel, label=label))
    if not items:
        raise DatasetError(f"data root {root}: real/ and fake/ hold no video files; {_LAYOUTS}")
    check_unique_ids(items, str(root))
    return items


def walk_video_names(base: Path, root: Path, notes: list[str], seen: set[str]) -> list[Path]:
    """Entries with a video extension below `base`, following symlinked folders, but never into a folder already
    in `seen` (real paths; the caller seeds it with the label folders) or above one (a link back up the tree)."""
    found: list[Path] = []

    def visit(folder: Path, top: bool = False) -> None:
        real = os.path.realpath(folder)
        # only a symlinked folder can lead somewhere already scanned (checked against every folder seen so far)
        if not top and os.path.islink(folder) and any(os.path.commonpath([real, done]) == real for done in seen):
            notes.append(f"{folder.relative_to(root).as_posix()}/: links to a folder scanned anyway or above one "
                         "(a symlink loop, or real/ and fake/ crossing); not scanned")
            return
        seen.add(real)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            path = Path(entry.path)
            is_video_name = path.suffix.lower() in VIDEO_EXTENSIONS
            if _is_dir(entry):
                visit(path)
            elif entry.is_symlink() and not os.path.exists(path) and not is_video_name:
                notes.append(f"{path.relative_to(root).as_posix()}: a dangling or looping symlink; skipped")
            if is_video_name:
                found.append(path)

    visit(base, top=True)
    return found


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows symlinks
    except OSError:  # a symlink loop deeper in a followed link
        return False


def read_manifest(manifest: Path, split: str = DEFAULT_SPLIT) -> list[VideoItem]:
    """Validated items from a manifest.csv / manifest.json; the data root is its folder."""
    manifest = Path(manifest)
    columns, rows = read_csv(manifest) if manifest.suffix.lower() == ".csv" else _read_json(manifest)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DatasetError(f"{manifest}: missing required column(s) {', '.join(missing)}; has {', '.join(columns) or 'none'}")
    if not rows:
        raise DatasetError(f"{manifest}: no rows")
    has_split = "split" in columns
    group_columns = [c for c in columns if c not in RESERVED_COLUMNS]
    root = manifest.parent
    items: list[VideoItem] = []
    seen: dict[str, str] = {}
    for row in rows:
        rel = safe_relpath(row.fields.get("path", ""), row.where)
        if rel in seen:
            raise DatasetError(f"{row.where}: duplicate path '{rel}' (first listed at {seen[rel]})")
        seen[rel] = row.where
        items.append(
            VideoItem(
                video_id=video_id(rel),
                path=root / rel,
                label=parse_label(row.fields.get("label", ""), row.where),
                split=_parse_split(row.fields.get("split", DEFAULT_SPLIT), row.where) if has_split else DEFAULT_SPLIT,
                groups={c: row.fields.get(c, "") for c in group_columns},
                origin=row.where,
            )
        )
    check_unique_ids(items, str(manifest))
    return _select_split(items, has_split=has_split, split=split, source=str(manifest))


def read_csv(path: Path) -> tuple[list[str], list[ManifestRow]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path}: empty file (expected a header row with path,label)")
            columns = [c.strip() for c in header]
            _check_header(path, columns)
            rows: list[ManifestRow] = []
            start = reader.line_num + 1
            for record in reader:
                where = f"{path}:{start}"
                start = reader.line_num + 1
                if not any(cell.strip() for cell in record):
                    continue  # blank line
                if len(record) != len(columns):
                    raise DatasetError(f"{where}: {len(record)} field(s), the header has {len(columns)}")
                rows.append(ManifestRow(where, {c: v.strip() for c, v in zip(columns, record)}))
    except csv.Error as exc:
        raise DatasetError(f"{path}: malformed CSV: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text: {exc}") from exc
    return columns, rows


def _check_header(path: Path, columns: list[str]) -> None:
    if any(not c for c in columns):
        raise DatasetError(f"{path}:1: empty column name in header")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise DatasetError(f"{path}:1: duplicate column(s) {', '.join(duplicates)}")


def _read_json(path: Path) -> tuple[list[str], list[ManifestRow]]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: malformed JSON: {exc}") from exc
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    columns: list[str] = []
    rows: list[ManifestRow] = []
    for index, entry in enumerate(data):
        where = f"{path}[{index}]"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: expected an object with path and label, got {type(entry).__name__}")
        for key in entry:
            if key not in columns:
                columns.append(str(key))
        rows.append(ManifestRow(where, {str(k): _json_cell(v) for k, v in entry.items()}))
    if not rows:
        columns = list(REQUIRED_COLUMNS)  # an empty list is "no rows", not "missing columns"
    return columns, rows


def _json_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relpath(raw: str, where: str) -> str:
    """Normalised POSIX path relative to the root; absolute or escaping paths are refused so a
    manifest cannot make the benchmark read (and report on) files outside its data."""
    text = raw.strip().replace("\\", "/")
    if not text:
        raise DatasetError(f"{where}: empty path")
    if text.startswith("/") or _DRIVE.match(text):
        raise DatasetError(f"{where}: path '{raw}' is absolute; paths must be relative to the data root")
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        raise DatasetError(f"{where}: path '{raw}' escapes the data root")
    if norm == ".":
        raise DatasetError(f"{where}: path '{raw}' names the data root itself, not a video file")
    if "\x00" in norm:  # caught here, with the line, not as "embedded null byte" when the file is opened
        raise DatasetError(f"{where}: path {raw!r} contains a NUL byte")
    return norm


def parse_label(raw: str, where: str) -> int:
    label = _LABELS.get(raw.strip().lower())
    if label is None:
        raise DatasetError(f"{where}: bad label '{raw}'; allowed: {_ALLOWED_LABELS}")
    return label


def _parse_split(raw: str, where: str) -> str:
    split = raw.strip()
    if not split:
        raise DatasetError(f"{where}: empty split value")
    if split == ALL_SPLITS:
        raise DatasetError(f"{where}: '{ALL_SPLITS}' is reserved (it selects every split), not a split name")
    return split


def _select_split(items: list[VideoItem], *, has_split: bool, split: str, source: str) -> list[VideoItem]:
    if split == ALL_SPLITS:
        return items
    if not has_split:
        if split == DEFAULT_SPLIT:
            return items
        raise DatasetError(
            f"{source}: split '{split}' requested but the data has no split column "
            f"(everything is '{DEFAULT_SPLIT}'); use split='{DEFAULT_SPLIT}' or '{ALL_SPLITS}'"
        )
    selected = [item for item in items if item.split == split]
    if not selected:
        available = sorted({item.split for item in items})
        raise DatasetError(f"{source}: no rows with split '{split}'; available: {', '.join(available)} (or '{ALL_SPLITS}')")
    return selected


def video_id(rel: str) -> str:
    """Relative POSIX path without its extension: stable across machines."""
    stem, _ = posixpath.splitext(rel)
    return stem


def check_unique_ids(items: list[VideoItem], source: str) -> None:
    seen: dict[str, Path] = {}
    for item in items:
        if item.video_id in seen:
            raise DatasetError(
                f"{source}: '{seen[item.video_id].name}' and '{item.path.name}' share the video id "
                f"'{item.video_id}' (same path without extension); rename one"
            )
        seen[item.video_id] = item.path
