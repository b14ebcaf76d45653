"""`ffpp`: FaceForensics++ (Rössler et al. 2019) as produced by its download script.

Layout: ROOT/original_sequences/youtube/<raw|c23|c40>/videos/NNN.mp4 and
ROOT/manipulated_sequences/<method>/<comp>/videos/AAA_BBB.mp4 (AAA: the original video that was
manipulated, BBB: the donor), plus original_sequences/actors/ for DeepFakeDetection.
The official splits (train/val/test.json, lists of id pairs) live in the FF++ GitHub repo, not
the download, so they are looked for in ROOT and ROOT/splits; a pair [a, b] puts originals a and
b and fakes a_b and b_a in that split. Without them split 'test' is every video (noted in describe()).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import FAKE, REAL, Dataset, DatasetError, VideoItem
from .common import as_choices, check_split, check_unique_ids, list_videos, load_json, require_root, video_id

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection")
CLASSIC = METHODS[:4]
COMPRESSIONS = ("raw", "c23", "c40")
SPLIT_FILES = ("train", "val", "test")
SPLITS = (*SPLIT_FILES, "all")
UNLISTED = "unlisted"
LAYOUT = ("ROOT/original_sequences/youtube/<raw|c23|c40>/videos/*.mp4 and "
          "ROOT/manipulated_sequences/<method>/<raw|c23|c40>/videos/*.mp4 "
          "(optional split files train.json/val.json/test.json in ROOT or ROOT/splits)")
_ID = re.compile(r"^\d+$")
_PAIR = re.compile(r"^(\d+)_(\d+)$")


class FFPPDataset(Dataset):
    """FaceForensics++: youtube originals + Deepfakes/Face2Face/FaceSwap/NeuralTextures (c23 default), official splits."""

    name = "ffpp"

    def __init__(self, root: str | Path | None = None, split: str = "test", compression: object = "c23",
                 methods: object = ",".join(CLASSIC)) -> None:
        check_split(split, SPLITS, self.name)
        root_path = require_root(root, self.name, LAYOUT)
        comp = as_choices(compression, "compression", COMPRESSIONS)
        if len(comp) != 1:
            raise DatasetError(f"option compression={compression!r}: choose one of {', '.join(COMPRESSIONS)}")
        chosen = as_choices(methods, "methods", METHODS)
        self.options: dict[str, Any] = {"compression": comp[0], "methods": chosen}
        if not (root_path / "original_sequences").is_dir() and not (root_path / "manipulated_sequences").is_dir():
            raise DatasetError(f"data root {root_path} is not a FaceForensics++ tree; expected {LAYOUT}")
        notes: list[str] = []
        problems: list[str] = []
        items = scan(root_path, comp[0], chosen, problems)
        if not items:
            raise DatasetError(f"data root {root_path}: no {comp[0]} videos for {', '.join(chosen)}; expected {LAYOUT}")
        assignment = read_split_files(root_path)
        if assignment is None:
            if split in ("train", "val"):
                raise DatasetError(f"data root {root_path}: split '{split}' needs the official split files "
                                   f"(train.json, val.json, test.json in ROOT or ROOT/splits)")
            notes.append("no official split files (train/val/test.json): split 'test' is every video")
        else:
            items = [VideoItem(i.video_id, i.path, i.label, _split_of(i, assignment), i.groups) for i in items]
            unlisted = sum(1 for i in items if i.split == UNLISTED)
            if unlisted:
                notes.append(f"{unlisted} video(s) in no split file (split '{UNLISTED}', only in split 'all')")
            if split != "all":
                items = [i for i in items if i.split == split]
        check_unique_ids(items, str(root_path))
        super().__init__(root_path, split, items, notes=notes, problems=problems)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "options": {**self.options, "methods": ",".join(self.options["methods"])}}


def scan(root: Path, compression: str, methods: list[str], problems: list[str]) -> list[VideoItem]:
    """Originals (youtube; actors too with DeepFakeDetection) then each method's fakes, sorted by name."""
    folders: list[tuple[str, str, int]] = [("original_sequences/youtube", "original", REAL)]
    if "DeepFakeDetection" in methods:
        folders.append(("original_sequences/actors", "original_actors", REAL))
    folders += [(f"manipulated_sequences/{m}", m, FAKE) for m in methods]
    items: list[VideoItem] = []
    for base, method, label in folders:
        folder = root / base / compression / "videos"
        if not folder.is_dir():
            problems.append(f"{base}/{compression}/videos/ missing")
            continue
        for path in list_videos(folder):
            rel = path.relative_to(root).as_posix()
            groups = {"method": method, "compression": compression, "source_id": _source_id(path.stem)}
            items.append(VideoItem(video_id(rel), path, label, "test", groups))
    return items


def _source_id(stem: str) -> str:
    """The original sequence id a video comes from: NNN for originals, AAA for a fake AAA_BBB."""
    if _ID.match(stem):
        return stem
    match = _PAIR.match(stem)
    return match.group(1) if match else ""


def read_split_files(root: Path) -> dict[str, str] | None:
    """{'953': 'train', '953_974': 'train', '974_953': 'train', ...} or None without split files."""
    for folder in (root, root / "splits"):
        paths = [folder / f"{name}.json" for name in SPLIT_FILES]
        present = [p for p in paths if p.is_file()]
        if not present:
            continue
        if len(present) != len(paths):
            absent = ", ".join(p.name for p in paths if not p.is_file())
            raise DatasetError(f"{folder}: split files incomplete, {absent} missing (need train/val/test.json)")
        assignment: dict[str, str] = {}
        for name, path in zip(SPLIT_FILES, paths):
            data = load_json(path)
            if not isinstance(data, list):
                raise DatasetError(f"{path}: expected a JSON list of [id, id] pairs, got {type(data).__name__}")
            for index, pair in enumerate(data):
                where = f"{path}[{index}]"
                if (not isinstance(pair, list) or len(pair) != 2
                        or not all(isinstance(v, str) and _ID.match(v) for v in pair)):
                    raise DatasetError(f"{where}: expected a pair of numeric id strings like [\"953\", \"974\"], "
                                       f"got {pair!r}")
                a, b = pair
                for key in (a, b, f"{a}_{b}", f"{b}_{a}"):
                    if assignment.get(key, name) != name:
                        raise DatasetError(f"{where}: '{key}' is already in split '{assignment[key]}'")
                    assignment[key] = name
        return assignment
    return None


def _split_of(item: VideoItem, assignment: dict[str, str]) -> str:
    return assignment.get(Path(item.video_id).name, UNLISTED)
