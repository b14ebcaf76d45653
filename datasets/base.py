"""The one record every dataset reader yields, and the error readers raise."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import platformdirs

REAL, FAKE = 0, 1

# progress(done, total): how far a reader's preparation (the demo generator's rendering) has come; the caller
# decides how to show it (the command line draws a bar on stderr), readers never print.
Progress = Callable[[int, int], None]


CACHE_ENV = "DFBENCH_CACHE_DIR"  # the project's cache root: demo data here, face crops and scores beside it


def default_cache_dir() -> Path:
    """`$DFBENCH_CACHE_DIR`, else the per-user cache directory for "dfbench" (shared by every package)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("dfbench"))


class DatasetError(ValueError):
    """A dataset that cannot be read as asked: the message names the file (and line) at fault."""


@dataclass(frozen=True)
class VideoItem:
    """One labelled video. `label` is 1 for fake, 0 for real, whatever the source's convention.

    `video_id` is unique within the dataset and stable across machines (POSIX-style relative
    path without extension), so it can seed perturbations and key results.
    """

    video_id: str
    path: Path
    label: int
    split: str = "test"
    groups: dict[str, str] = field(default_factory=dict)
    # Where the item was listed ('manifest.csv:4'), for messages about it; '' when found by a folder scan.
    origin: str = field(default="", compare=False)


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


class Dataset:
    """A named, split-filtered list of `VideoItem`s rooted at one folder.

    Readers only build `items`; everything downstream (runner, reports) relies on this small
    surface, so a new source never needs changes outside its reader.
    """

    name: str = "dataset"
    generates: bool = False  # the reader makes its data at `root` when absent (the demo), so a new root is fine

    def __init__(self, root: Path, split: str, items: list[VideoItem], notes: list[str] | None = None,
                 problems: list[str] | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.items = list(items)
        # `notes`: caveats a reader of the results must know (e.g. "no split files: test = everything").
        # `problems`: where the tree differs from the published layout; `datasets check` fails on them.
        self.notes = list(notes or [])
        self.problems = list(problems or [])

    def __iter__(self) -> Iterator[VideoItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, root={str(self.root)!r}, split={self.split!r}, n={len(self)})"

    def describe(self) -> dict[str, Any]:
        """Counts for run manifests and reports."""
        n_fake = sum(1 for item in self.items if item.label == FAKE)
        return {
            "name": self.name,
            "root": str(self.root),
            "split": self.split,
            "n_real": len(self.items) - n_fake,
            "n_fake": n_fake,
            "n_total": len(self.items),
            **({"notes": list(self.notes)} if self.notes else {}),
            **({"problems": list(self.problems)} if self.problems else {}),
        }

    def fingerprint(self) -> str:
        """sha256 over sorted (video_id, label, split, file size): cheap, yet changes when the
        selection, a label or a file's size changes. A missing file contributes size -1."""
        rows = sorted((item.video_id, item.label, item.split, _file_size(item.path)) for item in self.items)
        digest = hashlib.sha256()
        for video_id, label, split, size in rows:
            digest.update(f"{video_id}\t{label}\t{split}\t{size}\n".encode("utf-8"))
        return digest.hexdigest()


def _file_size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return -1
