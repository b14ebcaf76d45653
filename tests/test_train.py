"""Training and fine-tuning: splits, schedule, freezing, augmentation, resume, and that training helps."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import datasets
import detectors
from benchmarks.cli import main
from benchmarks.config import FaceSettings
from benchmarks.training.data import Augmentation, TrainVideo, epoch_inputs, epoch_samples, load_videos, sample_order
from benchmarks.training.split import identities, split_videos
from benchmarks.training.train import TrainConfig, backbone_parameters, lr_factor, train
from datasets.base import VideoItem


def _item(vid: str, label: int, **groups) -> VideoItem:
    return VideoItem(vid, Path(f"/x/{vid}.mp4"), label, "train", groups)


def _celebdf_like(n_ids: int = 12) -> list[VideoItem]:
    """Reals id{i}_000{k}; fakes id{i}_id{i+1}_000{k}: swaps chain people together pairwise."""
    items = []
    for i in range(n_ids):
        for k in range(2):
            items.append(_item(f"Celeb-real/id{i}_{k:04d}", 0, identity=f"id{i}"))
        j = i + 1 if i % 2 == 0 else i - 1   # pairs (0,1), (2,3), ... share fakes
        for k in range(2):
            items.append(_item(f"Celeb-synthesis/id{i}_id{j}_{k:04d}", 1, target_identity=f"id{i}",
                               source_identity=f"id{j}"))
    return items


def test_identity_split_shares_no_person_between_fit_and_validation():
    items = _celebdf_like()
    labels = np.array([i.label for i in items])
    split = split_videos(items, labels, 0.25, np.random.default_rng(0))
    assert split.mode == "identity"
    fit_people = set().union(*(identities(items[i]) for i in split.fit))
    val_people = set().union(*(identities(items[i]) for i in split.val))
    assert fit_people and val_people and not fit_people & val_people
    assert set(labels[split.val]) == {0, 1} and set(labels[split.fit]) == {0, 1}
    assert sorted([*split.fit, *split.val]) == list(range(len(items)))
    # a video split of the same data does leak people, which is what identity splitting prevents
    video = split_videos(items, labels, 0.25, np.random.default_rng(0), mode="video")
    assert video.mode == "video" and video.shared_identities


def test_identities_of_ffpp_and_dfdc_link_fakes_to_their_sources():
    ffpp_fake = _item("manipulated_sequences/Deepfakes/c23/videos/000_003", 1, source_id="000")
    assert identities(ffpp_fake) == {"id:000", "id:003"}
    dfdc_fake = _item("dfdc_train_part_0/aaa", 1, original="bbb.mp4")
    dfdc_real = VideoItem("dfdc_train_part_0/bbb", Path("/x/bbb.mp4"), 0, "train", {"original": ""})
    assert identities(dfdc_fake) == identities(dfdc_real) == {"id:bbb.mp4"}
    assert identities(_item("folder/a", 0)) == frozenset()


def test_auto_split_falls_back_to_videos_and_says_why():
    items = [_item(f"v{i}", i % 2, source=("astronaut", "hopper")[i // 10]) for i in range(20)]
    labels = np.array([i.label for i in items])
    split = split_videos(items, labels, 0.2, np.random.default_rng(0))
    assert split.mode == "video" and "2 connected identity group" in split.reason
    assert len(split.val) == 4 and set(labels[split.val]) == {0, 1}
    with pytest.raises(ValueError, match="cannot split by identity"):
        split_videos(items, labels, 0.2, np.random.default_rng(0), mode="identity")


def test_learning_rate_warms_up_then_follows_a_cosine_to_the_floor():
    assert lr_factor(0, 100, 10, "cosine", 0.01) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine", 0.01) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine", 0.01) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine", 0.01) == pytest.approx(0.505)
    assert lr_factor(100, 100, 10, "cosine", 0.01) == pytest.approx(0.01)
    assert lr_factor(70, 100, 0, "constant", 0.01) == 1.0


def test_class_balanced_sampler_draws_both_classes_equally():
    y = np.array([1.0] * 90 + [0.0] * 10, dtype=np.float32)
    order = sample_order(y, "sampler", torch.Generator().manual_seed(0))
    assert len(order) == 100 and 35 < y[order.numpy()].sum() < 65
    assert sorted(sample_order(y, "weights", torch.Generator().manual_seed(0)).tolist()) == list(range(100))


def test_backbone_excludes_the_head():
    meso = detectors.create("meso", random_init=True)
    backbone = {id(p) for p in backbone_parameters(meso)}
    head = [n for n, p in meso.model.named_parameters() if id(p) not in backbone]
    assert head == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    xception = detectors.create("xception", random_init=True)
    backbone = {id(p) for p in backbone_parameters(xception)}
    head = [n for n, p in xception.model.named_parameters() if id(p) not in backbone]
    assert head == ["net.fc.weight", "net.fc.bias"]


def test_augmentation_is_video_consistent_reproducible_and_epoch_dependent():
    rng = np.random.default_rng(1)
    video = TrainVideo("v", 1, rng.integers(0, 255, (3, 96, 96, 3), dtype=np.uint8))
    aug = Augmentation("GB:5", probability=1.0, mirror=False)
    level = aug.resolve()
    a, applied = epoch_inputs(video, level, aug, seed=0, epoch=0, input_size=64, context=1.5)
    b, _ = epoch_inputs(video, level, aug, seed=0, epoch=0, input_size=64, context=1.5)
    c, _ = epoch_inputs(video, None, Augmentation(mirror=False), seed=0, epoch=0, input_size=64, context=1.5)
    assert applied == {"level": "GB:5"} and a.shape == (3, 3, 64, 64) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.float().std()) < float(c.float().std())    # blurred
    flips = [epoch_inputs(video, None, Augmentation(mirror=True), 0, e, 64, 1.5)[1].get("mirror", False)
             for e in range(20)]
    assert 3 < sum(flips) < 17                                 # about half the epochs mirror the video
    assert Augmentation("VC:3").resolve().split_by_stage("face")["face"].steps == ("VC:3",)  # codecs run on crops


def test_clip_models_train_on_clips_not_frames():
    frames = [torch.zeros(5, 3, 8, 8), torch.zeros(3, 3, 8, 8)]
    samples, y = epoch_samples(frames, [0, 1], lambda n: [slice(0, 2), slice(2, n)])
    assert samples == [(0, slice(0, 2)), (0, slice(2, 5)), (1, slice(0, 2)), (1, slice(2, 3))]
    assert y.tolist() == [0, 0, 1, 1]
    samples, _ = epoch_samples(frames, [0, 1], lambda n: None)
    assert len(samples) == 8


def test_unreadable_training_video_is_a_recorded_skip(tmp_path):
    root = tmp_path / "data"
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
    demo_items = list(datasets.open("demo", None, split="test"))
    for item in [next(i for i in demo_items if i.label == 0), next(i for i in demo_items if i.label == 1)]:
        shutil.copy(item.path, root / ("fake" if item.label else "real") / Path(item.path).name)
    (root / "fake" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    items = list(datasets.open("folder", str(root), split="all"))
    videos, skipped = load_videos(items, 2, FaceSettings(), tmp_path / "cache", 256, keep_context=False, log=lambda m: None)
    assert len(videos) == 2 and videos[0].crops.shape == (2, 256, 256, 3)
    assert [s["video_id"] for s in skipped] == ["fake/broken"] and skipped[0]["status"] != "ok"


def _small(tmp_path, **kw) -> TrainConfig:
    options = {"detector": "meso4", "dataset": "demo", "num_frames": 2, "epochs": 2, "batch_size": 16,
               "cache_dir": str(tmp_path.parent / "train-cache"), **kw}
    return TrainConfig(**options)


def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    full = train(_small(tmp_path), tmp_path / "full" / "m.safetensors", log=lambda m: None)
    with pytest.raises(KeyboardInterrupt):
        train(_small(tmp_path), tmp_path / "resumed" / "m.safetensors", log=lambda m: None, stop_after_epoch=1)
    assert (tmp_path / "resumed" / "m.train-state.pt").is_file() and not (tmp_path / "resumed" / "m.safetensors").exists()
    messages: list[str] = []
    resumed = train(_small(tmp_path), tmp_path / "resumed" / "m.safetensors", log=messages.append)
    assert any("resuming" in m and "after epoch 1" in m for m in messages)
    from safetensors.torch import load_file
    a, b = load_file(str(full)), load_file(str(resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = json.loads(resumed.with_suffix(".log.json").read_text())
    assert [h["epoch"] for h in log["history"]] == [1, 2]
    assert resumed.with_suffix(".log.png").stat().st_size > 1000
    assert resumed.with_suffix(".log.csv").read_text().splitlines()[0].startswith("epoch,lr,")
    with pytest.raises(ValueError, match="different training configuration"):
        train(_small(tmp_path, lr=5e-4), tmp_path / "resumed" / "m.safetensors", log=lambda m: None)


def test_frozen_backbone_keeps_features_and_statistics_and_trains_the_head(tmp_path):
    config = _small(tmp_path, epochs=1, freeze_backbone_epochs=1)
    start = detectors.create("meso4", random_init=True, seed=0).model.state_dict()
    out = train(config, tmp_path / "m.safetensors", log=lambda m: None)
    trained = detectors.create("meso4", weights=out).model.state_dict()
    for name, value in start.items():
        if name.startswith(("conv", "bn")):
            assert torch.equal(value, trained[name]), name
    assert not torch.equal(start["fc2.weight"], trained["fc2.weight"])
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["history"][0]["frozen_backbone"] is True


def test_early_stopping_stops_when_validation_auc_stalls(tmp_path):
    messages: list[str] = []
    out = train(_small(tmp_path, epochs=4, patience=1, lr=1e-9, freeze_backbone_epochs=4), tmp_path / "m.safetensors", log=messages.append)
    log = json.loads(out.with_suffix(".log.json").read_text())
    assert log["stopped"].startswith("early stop after epoch 2") and len(log["history"]) == 2
    assert log["history"][0]["val_auc"] == log["history"][1]["val_auc"]  # stalled AUC, whatever the loss did


def test_cli_rejects_an_unknown_augmentation_level_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out is relative: a refused command must leave nothing anywhere
    assert main(["train", "--detector", "meso", "--augment", "NOPE:3", "--frames", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown perturbation level 'NOPE:3'" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_fine_tuning_on_demo_beats_random_initialisation_on_the_test_split(tmp_path):
    """The CI check that training works: a short run lifts the demo test AUC far above an untrained model's."""
    weights = tmp_path / "meso.safetensors"
    cache = ["--cache-dir", str(tmp_path.parent / "train-cache")]
    assert main(["train", "--detector", "meso", "--dataset", "demo", "--frames", "4", "--epochs", "4",
                 "--batch-size", "8", "--out", str(weights), *cache]) == 0
    aucs = {}
    for name, extra in (("trained", ["--weights", str(weights)]), ("random", ["--random-init"])):
        out = tmp_path / name
        assert main(["run", "--detector", "meso", "--dataset", "demo", "--frames", "4", "--level", "none",
                     "--bootstrap", "0", "--out", str(out), "-q", *cache, *extra]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        aucs[name] = next(m["auc"] for m in metrics["video"] if m["detector"] == "meso" and m["level"] == "none")
    assert aucs["trained"] >= 0.9 and aucs["trained"] > aucs["random"] + 0.2, aucs
