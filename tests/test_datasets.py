"""The dataset registry, the Dataset base and the `folder` reader (layouts, manifests, errors)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import datasets
from datasets import FAKE, REAL, Dataset, DatasetError, VideoItem
from datasets.folder import FolderDataset

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def touch(root: Path, rel: str, size: int = 10) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    return path


def write_csv(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "manifest.csv"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(root: Path, split: str = "test") -> str:
    with pytest.raises(DatasetError) as info:
        datasets.open("folder", root, split=split)
    return str(info.value)


# ---------------------------------------------------------------------------- registry


def test_available_lists_registered_readers():
    assert datasets.available() == ["celebdf", "celebdf-v1", "demo", "dfdc", "ffpp", "folder"]


def test_unknown_name_lists_available_names():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*demo, dfdc, ffpp, folder"):
        datasets.open("nope", "/tmp")


def test_describe_is_one_line_per_dataset():
    for name in datasets.available():
        text = datasets.describe(name)
        assert text.startswith(f"{name}: ") and "\n" not in text and len(text) > len(name) + 10


class LabFolders(FolderDataset):
    """A third party's layout: the folder reader under another name, with its own option."""

    name = "lab"

    def __init__(self, root=None, split: str = "test", site: str = "a") -> None:
        super().__init__(root, split)
        self.site = site


def test_register_a_dataset_then_open_it(tmp_path):
    touch(tmp_path, "real/a.mp4")
    touch(tmp_path, "fake/b.mp4")
    datasets.register("lab-test", LabFolders)
    try:
        assert "lab-test" in datasets.available()
        assert datasets.reader_options("lab-test") == {"site": "a"}
        ds = datasets.open("lab-test", tmp_path, "test", site="b")
        assert isinstance(ds, LabFolders) and ds.site == "b" and len(ds) == 2
        with pytest.raises(ValueError, match="already registered"):
            datasets.register("lab-test", "datasets.folder:FolderDataset")
        datasets.register("lab-test", "datasets.folder:FolderDataset", replace=True)  # a "module:Class" target
        assert type(datasets.open("lab-test", tmp_path)) is FolderDataset
    finally:
        datasets.unregister("lab-test")
    assert "lab-test" not in datasets.available()
    with pytest.raises(ValueError, match="module:Class"):
        datasets.register("bad", "datasets.folder.FolderDataset")


def test_folder_without_root_explains_layouts():
    with pytest.raises(DatasetError, match="needs a root directory.*real/.*manifest.csv"):
        datasets.open("folder")


def test_datasets_never_imports_other_project_packages():
    code = (
        "import sys, datasets, datasets.folder, datasets.demo, datasets.celebdf, datasets.dfdc, datasets.ffpp\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'benchmarks', 'detectors', 'perturbations', 'reports'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


# ---------------------------------------------------------------------------- Dataset base


def test_describe_counts_and_iteration(tmp_path):
    items = [VideoItem("real/a", tmp_path / "a.mp4", REAL), VideoItem("fake/b", tmp_path / "b.mp4", FAKE),
             VideoItem("fake/c", tmp_path / "c.mp4", FAKE)]
    ds = Dataset(tmp_path, "test", items)
    assert len(ds) == 3 and list(ds) == items
    assert ds.describe() == {"name": "dataset", "root": str(tmp_path), "split": "test",
                             "n_real": 1, "n_fake": 2, "n_total": 3}


def test_fingerprint_tracks_labels_sizes_and_missing_files(tmp_path):
    touch(tmp_path, "a.mp4", 5)
    base = [VideoItem("a", tmp_path / "a.mp4", REAL), VideoItem("b", tmp_path / "b.mp4", FAKE)]
    fp = Dataset(tmp_path, "test", base).fingerprint()
    assert len(fp) == 64
    assert Dataset(tmp_path, "test", list(reversed(base))).fingerprint() == fp      # order-free
    relabelled = [base[0], VideoItem("b", tmp_path / "b.mp4", REAL)]
    assert Dataset(tmp_path, "test", relabelled).fingerprint() != fp
    touch(tmp_path, "b.mp4", 7)                                                   # was missing (-1)
    assert Dataset(tmp_path, "test", base).fingerprint() != fp


# ---------------------------------------------------------------------------- real/ + fake/ layout


def test_real_fake_folders_recursive_sorted_by_extension(tmp_path):
    for rel in ("real/b.mp4", "real/a.MOV", "real/sub/c.webm", "real/notes.txt", "fake/x.avi", "fake/y.mkv",
                "fake/z.m4v", "fake/.hidden/w.mp4", "other/o.mp4"):
        touch(tmp_path, rel)
    ds = datasets.open("folder", tmp_path)
    assert isinstance(ds, FolderDataset) and ds.name == "folder" and ds.root == tmp_path
    assert [i.video_id for i in ds] == ["real/a", "real/b", "real/sub/c", "fake/.hidden/w", "fake/x", "fake/y", "fake/z"]
    assert [i.label for i in ds] == [REAL] * 3 + [FAKE] * 4
    assert {i.split for i in ds} == {"test"} and all(i.groups == {} for i in ds)
    assert ds.items[2].path == tmp_path / "real" / "sub" / "c.webm"
    assert len(datasets.open("folder", tmp_path, split="all")) == 7


def test_folders_without_split_column_refuse_train(tmp_path):
    touch(tmp_path, "real/a.mp4")
    assert "no split column" in error_of(tmp_path, split="train")


def test_same_id_from_two_extensions_is_refused(tmp_path):
    touch(tmp_path, "real/a.mp4")
    touch(tmp_path, "real/a.avi")
    assert "share the video id 'real/a'" in error_of(tmp_path)


def test_empty_root_explains_both_layouts(tmp_path):
    message = error_of(tmp_path)
    assert "real/" in message and "fake/" in message and "manifest.csv" in message and "manifest.json" in message


def test_missing_root_is_an_error(tmp_path):
    assert "does not exist" in error_of(tmp_path / "nowhere")


def test_label_folders_without_videos_are_an_error(tmp_path):
    touch(tmp_path, "real/readme.txt")
    assert "hold no video files" in error_of(tmp_path)


# ---------------------------------------------------------------------------- manifest.csv


def test_csv_labels_groups_and_split_column(tmp_path):
    write_csv(tmp_path, "path,label,split,source,quality\n"
                        "v/a.mp4,real,test,yt,c23\n"
                        "v/b.mp4, FAKE ,test,yt,c40\n"
                        "v/c.mp4,0,train,tv,c23\n"
                        "v/d.mp4,1,train,tv,raw\n"
                        "\n")
    test = datasets.open("folder", tmp_path)
    assert [(i.video_id, i.label, i.split) for i in test] == [("v/a", REAL, "test"), ("v/b", FAKE, "test")]
    assert test.items[1].groups == {"source": "yt", "quality": "c40"}
    train = datasets.open("folder", tmp_path, split="train")
    assert [(i.video_id, i.label) for i in train] == [("v/c", REAL), ("v/d", FAKE)]
    every = datasets.open("folder", tmp_path, split="all")
    assert len(every) == 4 and every.describe()["n_fake"] == 2
    assert "no rows with split 'val'; available: test, train" in error_of(tmp_path, split="val")


def test_csv_without_split_column_is_all_test(tmp_path):
    write_csv(tmp_path, "label,path\nfake,b.mp4\nreal,a.mp4\n")
    ds = datasets.open("folder", tmp_path)
    assert [(i.video_id, i.label, i.split) for i in ds] == [("b", FAKE, "test"), ("a", REAL, "test")]
    assert "no split column" in error_of(tmp_path, split="train")


def test_manifest_wins_over_label_folders(tmp_path):
    touch(tmp_path, "real/a.mp4")
    touch(tmp_path, "fake/b.mp4")
    write_csv(tmp_path, "path,label\nreal/a.mp4,real\n")
    assert [i.video_id for i in datasets.open("folder", tmp_path)] == ["real/a"]


def test_missing_listed_file_is_kept(tmp_path):
    touch(tmp_path, "a.mp4", 3)
    write_csv(tmp_path, "path,label\na.mp4,real\ngone.mp4,fake\n")
    ds = datasets.open("folder", tmp_path)
    assert [i.video_id for i in ds] == ["a", "gone"]
    assert not ds.items[1].path.exists()


def test_inner_dotdot_that_stays_inside_is_normalised(tmp_path):
    write_csv(tmp_path, "path,label\nsub/../a.mp4,real\n./b.mp4,fake\n")
    ds = datasets.open("folder", tmp_path)
    assert [i.video_id for i in ds] == ["a", "b"] and ds.items[0].path == tmp_path / "a.mp4"


@pytest.mark.parametrize("bad", ["../x.mp4", "sub/../../x.mp4", ".."])
def test_escaping_path_names_file_and_line(tmp_path, bad):
    write_csv(tmp_path, f"path,label\nok.mp4,real\n{bad},fake\n")
    assert f"manifest.csv:3: path '{bad}' escapes the data root" in error_of(tmp_path)


@pytest.mark.parametrize("bad", ["/etc/x.mp4", "C:/videos/x.mp4", "\\\\server\\x.mp4"])
def test_absolute_path_names_file_and_line(tmp_path, bad):
    write_csv(tmp_path, f"path,label\n{bad},fake\n")
    message = error_of(tmp_path)
    assert "manifest.csv:2:" in message and "absolute" in message


def test_bad_label_names_line_and_allowed_values(tmp_path):
    write_csv(tmp_path, "path,label\na.mp4,real\nb.mp4,fake\nc.mp4,maybe\n")
    message = error_of(tmp_path)
    assert "manifest.csv:4: bad label 'maybe'" in message
    assert "'real'" in message and "'fake'" in message and "'0'" in message and "'1'" in message


def test_line_numbers_count_quoted_newlines(tmp_path):
    write_csv(tmp_path, 'path,label,note\na.mp4,real,"two\nlines"\nb.mp4,2,x\n')
    assert "manifest.csv:4: bad label '2'" in error_of(tmp_path)


def test_missing_required_column_names_file(tmp_path):
    write_csv(tmp_path, "path,kind\na.mp4,real\n")
    message = error_of(tmp_path)
    assert "manifest.csv" in message and "missing required column(s) label" in message


def test_wrong_field_count_names_line(tmp_path):
    write_csv(tmp_path, "path,label\na.mp4,real\nb.mp4,fake,extra\n")
    assert "manifest.csv:3: 3 field(s), the header has 2" in error_of(tmp_path)


def test_malformed_csv_quoting_names_file(tmp_path):
    write_csv(tmp_path, 'path,label\n"a.mp4"x,real\n')
    message = error_of(tmp_path)
    assert "manifest.csv" in message and "malformed CSV" in message


def test_header_only_csv_has_no_rows(tmp_path):
    write_csv(tmp_path, "path,label\n")
    assert "manifest.csv: no rows" in error_of(tmp_path)


def test_duplicate_path_is_refused_with_both_lines(tmp_path):
    write_csv(tmp_path, "path,label\na.mp4,real\nb.mp4,fake\n./a.mp4,fake\n")
    message = error_of(tmp_path)
    assert "manifest.csv:4: duplicate path 'a.mp4'" in message and "manifest.csv:2" in message


def test_both_manifests_are_ambiguous(tmp_path):
    write_csv(tmp_path, "path,label\na.mp4,real\n")
    (tmp_path / "manifest.json").write_text("[]", encoding="utf-8")
    assert "keep exactly one" in error_of(tmp_path)


# ---------------------------------------------------------------------------- manifest.json


def write_json(root: Path, data: object) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps(data), encoding="utf-8")


def test_json_manifest_with_groups_and_split(tmp_path):
    write_json(tmp_path, [
        {"path": "a.mp4", "label": "Real", "split": "test", "method": None},
        {"path": "m/b.mp4", "label": 1, "split": "test", "method": "faceswap"},
        {"path": "c.mp4", "label": "0", "split": "train", "method": "none"},
    ])
    ds = datasets.open("folder", tmp_path)
    assert [(i.video_id, i.label, i.split) for i in ds] == [("a", REAL, "test"), ("m/b", FAKE, "test")]
    assert ds.items[0].groups == {"method": ""} and ds.items[1].groups == {"method": "faceswap"}
    assert len(datasets.open("folder", tmp_path, split="all")) == 3


def test_malformed_json_names_file(tmp_path):
    (tmp_path / "manifest.json").write_text('[{"path": "a.mp4", "label": "real"', encoding="utf-8")
    message = error_of(tmp_path)
    assert "manifest.json" in message and "malformed JSON" in message


def test_json_must_be_a_list_of_objects(tmp_path):
    write_json(tmp_path, {"path": "a.mp4", "label": "real"})
    assert "expected a JSON list of objects" in error_of(tmp_path)
    write_json(tmp_path, [{"path": "a.mp4", "label": "real"}, "b.mp4"])
    assert "manifest.json[1]: expected an object" in error_of(tmp_path)


def test_json_errors_name_the_entry(tmp_path):
    write_json(tmp_path, [{"path": "a.mp4", "label": "real"}, {"path": "../b.mp4", "label": "fake"}])
    assert "manifest.json[1]: path '../b.mp4' escapes the data root" in error_of(tmp_path)
    write_json(tmp_path, [{"path": "a.mp4", "label": "real"}, {"path": "b.mp4", "label": "fakes"}])
    assert "manifest.json[1]: bad label 'fakes'" in error_of(tmp_path)
    write_json(tmp_path, [{"path": "a.mp4"}])
    assert "missing required column(s) label" in error_of(tmp_path)
    write_json(tmp_path, [])
    assert "manifest.json: no rows" in error_of(tmp_path)
