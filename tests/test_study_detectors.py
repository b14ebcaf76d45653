"""The reference studies' models by name (vgg16, resnet50, inception-v3, efficientnet-b1, frame-diff) and ELA input.

Unit checks of each model's input contract and of the ELA image against Pillow at the documented quality, then
`frame-diff` and ELA end to end through `run` and `train` on demo videos (slow: about a minute on 2 cores).
"""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image, ImageChops

pytest.importorskip("timm")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import detectors  # noqa: E402
from benchmarks.cli import main  # noqa: E402
from benchmarks.config import FaceSettings  # noqa: E402
from benchmarks.pipeline.face_detectors import make_detector  # noqa: E402
from benchmarks.pipeline.faces import crop_square  # noqa: E402
from detectors.ela import ELA_QUALITY, ela_batch, ela_image  # noqa: E402
from detectors.heads import DENSE_HEAD  # noqa: E402
from detectors.studies import STUDY_MODELS, FrameDiffNet  # noqa: E402
from reports import run_files as results  # noqa: E402
from tests.demo_subset import demo_subset  # noqa: E402

# name -> (input size, colour order, normalisation mean on [0, 1] in that order, std, Keras parameter count of
# the convolutional base for the record: VGG16 14,714,688 / ResNet50 23,587,712 / InceptionV3 21,802,784 /
# EfficientNetB1 6,575,239)
CONTRACTS = {
    "vgg16": (224, "BGR", (103.939 / 255, 116.779 / 255, 123.68 / 255), (1 / 255,) * 3),
    "resnet50": (224, "BGR", (103.939 / 255, 116.779 / 255, 123.68 / 255), (1 / 255,) * 3),
    "inception-v3": (299, "RGB", (0.5,) * 3, (0.5,) * 3),
    "efficientnet-b1": (240, "RGB", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def test_every_study_model_is_registered_and_described():
    assert set(CONTRACTS) == set(STUDY_MODELS)
    for name in [*CONTRACTS, "frame-diff"]:
        assert name in detectors.available()
    assert all("256-128-64" in detectors.describe(n) for n in CONTRACTS)


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_study_model_input_contract_and_head(name):
    size, order, mean, std = CONTRACTS[name]
    det = detectors.create(name, random_init=True)
    card = det.checkpoint_card()
    assert (det.input_size, card["colour_order"], card["architecture"]) == (size, order, f"study:{name}")
    np.testing.assert_allclose(card["normalisation"]["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(card["normalisation"]["std"], std, rtol=1e-6)
    assert [m.out_features for m in det.model.head if isinstance(m, torch.nn.Linear)] == [*DENSE_HEAD, 1]
    seen = []
    det.model.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    p = det.predict(x)
    assert p.shape == (2,) and np.isfinite(p).all()
    ordered = x.flip(1) if order == "BGR" else x     # Keras caffe mode reverses the channels first
    expected = (ordered - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(seen[0], expected.float(), rtol=1e-5, atol=1e-4)


def test_frame_diff_sees_grayscale_differences_of_consecutive_frames():
    torch.manual_seed(0)
    net = FrameDiffNet().eval()
    assert sum(p.numel() for p in net.parameters()) == 66_905   # conv 20 / conv 16, dense 400-120-84-1 at 160 px
    still = torch.rand(1, 1, 3, 160, 160).expand(1, 4, 3, 160, 160)
    # a change of colour that keeps the luma (0.299 R + 0.587 G + 0.114 B) is no difference at all
    recoloured = torch.zeros(1, 2, 3, 160, 160)
    recoloured[0, 1] = torch.tensor([0.3, -0.3 * 0.299 / 0.587, 0.0]).view(3, 1, 1)
    with torch.no_grad():
        zero = net(torch.zeros(1, 2, 3, 160, 160))
        torch.testing.assert_close(net(still), zero)                 # identical frames: zero differences
        torch.testing.assert_close(net(recoloured), zero, atol=1e-6, rtol=0)
        torch.testing.assert_close(net(still[:, :1]), zero)          # one frame: scored as a still scene
        moving = torch.rand(1, 3, 3, 160, 160, generator=torch.Generator().manual_seed(1))
        per_pair = torch.stack([net(moving[:, i:i + 2]) for i in range(2)])
        torch.testing.assert_close(net(moving), per_pair.mean(0))    # the clip: mean over its 2 differences
    with pytest.raises(ValueError, match="input_size"):
        FrameDiffNet(32)


def test_whole_frame_face_detector_crops_the_frame_padded_to_a_square():
    frame = np.random.default_rng(0).integers(0, 256, (90, 160, 3), np.uint8)
    settings = FaceSettings(detector="frame")
    box = make_detector(settings).detect(frame)[0]
    crop = crop_square(frame, box, settings.margin, 160)          # the face crop the detector is given, at 160 px
    np.testing.assert_array_equal(crop[35:125], frame)            # the whole frame, unscaled, centred
    np.testing.assert_array_equal(crop[34], frame[1])             # padded by mirroring the edge


def test_frame_diff_is_a_clip_model_at_160_px():
    det = detectors.create("frame-diff", random_init=True)
    assert det.temporal is True and det.input_size == 160
    p = det.predict(torch.rand(5, 3, 160, 160))
    assert p.shape == (5,) and len(set(p.tolist())) == 1             # every frame carries its clip's score


# --- ELA --------------------------------------------------------------------------------------------------------

def _pillow_ela(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The usual ELA recipe, written out with Pillow: re-save, difference, scale the maximum to 255."""
    original = Image.fromarray(rgb)
    buffer = io.BytesIO()
    original.save(buffer, "JPEG", quality=quality)
    diff = np.asarray(ImageChops.difference(original, Image.open(buffer).convert("RGB"))).astype(np.float64)
    return diff / 255 * (255 / max(diff.max(), 1))


def test_ela_of_a_flat_image_is_zero():
    flat = np.full((64, 64, 3), 128, np.uint8)     # JPEG reproduces a flat grey exactly: nothing to amplify
    assert np.abs(ela_image(flat)).max() == 0.0
    coloured = np.full((64, 64, 3), (90, 140, 200), np.uint8)
    # a flat colour comes back within one level (YCbCr rounding), which the per-image scaling makes 1.0
    np.testing.assert_allclose(ela_image(coloured), _pillow_ela(coloured, ELA_QUALITY), atol=1e-6)


def test_ela_matches_pillow_at_the_documented_quality():
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 16:48] = (250, 30, 30)                              # a sharp-edged square: JPEG rings at its edges
    image = np.clip(image.astype(int) + rng.integers(0, 8, image.shape), 0, 255).astype(np.uint8)
    ela = ela_image(image)
    assert ELA_QUALITY == 90
    np.testing.assert_allclose(ela, _pillow_ela(image, 90), atol=1e-6)
    assert ela.max() == pytest.approx(1.0) and ela.min() == 0.0
    assert not np.allclose(ela, _pillow_ela(image, 50))             # the quality matters
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    torch.testing.assert_close(ela_batch(x)[0].permute(1, 2, 0), torch.from_numpy(ela))


def test_ela_option_wraps_any_detector_and_is_recorded_in_its_card(tmp_path):
    det = detectors.create("meso4", random_init=True, ela=True)
    card = det.checkpoint_card()
    assert card["input_transform"]["kind"] == "ela" and card["input_transform"]["jpeg_quality"] == 90
    assert detectors.input_contract(det)["input_transform"] == card["input_transform"]
    x = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(det.predict(x), det.inner.predict(ela_batch(x)), rtol=1e-6)
    out = detectors.export(det, tmp_path / "ela.safetensors")
    again = detectors.create("meso4", weights=out)                   # trained on ELA: ELA again, without asking
    assert detectors.input_contract(again)["input_transform"]["kind"] == "ela"
    np.testing.assert_allclose(again.predict(x), det.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="trained on ELA"):
        detectors.create("meso4", weights=out, ela=False)
    with pytest.raises(ValueError, match="true or false"):
        detectors.create("meso4", random_init=True, ela="maybe")
    with pytest.raises(ValueError, match="needs ela=true"):
        detectors.create("meso4", random_init=True, ela_quality=80)
    assert "input_transform" not in detectors.create("meso4", random_init=True, ela="false").checkpoint_card()


# --- end to end ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("study-e2e")
    return demo_subset(root / "data", per_class=3), root / "cache"


def _train(detector, data, cache, out, *extra):
    assert main(["train", "--detector", detector, "--dataset", "folder", "--data-root", str(data), "--split", "all",
                 "--frames", "3", "--epochs", "1", "--batch-size", "4", "--val-fraction", "0.34",
                 "--cache-dir", str(cache), "--out", str(out), *extra]) == 0
    assert len(json.loads(out.with_suffix(".log.json").read_text())["history"]) == 1


def _run(detector, data, cache, out, *extra):
    assert main(["run", "--detector", detector, "--dataset", "folder", "--data-root", str(data), "--split", "all",
                 "--frames", "3", "--level", "none", "--bootstrap", "0", "--cache-dir", str(cache),
                 "--out", str(out), "-q", *extra]) == 0
    rows = results.read_scores(out)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    return rows, results.read_json(out / results.MANIFEST_FILE)["detectors"][detector]


@pytest.mark.slow
def test_frame_diff_trains_and_runs_end_to_end(demo_videos, tmp_path):
    data, cache = demo_videos
    weights = tmp_path / "frame-diff.safetensors"
    whole_frame = ("--face-detector", "frame")        # the study's whole-frame input
    _train("frame-diff", data, cache, weights, *whole_frame)
    rows, recorded = _run("frame-diff", data, cache, tmp_path / "run", "--weights", str(weights), *whole_frame)
    assert recorded["input"]["input"] == "clip" and recorded["architecture"] == "frame-diff"
    for row in rows:                                   # one clip per video: every frame carries the clip's score
        assert len(set(row["frame_scores"].split())) == 1


@pytest.mark.slow
def test_ela_option_trains_and_runs_end_to_end(demo_videos, tmp_path):
    data, cache = demo_videos
    weights = tmp_path / "meso4-ela.safetensors"
    _train("meso4", data, cache, weights, "--detector-option", "ela=true")
    _, recorded = _run("meso4", data, cache, tmp_path / "trained", "--weights", str(weights))
    assert recorded["input"]["input_transform"]["kind"] == "ela"      # from the card: no option needed
    _, plain = _run("meso4", data, cache, tmp_path / "random", "--random-init", "--detector-option", "ela=true")
    assert plain["input"]["input_transform"]["jpeg_quality"] == 90
