"""Celeb-DF, DFDC and FaceForensics++ readers on generated trees with the published layouts
and label files (placeholder .mp4 files: readers never decode), and on the real samples."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import datasets
from datasets import FAKE, REAL, DatasetError
from datasets.celebdf import identity_overlap
from tests.conftest import shared_path


def touch(root: Path, rel: str, size: int = 4) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    return path


def error(name: str, root: Path, split: str = "test", **options: object) -> str:
    with pytest.raises(DatasetError) as info:
        datasets.open(name, root, split=split, **options)
    return str(info.value)


# ---------------------------------------------------------------------------- Celeb-DF v2


def celebdf_tree(root: Path, n_ids: int = 59, per_id: int = 10, n_youtube: int = 300, n_fake: int = 5639,
                 test_real: tuple[int, int] = (108, 70), test_fake: int = 340) -> Path:
    """Celeb-DF v2 as released: 590 + 300 real, 5,639 fake, 518 test lines with 1 = real."""
    real = [f"Celeb-real/id{i}_{k:04d}.mp4" for i in range(n_ids) for k in range(per_id)]
    youtube = [f"YouTube-real/{k:05d}.mp4" for k in range(n_youtube)]
    fake = [f"Celeb-synthesis/id{i % n_ids}_id{(i % n_ids + 1 + (i // n_ids) % (n_ids - 1)) % n_ids}_{i // n_ids:04d}.mp4"
            for i in range(n_fake)]
    for rel in real + youtube + fake:
        touch(root, rel, 1)
    lines = [f"1 {rel}" for rel in real[: test_real[0]] + youtube[: test_real[1]]] + [f"0 {rel}" for rel in fake[:test_fake]]
    (root / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def celebdf(tmp_path_factory) -> Path:
    return celebdf_tree(tmp_path_factory.mktemp("celebdf"))


def counts(ds: datasets.Dataset) -> tuple[int, int, int]:
    d = ds.describe()
    return d["n_real"], d["n_fake"], d["n_total"]


def test_celebdf_v2_published_counts_and_label_conversion(celebdf):
    test = datasets.open("celebdf", celebdf)
    assert counts(test) == (178, 340, 518) and {i.split for i in test} == {"test"}
    assert counts(datasets.open("celebdf", celebdf, split="train")) == (890 - 178, 5639 - 340, 6529 - 518)
    every = datasets.open("celebdf", celebdf, split="all")
    assert counts(every) == (890, 5639, 6529) and not every.notes and not every.problems
    first = test.items[0]   # "1 Celeb-real/id0_0000.mp4": 1 = real in Celeb-DF
    assert (first.video_id, first.label) == ("Celeb-real/id0_0000", REAL)
    assert all(i.label == FAKE for i in every if i.groups["source"] == "Celeb-synthesis")


def test_celebdf_identity_groups_and_overlap(celebdf):
    every = {i.video_id: i for i in datasets.open("celebdf", celebdf, split="all")}
    assert every["Celeb-real/id3_0002"].groups == {"source": "Celeb-real", "identity": "id3",
                                                   "target_identity": "", "source_identity": ""}
    assert every["YouTube-real/00007"].groups == {"source": "YouTube-real", "identity": "",
                                                  "target_identity": "", "source_identity": ""}
    fake = every["Celeb-synthesis/id0_id1_0000"]
    assert (fake.groups["target_identity"], fake.groups["source_identity"], fake.groups["identity"]) == ("id0", "id1", "")
    train, test = (datasets.open("celebdf", celebdf, split=s) for s in ("train", "test"))
    overlap = identity_overlap(train, test)
    assert overlap["identities_a"] == 59 and overlap["identities_b"] == 59 and len(overlap["shared"]) == 59
    assert overlap["shared"][:3] == ["id0", "id1", "id2"]
    assert overlap["videos_b_with_shared_identity"] == 518 - 70      # YouTube-real has no identity
    assert identity_overlap(train, [])["shared"] == []


def test_celebdf_v1_reads_same_layout_and_notes_partial_copy(tmp_path):
    root = celebdf_tree(tmp_path, n_ids=4, per_id=2, n_youtube=3, n_fake=6, test_real=(2, 1), test_fake=2)
    ds = datasets.open("celebdf-v1", root, split="all")
    assert counts(ds) == (11, 6, 17) and ds.name == "celebdf-v1"
    assert any("408" in n and "795" in n for n in ds.notes) and "notes" in ds.describe()


def test_celebdf_listed_missing_file_is_kept_and_unknown_names_are_layout_problems(tmp_path):
    root = celebdf_tree(tmp_path, n_ids=2, per_id=1, n_youtube=1, n_fake=2, test_real=(1, 0), test_fake=1)
    with (root / "List_of_testing_videos.txt").open("a") as handle:
        handle.write("0 Celeb-synthesis/id9_id8_0001.mp4\n")
    touch(root, "Celeb-real/clip.mp4")
    ds = datasets.open("celebdf", root)
    gone = [i for i in ds if not i.path.exists()]
    assert [i.video_id for i in gone] == ["Celeb-synthesis/id9_id8_0001"] and gone[0].label == FAKE
    assert any("without Celeb-DF identities" in p and "Celeb-real/clip" in p
               for p in datasets.open("celebdf", root, split="all").problems)


@pytest.mark.parametrize("line, message", [
    ("2 Celeb-real/id0_0000.mp4", "List_of_testing_videos.txt:2: bad label '2'; Celeb-DF uses 1 (real) or 0 (fake)"),
    ("0 Celeb-real/id0_0000.mp4", "List_of_testing_videos.txt:2: 'Celeb-real/id0_0000.mp4' is listed as fake (0)"),
    ("1 ../secret.mp4", "List_of_testing_videos.txt:2: path '../secret.mp4' escapes the data root"),
    ("1 /etc/x.mp4", "List_of_testing_videos.txt:2: path '/etc/x.mp4' is absolute"),
    ("1 a b", "List_of_testing_videos.txt:2: expected 'LABEL RELPATH' (2 fields), got 3"),
    ("1 YouTube-real/00000.mp4", "List_of_testing_videos.txt:2: duplicate path 'YouTube-real/00000.mp4' "),
])
def test_celebdf_bad_test_list_names_file_and_line(tmp_path, line, message):
    root = celebdf_tree(tmp_path, n_ids=2, per_id=1, n_youtube=1, n_fake=1, test_real=(0, 1), test_fake=0)
    (root / "List_of_testing_videos.txt").write_text(f"1 YouTube-real/00000.mp4\n{line}\n", encoding="utf-8")
    assert message in error("celebdf", root)


def test_celebdf_layout_errors(tmp_path):
    assert "not a Celeb-DF tree" in error("celebdf", tmp_path)
    touch(tmp_path, "Celeb-real/id0_0000.mp4")
    assert "List_of_testing_videos.txt: missing" in error("celebdf", tmp_path)
    assert "unknown split 'val'" in error("celebdf", tmp_path, split="val")
    assert "needs a root directory" in error("celebdf", None)


# ---------------------------------------------------------------------------- DFDC


def dfdc_part(root: Path, number: int, n_real: int, n_fake: int, absent: tuple[str, ...] = ()) -> dict:
    folder = root / f"dfdc_train_part_{number}"
    folder.mkdir(parents=True)
    metadata = {}
    for k in range(n_real):
        metadata[f"r{number:02d}{k:03d}.mp4"] = {"label": "REAL", "split": "train", "original": None}
    for k in range(n_fake):
        metadata[f"f{number:02d}{k:03d}.mp4"] = {"label": "FAKE", "split": "train", "original": f"r{number:02d}000.mp4"}
    for name in metadata:
        if name not in absent:
            touch(folder, name)
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return metadata


@pytest.fixture
def dfdc(tmp_path) -> Path:
    for number in range(45, 50):
        dfdc_part(tmp_path, number, n_real=20, n_fake=80)
    dfdc_part(tmp_path, 3, n_real=1, n_fake=1)
    test = tmp_path / "test_videos"
    test.mkdir()
    rows = [("aaa.mp4", 0), ("bbb.mp4", 1), ("ccc.mp4", 1)]
    (test / "labels.csv").write_text("filename,label\n" + "".join(f"{n},{lab}\n" for n, lab in rows), encoding="utf-8")
    for name, _ in rows:
        touch(test, name)
    return tmp_path


def test_dfdc_splits_and_sources(dfdc):
    test = datasets.open("dfdc", dfdc)
    assert [(i.video_id, i.label, i.split) for i in test] == [
        ("test_videos/aaa", REAL, "test_videos"), ("test_videos/bbb", FAKE, "test_videos"),
        ("test_videos/ccc", FAKE, "test_videos")]
    train = datasets.open("dfdc", dfdc, split="train")
    assert counts(train) == (101, 401, 502) and {i.split for i in train} == {"parts"}
    assert counts(datasets.open("dfdc", dfdc, split="parts")) == counts(train)
    assert counts(datasets.open("dfdc", dfdc, split="all")) == (102, 403, 505)
    item = next(i for i in train if i.video_id == "dfdc_train_part_45/f45001")
    assert item.groups == {"part": "45", "original": "r45000.mp4"} and item.path == dfdc / "dfdc_train_part_45/f45001.mp4"
    assert next(i for i in train if i.label == REAL).groups["original"] == ""
    assert "needs train_sample_videos/metadata.json" in error("dfdc", dfdc, split="train_sample_videos")


def test_dfdc_parts_selection(dfdc):
    ds = datasets.open("dfdc", dfdc, split="train", parts="45-46,49")
    assert sorted({i.groups["part"] for i in ds}) == ["45", "46", "49"] and len(ds) == 300
    assert {i.groups["part"] for i in datasets.open("dfdc", dfdc, split="train", parts=[3])} == {"3"}
    partly = datasets.open("dfdc", dfdc, split="train", parts="48-52")
    assert len(partly) == 200 and partly.problems == ["part folder(s) 50-52 missing"]
    assert "none of parts 60-61 present (found: 3,45-49)" in error("dfdc", dfdc, split="train", parts="60-61")
    assert "'x' is not a number" in error("dfdc", dfdc, parts="45,x")
    assert "bad range '49-45'" in error("dfdc", dfdc, parts="49-45")


def test_dfdc_seeded_sample_balanced_and_deterministic(dfdc):
    def pick(**options):
        ds = datasets.open("dfdc", dfdc, split="train", parts="45-49", max_videos=60, balance=True, **options)
        return [i.video_id for i in ds], ds

    ids, ds = pick()
    assert counts(ds) == (30, 30, 60) and ds.describe()["options"]["seed"] == 24
    assert ids == pick()[0] == pick(seed="24")[0]
    assert ids != pick(seed=1)[0]
    assert any("balance=True, seed=24" in n for n in ds.notes)
    odd = datasets.open("dfdc", dfdc, split="train", max_videos="7", balance="true")
    assert counts(odd) == (3, 4, 7)
    plain = datasets.open("dfdc", dfdc, split="train", max_videos=10)
    assert len(plain) == 10
    assert "needs 150 real videos, only 101 available" in error("dfdc", dfdc, split="train", max_videos=300, balance=True)
    assert "balance=True needs max_videos" in error("dfdc", dfdc, balance=True)
    assert "has no option(s) methods" in error("dfdc", dfdc, methods="all")


def test_dfdc_test_falls_back_to_parts_with_note(tmp_path):
    dfdc_part(tmp_path, 0, n_real=1, n_fake=1, absent=("f00000.mp4",))
    ds = datasets.open("dfdc", tmp_path)
    assert len(ds) == 2 and any("uses the train parts" in n for n in ds.notes)
    assert [i.path.exists() for i in ds] == [True, False]       # listed but absent: kept


def test_dfdc_metadata_errors_name_file_and_key(tmp_path):
    meta = tmp_path / "dfdc_train_part_1" / "metadata.json"
    meta.parent.mkdir()
    for text, message in [
        ('{"a.mp4": {"label": "FAKE"}', "metadata.json:1: malformed JSON"),
        ('["a.mp4"]', "metadata.json: expected a JSON object"),
        ('{"a.mp4": "FAKE"}', "metadata.json['a.mp4']: expected an object"),
        ('{"a.mp4": {"label": "fake"}}', "metadata.json['a.mp4']: bad label 'fake'; allowed: 'FAKE' or 'REAL'"),
        ('{"../a.mp4": {"label": "REAL"}}', "metadata.json['../a.mp4']: path '../a.mp4' escapes the data root"),
        ('{"/a.mp4": {"label": "REAL"}}', "is absolute"),
        ('{"a.mp4": {"label": "REAL", "original": 3}}', "'original' must be a file name or null"),
        ("{}", "metadata.json: no entries"),
    ]:
        meta.write_text(text, encoding="utf-8")
        assert message in error("dfdc", tmp_path, split="train"), text


def test_dfdc_labels_csv_errors(tmp_path):
    labels = tmp_path / "test_videos" / "labels.csv"
    labels.parent.mkdir()
    labels.write_text("filename,label\na.mp4,1\nb.mp4,FAKE\n", encoding="utf-8")
    assert "labels.csv:3: bad label 'FAKE'; allowed: 0 (real) or 1 (fake)" in error("dfdc", tmp_path)
    labels.write_text("name,label\na.mp4,1\n", encoding="utf-8")
    assert "missing required column(s) filename" in error("dfdc", tmp_path)
    labels.write_text("filename,label\n../a.mp4,1\n", encoding="utf-8")
    assert "labels.csv:2: path '../a.mp4' escapes" in error("dfdc", tmp_path)


def test_dfdc_not_a_tree(tmp_path):
    assert "is not a DFDC tree" in error("dfdc", tmp_path)


def test_dfdc_real_part_0_reports_absent_entry(tmp_path):
    part = shared_path("videos", "dfdc", "dfdc_train_part_0")
    ds = datasets.open("dfdc", part.parent, split="train")
    assert [(i.video_id, i.label, i.path.exists()) for i in ds] == [
        ("dfdc_train_part_0/awnfpubqmo", FAKE, False), ("dfdc_train_part_0/brtujopkby", FAKE, True)]
    assert ds.items[1].groups == {"part": "0", "original": "gnmmhlbzge.mp4"}


def test_dfdc_real_train_sample_metadata_read_unchanged(tmp_path):
    source = shared_path("videos", "dfdc", "train_sample_videos_metadata.json")
    folder = tmp_path / "train_sample_videos"
    folder.mkdir()
    shutil.copyfile(source, folder / "metadata.json")
    names = list(json.loads(source.read_text()))
    for name in names[:3]:
        touch(folder, name)
    ds = datasets.open("dfdc", tmp_path, split="train_sample_videos")
    assert counts(ds) == (77, 323, 400) and {i.split for i in ds} == {"train_sample_videos"}
    assert [i.path.exists() for i in ds].count(True) == 3
    real = next(i for i in ds if i.video_id == "train_sample_videos/abarnvbtwb")
    assert real.label == REAL and real.groups == {"part": "train_sample_videos", "original": ""}
    assert counts(datasets.open("dfdc", tmp_path, split="all")) == (77, 323, 400)
    assert counts(datasets.open("dfdc", tmp_path, split="train_sample_videos", max_videos=100, balance=True)) == (50, 50, 100)


# ---------------------------------------------------------------------------- FaceForensics++


PAIRS = {"train": [["000", "003"], ["001", "002"]], "val": [["004", "005"]], "test": [["953", "974"], ["519", "515"]]}


def ffpp_tree(root: Path, split_dir: str | None = "", comps: tuple[str, ...] = ("c23", "c40")) -> Path:
    ids = [i for pairs in PAIRS.values() for pair in pairs for i in pair]
    fakes = [f"{a}_{b}" for pairs in PAIRS.values() for a, b in pairs] + [f"{b}_{a}" for pairs in PAIRS.values() for a, b in pairs]
    for comp in comps:
        for i in ids:
            touch(root, f"original_sequences/youtube/{comp}/videos/{i}.mp4")
        for method in ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"):
            for name in fakes:
                touch(root, f"manipulated_sequences/{method}/{comp}/videos/{name}.mp4")
        touch(root, f"original_sequences/actors/{comp}/videos/01__exit_phone_room.mp4")
        touch(root, f"manipulated_sequences/DeepFakeDetection/{comp}/videos/01_02__exit_phone_room__YVGY8LOK.mp4")
    if split_dir is not None:
        (root / split_dir).mkdir(parents=True, exist_ok=True)
        for name, pairs in PAIRS.items():
            (root / split_dir / f"{name}.json").write_text(json.dumps(pairs), encoding="utf-8")
    return root


def test_ffpp_official_splits_pairs_both_directions(tmp_path):
    root = ffpp_tree(tmp_path)
    test = datasets.open("ffpp", root)
    assert counts(test) == (4, 16, 20) and {i.split for i in test} == {"test"}
    assert {i.video_id.rsplit("/", 1)[1] for i in test if i.groups["method"] == "Deepfakes"} == {
        "953_974", "974_953", "519_515", "515_519"}
    assert counts(datasets.open("ffpp", root, split="train")) == (4, 16, 20)
    assert counts(datasets.open("ffpp", root, split="val")) == (2, 8, 10)
    every = datasets.open("ffpp", root, split="all")
    assert counts(every) == (10, 40, 50) and not every.notes and not every.problems
    item = next(i for i in test if i.video_id == "manipulated_sequences/FaceSwap/c23/videos/974_953")
    assert item.groups == {"method": "FaceSwap", "compression": "c23", "source_id": "974"} and item.label == FAKE
    original = next(i for i in test if i.label == REAL)
    assert original.groups == {"method": "original", "compression": "c23", "source_id": "515"}


def test_ffpp_split_files_in_splits_folder_methods_and_compression(tmp_path):
    root = ffpp_tree(tmp_path, split_dir="splits")
    ds = datasets.open("ffpp", root, compression="c40", methods="faceswap,Deepfakes")
    assert counts(ds) == (4, 8, 12) and {i.groups["compression"] for i in ds} == {"c40"}
    assert {i.groups["method"] for i in ds} == {"original", "FaceSwap", "Deepfakes"}
    assert ds.describe()["options"] == {"compression": "c40", "methods": "FaceSwap,Deepfakes"}
    every = datasets.open("ffpp", root, split="all", methods="all")
    assert {i.groups["method"] for i in every} == {"original", "original_actors", "Deepfakes", "Face2Face", "FaceSwap",
                                                   "NeuralTextures", "FaceShifter", "DeepFakeDetection"}
    assert {i.split for i in every if "actors" in i.video_id or "DeepFakeDetection" in i.video_id} == {"unlisted"}
    assert any("2 video(s) in no split file" in n for n in every.notes)

def test_ffpp_without_split_files_test_is_everything(tmp_path):
    root = ffpp_tree(tmp_path, split_dir=None, comps=("c23",))
    ds = datasets.open("ffpp", root)
    assert counts(ds) == (10, 40, 50) and any("no official split files" in n for n in ds.notes)
    assert "split 'train' needs the official split files" in error("ffpp", root, split="train")


def test_ffpp_option_and_layout_errors(tmp_path):
    root = ffpp_tree(tmp_path, comps=("c23",))
    assert "option compression='c99': unknown c99; allowed: raw, c23, c40" in error("ffpp", root, compression="c99")
    assert "option methods='DeepFake': unknown DeepFake" in error("ffpp", root, methods="DeepFake")
    assert "no c40 videos for Deepfakes" in error("ffpp", root, compression="c40", methods="Deepfakes")
    assert "not a FaceForensics++ tree" in error("ffpp", tmp_path / "original_sequences" / "youtube")
    (root / "val.json").unlink()
    assert "split files incomplete, val.json missing" in error("ffpp", root)


@pytest.mark.parametrize("text, message", [
    ('[["953", "974"]', "test.json:1: malformed JSON"),
    ('{"953": "974"}', "test.json: expected a JSON list of [id, id] pairs"),
    ('[["953", "974"], ["1", "2", "3"]]', "test.json[1]: expected a pair of numeric id strings"),
    ('[["953", "../x"]]', "test.json[0]: expected a pair of numeric id strings"),
    ('[["000", "974"]]', "test.json[0]: '000' is already in split 'train'"),
])
def test_ffpp_bad_split_file_names_file_and_entry(tmp_path, text, message):
    root = ffpp_tree(tmp_path, comps=("c23",))
    (root / "test.json").write_text(text, encoding="utf-8")
    assert message in error("ffpp", root)


def test_ffpp_real_sample_tree_read_unchanged():
    root = shared_path("videos", "ffpp")
    ds = datasets.open("ffpp", root)
    assert [(i.video_id.rsplit("/", 1)[1], i.label, i.groups["method"]) for i in ds] == [
        ("004", REAL, "original"), ("519", REAL, "original"), ("634", REAL, "original"),
        ("519_515", FAKE, "Deepfakes"), ("634_660", FAKE, "FaceSwap"), ("004_982", FAKE, "NeuralTextures")]
    assert ds.problems == ["manipulated_sequences/Face2Face/c23/videos/ missing"]
    assert all(i.path.is_file() for i in ds)
