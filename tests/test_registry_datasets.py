"""Every registered dataset reader, driven by `datasets.available()`, on a tiny synthetic copy of its layout.

Each reader has a layout builder in LAYOUTS that writes the smallest tree the reader accepts (folder names,
metadata JSON, label CSV, test lists; placeholder video files, since readers list videos and never decode
them; the demo reader gets a tiny generated demo) and says which videos, labels and splits it must list.
A reader registered without a builder fails `test_reader_lists_its_synthetic_layout` for its name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

import datasets
from datasets import FAKE, REAL

NAMES = datasets.available()


@dataclass
class Layout:
    """A written tree, the reader options it needs, and per split the expected (video_id, label, split) rows."""

    root: Path
    expected: dict[str, list[tuple[str, int, str]]]
    options: dict[str, object] = field(default_factory=dict)
    files_exist: bool = True           # every listed video is on disk (no deliberately missing entries)


def touch(root: Path, rel: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 4)        # readers list files, they never decode them


def rows(split: str, *entries: tuple[str, int]) -> list[tuple[str, int, str]]:
    return [(video_id, label, split) for video_id, label in entries]


# ---------------------------------------------------------------------------- layout builders


def celebdf_layout(root: Path) -> Layout:
    """Celeb-DF: three source folders and List_of_testing_videos.txt with 1 = real, 0 = fake."""
    for rel in ("Celeb-real/id0_0000.mp4", "Celeb-real/id1_0000.mp4", "YouTube-real/00000.mp4",
                "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0000.mp4"):
        touch(root, rel)
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id1_id0_0000.mp4\n", encoding="utf-8")
    test = rows("test", ("Celeb-real/id0_0000", REAL), ("YouTube-real/00000", REAL),
                ("Celeb-synthesis/id1_id0_0000", FAKE))
    train = rows("train", ("Celeb-real/id1_0000", REAL), ("Celeb-synthesis/id0_id1_0000", FAKE))
    return Layout(root, {"test": test, "train": train, "all": test + train})


def demo_layout(root: Path) -> Layout:
    """The generated demo (tiny parameters: 2 train + 2 test clips of 4 frames, one real and one fake each)."""
    from datasets.demo import generate_demo

    params = {"seed": 0, "n_train": 2, "n_test": 2, "frames": 4}
    generate_demo(root, **params)
    train = rows("train", ("real/train_000", REAL), ("fake/train_000", FAKE))
    test = rows("test", ("real/test_000", REAL), ("fake/test_000", FAKE))
    return Layout(root, {"test": test, "train": train, "all": train + test}, options=params)


def dfdc_layout(root: Path) -> Layout:
    """DFDC: two train parts with metadata.json (label REAL/FAKE) and test_videos/labels.csv (1 = fake)."""
    for number, entries in ((45, {"aaa.mp4": "REAL", "bbb.mp4": "FAKE"}), (46, {"ccc.mp4": "FAKE"})):
        folder = root / f"dfdc_train_part_{number}"
        metadata = {name: {"label": label, "split": "train", "original": None if label == "REAL" else "aaa.mp4"}
                    for name, label in entries.items()}
        for name in entries:
            touch(folder, name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    (root / "test_videos").mkdir()
    (root / "test_videos" / "labels.csv").write_text("filename,label\nttt.mp4,0\nuuu.mp4,1\n", encoding="utf-8")
    for name in ("ttt.mp4", "uuu.mp4"):
        touch(root / "test_videos", name)
    test = rows("test_videos", ("test_videos/ttt", REAL), ("test_videos/uuu", FAKE))
    parts = rows("parts", ("dfdc_train_part_45/aaa", REAL), ("dfdc_train_part_45/bbb", FAKE),
                 ("dfdc_train_part_46/ccc", FAKE))
    return Layout(root, {"test": test, "train": parts, "parts": parts, "test_videos": test, "all": parts + test})


FFPP_SPLITS = {"train": [["000", "001"]], "val": [["002", "003"]], "test": [["004", "005"]]}
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")   # the reader's default selection


def ffpp_layout(root: Path) -> Layout:
    """FaceForensics++: youtube originals and four methods' fakes at c23, official split files in ROOT."""
    split_of: dict[str, str] = {}
    for split, pairs in FFPP_SPLITS.items():
        (root / f"{split}.json").write_text(json.dumps(pairs), encoding="utf-8")
        for a, b in pairs:
            for key in (a, b, f"{a}_{b}", f"{b}_{a}"):
                split_of[key] = split
    originals = sorted(k for k in split_of if "_" not in k)
    fakes = sorted(k for k in split_of if "_" in k)
    # The reader lists the originals, then each method's fakes, each folder sorted by file name.
    every = [(f"original_sequences/youtube/c23/videos/{k}", REAL, split_of[k]) for k in originals]
    every += [(f"manipulated_sequences/{m}/c23/videos/{k}", FAKE, split_of[k]) for m in FFPP_METHODS for k in fakes]
    for video_id, _, _ in every:
        touch(root, video_id + ".mp4")
    expected = {split: [r for r in every if r[2] == split] for split in FFPP_SPLITS}
    return Layout(root, {**expected, "all": every})


def folder_layout(root: Path) -> Layout:
    """`folder`: a manifest.csv with path,label,split (the real/ + fake/ layout has no splits)."""
    for rel in ("clips/a.mp4", "clips/b.mp4", "clips/c.mp4", "clips/d.mp4"):
        touch(root, rel)
    (root / "manifest.csv").write_text(
        "path,label,split,source\nclips/a.mp4,real,train,x\nclips/b.mp4,fake,train,x\n"
        "clips/c.mp4,0,test,y\nclips/d.mp4,1,test,y\n", encoding="utf-8")
    train = rows("train", ("clips/a", REAL), ("clips/b", FAKE))
    test = rows("test", ("clips/c", REAL), ("clips/d", FAKE))
    return Layout(root, {"train": train, "test": test, "all": train + test})


LAYOUTS: dict[str, Callable[[Path], Layout]] = {
    "celebdf": celebdf_layout,
    "celebdf-v1": celebdf_layout,      # same tree as v2 (only the published counts differ)
    "demo": demo_layout,
    "dfdc": dfdc_layout,
    "ffpp": ffpp_layout,
    "folder": folder_layout,
}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """Each builder runs once per file (the demo generator encodes videos)."""
    cache: dict[str, Layout] = {}

    def get(name: str) -> Layout:
        assert name in LAYOUTS, (f"dataset reader {name!r} is registered but has no synthetic layout: "
                                 f"add a builder to LAYOUTS in {Path(__file__).name}")
        if name not in cache:
            cache[name] = LAYOUTS[name](tmp_path_factory.mktemp(f"layout-{name}"))
        return cache[name]

    return get


def test_every_layout_builder_belongs_to_a_registered_reader():
    assert sorted(set(LAYOUTS) - set(NAMES)) == []


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_describe_is_non_empty(name):
    text = datasets.describe(name)
    assert text.startswith(f"{name}: ") and len(text) > len(f"{name}: ") and "(no description)" not in text


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_reader_lists_its_synthetic_layout(name, layouts):
    layout = layouts(name)
    assert "test" in layout.expected and "all" in layout.expected
    for split, expected in layout.expected.items():
        ds = datasets.open(name, layout.root, split=split, **layout.options)
        assert isinstance(ds, datasets.Dataset) and ds.name == name and ds.split == split
        assert Path(ds.root) == layout.root
        listed = [(item.video_id, item.label, item.split) for item in ds]
        assert listed == expected, f"split {split!r}"
        for item in ds:
            assert item.label in (REAL, FAKE) and isinstance(item.groups, dict)
            assert item.path.is_relative_to(layout.root)
            if layout.files_exist:
                assert item.path.is_file(), item.path
        summary = ds.describe()
        n_fake = sum(1 for _, label, _ in expected if label == FAKE)
        assert (summary["name"], summary["split"]) == (name, split)
        assert (summary["n_real"], summary["n_fake"], summary["n_total"]) == (len(expected) - n_fake, n_fake,
                                                                             len(expected))
        assert not ds.problems, ds.problems        # the synthetic tree follows the published layout
        assert len(ds.fingerprint()) == 64


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_reader_refuses_an_unknown_split(name, layouts):
    layout = layouts(name)
    with pytest.raises(datasets.DatasetError, match="no-such-split"):
        datasets.open(name, layout.root, split="no-such-split", **layout.options)
