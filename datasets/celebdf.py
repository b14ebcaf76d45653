"""`celebdf` / `celebdf-v1`: Celeb-DF (Li et al. 2020) as released.

Layout: ROOT/Celeb-real/idX_YYYY.mp4, ROOT/YouTube-real/NNNNN.mp4,
ROOT/Celeb-synthesis/idX_idY_YYYY.mp4 and ROOT/List_of_testing_videos.txt with lines
`LABEL RELPATH` where **1 = real, 0 = fake** (the opposite of ours; converted here). The test
split is exactly that list, so results compare with published numbers; train is every other
video on disk. Identities are parsed from file names because Celeb-DF test and train share
people: `identity_overlap` makes that leakage measurable instead of anecdotal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .base import FAKE, REAL, Dataset, DatasetError, VideoItem
from .common import check_split, check_unique_ids, list_videos, require_root, safe_relpath, video_id

TEST_LIST = "List_of_testing_videos.txt"
FOLDERS = {"Celeb-real": REAL, "YouTube-real": REAL, "Celeb-synthesis": FAKE}
SPLITS = ("test", "train", "all")
GROUP_KEYS = ("source", "identity", "target_identity", "source_identity")
LAYOUT = (f"ROOT/Celeb-real/, ROOT/YouTube-real/, ROOT/Celeb-synthesis/ and ROOT/{TEST_LIST} "
          "(lines 'LABEL RELPATH', 1 = real, 0 = fake)")
_CELEB_LABELS = {"1": REAL, "0": FAKE}     # Celeb-DF's own convention
_REAL_NAME = re.compile(r"^(id\d+)_\d+$")
_FAKE_NAME = re.compile(r"^(id\d+)_(id\d+)_\d+$")


@dataclass(frozen=True)
class Release:
    """Published counts of one Celeb-DF release, to tell a partial copy from the real thing."""

    name: str
    n_real: int          # Celeb-real + YouTube-real
    n_fake: int
    n_test: int | None   # None: not checked


V2 = Release("celebdf", n_real=590 + 300, n_fake=5639, n_test=518)
V1 = Release("celebdf-v1", n_real=408, n_fake=795, n_test=None)


def identity_groups(rel: str) -> dict[str, str]:
    """Groups from a Celeb-DF relative path: source folder and the identities in the file name."""
    folder, _, file_name = rel.partition("/")
    stem = Path(file_name).stem
    groups = dict.fromkeys(GROUP_KEYS, "")
    groups["source"] = folder
    if folder == "Celeb-real" and (m := _REAL_NAME.match(stem)):
        groups["identity"] = m.group(1)
    elif folder == "Celeb-synthesis" and (m := _FAKE_NAME.match(stem)):
        groups["target_identity"], groups["source_identity"] = m.group(1), m.group(2)
    return groups


def identities(item: VideoItem) -> set[str]:
    """Every person appearing in a video (real identity, or target and source of a fake)."""
    return {item.groups.get(k, "") for k in ("identity", "target_identity", "source_identity")} - {""}


def identity_overlap(a: Dataset | list[VideoItem], b: Dataset | list[VideoItem]) -> dict[str, object]:
    """Identities shared between two selections (e.g. train and test) and how many videos of
    `b` show at least one of them: Celeb-DF's official split is not identity-disjoint."""
    ids_a = set().union(*(identities(i) for i in a)) if len(a) else set()
    ids_b = set().union(*(identities(i) for i in b)) if len(b) else set()
    shared = ids_a & ids_b
    return {
        "identities_a": len(ids_a),
        "identities_b": len(ids_b),
        "shared": sorted(shared, key=lambda s: (len(s), s)),
        "videos_b_with_shared_identity": sum(1 for item in b if identities(item) & shared),
    }


class CelebDFDataset(Dataset):
    """Celeb-DF v2 (590 real + 300 YouTube real + 5,639 fake); split test = the official 518-video list (1 = real there)."""

    name = "celebdf"
    release = V2

    def __init__(self, root: str | Path | None = None, split: str = "test") -> None:
        check_split(split, SPLITS, self.name)
        root_path = require_root(root, self.name, LAYOUT)
        items, notes, problems = load_items(root_path, self.release)
        if split != "all":
            items = [item for item in items if item.split == split]
        super().__init__(root_path, split, items, notes=notes, problems=problems)


class CelebDFv1Dataset(CelebDFDataset):
    """Celeb-DF v1 (408 real incl. YouTube + 795 fake); split test = its List_of_testing_videos.txt (1 = real there)."""

    name = "celebdf-v1"
    release = V1


def read_test_list(path: Path) -> dict[str, tuple[int, str]]:
    """{relative path: (label in our convention, 'file:line')} from List_of_testing_videos.txt."""
    listed: dict[str, tuple[int, str]] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        where = f"{path}:{number}"
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f"{where}: expected 'LABEL RELPATH' (2 fields), got {len(fields)}")
        raw_label, raw_path = fields
        if raw_label not in _CELEB_LABELS:
            raise DatasetError(f"{where}: bad label '{raw_label}'; Celeb-DF uses 1 (real) or 0 (fake)")
        rel = safe_relpath(raw_path, where)
        folder = rel.partition("/")[0]
        label = _CELEB_LABELS[raw_label]
        if folder in FOLDERS and FOLDERS[folder] != label:
            kind = "real" if label == REAL else "fake"
            raise DatasetError(f"{where}: '{rel}' is listed as {kind} ({raw_label}) but {folder}/ holds "
                               f"{'real' if FOLDERS[folder] == REAL else 'fake'} videos (Celeb-DF: 1 = real, 0 = fake)")
        if rel in listed:
            raise DatasetError(f"{where}: duplicate path '{rel}' (first listed at {listed[rel][1]})")
        listed[rel] = (label, where)
    if not listed:
        raise DatasetError(f"{path}: no entries")
    return listed


def load_items(root: Path, release: Release) -> tuple[list[VideoItem], list[str], list[str]]:
    """All videos with split test (listed) or train (on disk, not listed), plus notes and layout problems."""
    notes: list[str] = []
    problems = [f"{folder}/ missing" for folder in FOLDERS if not (root / folder).is_dir()]
    list_path = root / TEST_LIST
    if not list_path.is_file():
        if len(problems) == len(FOLDERS):
            raise DatasetError(f"data root {root} is not a Celeb-DF tree; expected {LAYOUT}")
        raise DatasetError(f"{list_path}: missing; Celeb-DF's test split is defined by it ({LAYOUT})")
    listed = read_test_list(list_path)
    on_disk = {f"{folder}/{p.name}": label for folder, label in FOLDERS.items() for p in list_videos(root / folder)}
    items: list[VideoItem] = []
    for rel, (label, where) in listed.items():
        items.append(VideoItem(video_id(rel), root / rel, label, "test", identity_groups(rel), where))
    for rel, label in sorted(on_disk.items()):
        if rel not in listed:
            items.append(VideoItem(video_id(rel), root / rel, label, "train", identity_groups(rel)))
    check_unique_ids(items, str(root))
    unparsed = [i.video_id for i in items if i.groups["source"] != "YouTube-real" and not identities(i)]
    if unparsed:
        problems.append(f"{len(unparsed)} file name(s) without Celeb-DF identities (idX_YYYY / idX_idY_YYYY), "
                        f"e.g. {unparsed[0]}")
    n_real = sum(1 for label in on_disk.values() if label == REAL)
    n_fake = len(on_disk) - n_real
    if (n_real, n_fake) != (release.n_real, release.n_fake):
        notes.append(f"{n_real} real and {n_fake} fake videos on disk; {release.name} as published has "
                     f"{release.n_real} and {release.n_fake} (a partial copy?)")
    if release.n_test is not None and len(listed) != release.n_test:
        notes.append(f"{TEST_LIST} lists {len(listed)} videos; the published list has {release.n_test}")
    return items, notes, problems
