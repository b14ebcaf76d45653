"""Every detector adapter end to end through the real command line: `python -m benchmarks run` in-process.

One run per adapter on the demo data and one on real FF++ / DFDC videos from ../shared/data/videos (skipped when
absent). Each run is checked on what the user gets (scores.csv, manifest.json, report.md) and on what reached the
detector: a spy wraps every detector the CLI builds through `detectors.create` and records the tensors passed to
`predict`, the tensors that reached the torch module (after the adapter's normalisation) and the module's logits,
so a wrong input size, range, normalisation, clip grouping or label convention fails here.

CPU budget (2 cores, no GPU): the random-init backbones need 0.3-1.5 s per frame on the development machine
(xception at 299 px, the ResNet-50 / EfficientNet-B1 clip models), so every run uses 2 frames per video, levels
`none,flip`, `--bootstrap 0`, and 2 videos (4 on the demo for the MesoNets and the plug-in). The frame count is
the same for every adapter, so faces are detected once per video and dataset, into a face cache private to this
test session. The demo data itself comes from the usual cache ($DFBENCH_CACHE_DIR or the user cache dir) and is
generated on first use.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("timm")
pytest.importorskip("torchvision")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

import detectors  # noqa: E402
from benchmarks.cli import main  # noqa: E402
from reports import run_files as results  # noqa: E402
from tests.conftest import SHARED_DATA, shared_path  # noqa: E402

FRAMES = 2                    # per video, for every adapter and dataset (one face extraction per video)
LEVELS = ("none", "flip")
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
CAFFE = (tuple(m / 255 for m in (103.939, 116.779, 123.68)), (1 / 255,) * 3)  # BGR order, Keras caffe mode
PLUGIN = "e2e_plugins.tiny:TinyDetector"


@dataclass(frozen=True)
class Adapter:
    """An adapter as the CLI is asked for it, and the input contract it declares (README "Detectors")."""

    name: str
    input_size: int
    temporal: bool                          # clip model: the whole video is one clip
    norm: tuple | None                      # (mean, std) applied inside the adapter; None = [0, 1] as is
    architecture: str                       # manifest / report architecture
    described: tuple[str, ...] = ()         # what `python -m benchmarks list` (detectors.describe) promises
    options: tuple[str, ...] = ()           # extra CLI arguments
    demo_videos: int = 2                    # --max-videos on the demo (all use 2 on the real videos)
    bgr: bool = False                       # channels reversed before normalisation (Keras caffe mode)


ADAPTERS = [
    Adapter("meso", 256, False, None, "mesoinception4-keras", ("256x256",), demo_videos=4),
    Adapter("meso4", 256, False, None, "meso4-keras", ("256x256",), demo_videos=4),
    Adapter("resnet-lstm", 224, True, IMAGENET, "resnet50-lstm", ("224x224", "ImageNet norm", "clip")),
    # variant b0 (224 px) instead of the default b4 (380 px) to keep CI short; b4's contract and parameter count
    # are checked at model level in tests/test_zoo.py.
    Adapter("efficientnet", 224, False, IMAGENET, "efficientnet:efficientnet_b0", ("b0..b7", "ImageNet norm"),
            options=("--detector-option", "variant=b0")),
    Adapter("efficientnet-lstm", 240, True, IMAGENET, "efficientnet-b1-lstm", ("240x240", "ImageNet norm", "clip")),
    Adapter("xception", 299, False, HALF, "xception-legacy", ("299x299", "mean=std=0.5")),
    Adapter("timm:resnet18", 224, False, IMAGENET, "timm:resnet18", ("resnet18",)),
    # a CLIP ViT of OpenAI's layout at 64 px instead of ViT-L/14 (304 M parameters); the default is checked in
    # tests/test_importers.py
    Adapter("clip-probe", 64, False, CLIP, "clip-vit:w64-l2-p16-s64-o32", ("ViT-L/14", "CLIP norm"),
            options=("--detector-option", "variant=clip-vit:w64-l2-p16-s64-o32")),
    # the course studies' dense-head models (detectors/studies.py) and the DFDC frame-difference clip model
    Adapter("vgg16", 224, False, CAFFE, "study:vgg16", ("224x224", "caffe"), bgr=True),
    Adapter("resnet50", 224, False, CAFFE, "study:resnet50", ("224x224", "caffe"), bgr=True),
    Adapter("inception-v3", 299, False, HALF, "study:inception-v3", ("299x299", "[-1, 1]")),
    Adapter("efficientnet-b1", 240, False, IMAGENET, "study:efficientnet-b1", ("240x240", "ImageNet norm")),
    Adapter("frame-diff", 160, True, None, "frame-diff", ("160x160", "clip", "grayscale")),
    Adapter(PLUGIN, 64, False, None, "tiny-linear", ("plug-in", PLUGIN), demo_videos=4),
]
IDS = ["plugin" if a.name == PLUGIN else a.name for a in ADAPTERS]

# Real videos: one FF++ c23 original (1280x720) and one DFDC fake (1080x1920 portrait, 2 key frames).
REAL_VIDEOS = {"real/004.mp4": ("ffpp/original_sequences/youtube/c23/videos/004.mp4", "real", "ffpp"),
               "fake/brtujopkby.mp4": ("dfdc/dfdc_train_part_0/brtujopkby.mp4", "fake", "dfdc")}
# The original MesoNet Keras weights, used on the real videos when present (else --random-init).
KERAS_WEIGHTS = {"meso": "MesoInception_DF.h5", "meso4": "Meso4_DF.h5"}

PLUGIN_SOURCE = '''
import torch
from detectors.base import Detector, WeightsInfo


class TinyDetector(Detector):
    """A frame plug-in with a non-standard input size and no normalisation, as in the README example."""

    name, input_size = "tiny", 64

    def __init__(self, weights=None, random_init=False, seed=0):
        torch.manual_seed(seed)
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64 * 64, 1))
        self.weights = WeightsInfo(path=None, sha256=None, format="random-init", architecture="tiny-linear")

    def fake_logits(self, x):
        return self.model(x).reshape(-1)

    def checkpoint_card(self):
        return {"architecture": "tiny-linear", "detector": "tiny", "input_size": 64, "output": "logit_fake"}
'''


# --- fixtures ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def face_cache(tmp_path_factory) -> Path:
    """One face cache for every run of this file (not the user's cache: the first run per dataset detects)."""
    return tmp_path_factory.mktemp("adapters-e2e-faces")


@pytest.fixture(scope="module")
def real_videos(tmp_path_factory) -> Path:
    """Two real videos from ../shared/data/videos as a `folder` dataset with a manifest (symlinks)."""
    videos = shared_path("videos")
    missing = [src for src, _, _ in REAL_VIDEOS.values() if not (videos / src).is_file()]
    if missing:
        pytest.skip(f"shared test videos not present: {', '.join(missing)} under {videos}")
    root = tmp_path_factory.mktemp("adapters-e2e-real")
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "source"])
        for rel, (src, label, source) in REAL_VIDEOS.items():
            (root / rel).parent.mkdir(exist_ok=True)
            (root / rel).symlink_to(videos / src)
            writer.writerow([rel, label, source])
    return root


@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch):
    """The `pkg.module:Class` plug-in as a real package on sys.path, removed afterwards."""
    package = tmp_path / "plugins" / "e2e_plugins"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(package.parent))
    yield
    for module in ("e2e_plugins.tiny", "e2e_plugins"):
        sys.modules.pop(module, None)


class Spy:
    """Records, per detector the CLI builds: predict inputs and outputs, module inputs and module logits."""

    def __init__(self) -> None:
        self.built: dict[str, object] = {}
        self.calls: dict[str, list[dict]] = {}

    def install(self, monkeypatch) -> None:
        create = detectors.create

        def spying_create(name, *args, **kwargs):
            det = create(name, *args, **kwargs)
            self.built[name] = det
            calls = self.calls.setdefault(name, [])
            predict = det.predict

            def recorded_predict(x):
                call = {"x": x.detach().clone(), "module_in": [], "module_out": []}
                calls.append(call)
                call["p"] = np.asarray(predict(x))
                return call["p"]

            def pre_hook(module, args):
                if calls:
                    calls[-1]["module_in"].append(args[0].detach().clone())

            def post_hook(module, args, output):
                if calls:
                    calls[-1]["module_out"].append(output.detach().double().reshape(-1).clone())

            det.predict = recorded_predict
            det.model.register_forward_pre_hook(pre_hook)
            det.model.register_forward_hook(post_hook)
            return det

        monkeypatch.setattr(detectors, "create", spying_create)


def run_cli(adapter: Adapter, data_args: list[str], out: Path, cache: Path, monkeypatch, capsys,
            random_init: bool = True, weights: Path | None = None) -> Spy:
    spy = Spy()
    spy.install(monkeypatch)
    argv = ["run", "--detector", adapter.name, *data_args, "--frames", str(FRAMES), "--level", ",".join(LEVELS),
            "--out", str(out), "--cache-dir", str(cache), "-q", *adapter.options,
            # the spy watches this process's models: score here, not in worker processes
            "--score-in", "main",
            # no bootstrap intervals: with both classes present, 1000 resamples cost ~9 s per run on this
            # machine, and intervals say nothing about the adapter
            "--bootstrap", "0"]
    if weights is not None:
        argv += ["--weights", str(weights)]
    elif random_init:
        argv.append("--random-init")
    code = main(argv)
    printed = capsys.readouterr()
    assert code == 0, f"`python -m benchmarks {' '.join(argv)}` exited {code}: {printed.err[-2000:]}"
    assert "| AUC |" in printed.out and str(out) in printed.out
    return spy


# --- the checks -------------------------------------------------------------------------------------------------

def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split()]


def check_scores(adapter: Adapter, out: Path, videos: dict[str, int]) -> list[dict]:
    """scores.csv: one ok row per (video, level), finite P(fake) in [0, 1], FRAMES frames, clip scores shared."""
    rows = results.read_scores(out)
    keys = [(r["video_id"], r["level"]) for r in rows]
    assert len(keys) == len(set(keys)), f"duplicate (video, level) rows: {keys}"
    assert set(keys) == {(v, lvl) for v in videos for lvl in LEVELS}
    for row in rows:
        where = f"{adapter.name} {row['video_id']} {row['level']}"
        assert row["detector"] == adapter.name, where
        assert row["status"] == "ok" and row["message"] == "", f"{where}: {row['status']} {row['message']}"
        assert int(row["label"]) == videos[row["video_id"]], where
        score = float(row["score"])
        assert math.isfinite(score) and 0.0 <= score <= 1.0, f"{where}: score {row['score']}"
        assert int(row["n_frames"]) == FRAMES, where
        frame_scores = _floats(row["frame_scores"])
        assert len(frame_scores) == FRAMES, where
        assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in frame_scores), where
        assert score == pytest.approx(float(np.mean(frame_scores)), abs=1e-5), where   # --aggregate mean
        if adapter.temporal:        # one clip per video: every frame carries the clip's score
            assert len(set(frame_scores)) == 1, f"{where}: clip model gave per-frame scores {frame_scores}"
        indices = [int(i) for i in row["frame_indices"].split()]
        assert len(indices) == FRAMES and indices == sorted(set(indices)), where
    for video in videos:            # every level scores the same decoded frames
        assert len({r["frame_indices"] for r in rows if r["video_id"] == video}) == 1, video
    return rows


def check_manifest_and_report(adapter: Adapter, out: Path, n_videos: int, weights_format: str) -> None:
    manifest = results.read_json(out / results.MANIFEST_FILE)
    assert manifest["status"] == "complete"
    assert manifest["config"]["detectors"] == [adapter.name]
    assert manifest["config"]["levels"] == list(LEVELS) and manifest["config"]["num_frames"] == FRAMES
    assert manifest["dataset"]["n_selected"] == n_videos
    recorded = manifest["detectors"][adapter.name]
    assert recorded["input_size"] == adapter.input_size
    assert recorded["architecture"] == adapter.architecture
    assert recorded["format"] == weights_format
    contract = recorded["input"]                # the declared input contract, as the manifest records it
    assert contract["input"] == ("clip" if adapter.temporal else "frame")
    if adapter.norm is not None:
        assert contract["normalisation"]["mean"] == pytest.approx(adapter.norm[0])
        assert contract["normalisation"]["std"] == pytest.approx(adapter.norm[1])
    if weights_format == "random-init":
        assert recorded["path"] is None and recorded["sha256"] is None
    else:
        assert recorded["path"] and len(recorded["sha256"]) == 64
    report = (out / results.REPORT_FILE).read_text(encoding="utf-8")
    assert f"`{adapter.name}`: {adapter.architecture}, input {adapter.input_size} px" in report
    assert ("random initialisation (untrained)" in report) == (weights_format == "random-init")
    assert (out / "metrics.json").is_file()


def check_contract(adapter: Adapter, spy: Spy, rows: list[dict]) -> None:
    """What reached the detector: N x 3 x S x S float32 in [0, 1], normalised as declared, one clip per video;
    and what it returned: P(fake) = sigmoid(+-logit) per the card, written unchanged to scores.csv."""
    assert list(spy.built) == [adapter.name], f"the CLI built {list(spy.built)} through detectors.create"
    det = spy.built[adapter.name]
    assert det.input_size == adapter.input_size
    assert det.temporal is adapter.temporal
    card = det.checkpoint_card()
    assert card["input_size"] == adapter.input_size
    if "normalisation" in card:
        want = adapter.norm or ((0.0,) * 3, (1.0,) * 3)
        np.testing.assert_allclose(card["normalisation"]["mean"], want[0], atol=1e-6)
        np.testing.assert_allclose(card["normalisation"]["std"], want[1], atol=1e-6)
    sign = -1.0 if card.get("output") == "logit_real" else 1.0
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (adapter.norm or ((0.0,) * 3, (1.0,) * 3)))

    calls = spy.calls.get(adapter.name, [])
    n_frames = len(rows) * FRAMES
    assert calls and sum(len(c["x"]) for c in calls) == n_frames, "every sampled frame is scored exactly once"
    if adapter.temporal:            # one call per (video, level): the video's frames as one clip
        assert len(calls) == len(rows) and all(len(c["x"]) == FRAMES for c in calls)
    for call in calls:
        x = call["x"]
        assert x.dtype == torch.float32 and x.device.type == "cpu"
        assert tuple(x.shape[1:]) == (3, adapter.input_size, adapter.input_size), tuple(x.shape)
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.std()) > 0.01
        # one forward pass per call: the clip as B=1 x T (clip models) or the frames as a batch
        assert len(call["module_in"]) == 1 and len(call["module_out"]) == 1
        module_in = call["module_in"][0]
        assert tuple(module_in.shape) == ((1, *x.shape) if adapter.temporal else tuple(x.shape))
        ordered = x.flip(1) if adapter.bgr else x
        torch.testing.assert_close(module_in.reshape(x.shape).float(), (ordered - mean) / std, atol=1e-5, rtol=1e-5)
        logits = call["module_out"][0]
        assert tuple(logits.shape) == ((1,) if adapter.temporal else (len(x),))
        expected = torch.sigmoid(sign * logits).numpy()
        if adapter.temporal:
            expected = np.repeat(expected, len(x))
        np.testing.assert_allclose(call["p"], expected, rtol=0, atol=1e-6)
    # Every sampled frame of every (video, level) reached the detector as different pixels. (Not asserted on the
    # scores: a random-init EfficientNet-B1-LSTM's features vanish to ~1e-5, so its P(fake) is one float32 value.)
    frames = torch.cat([c["x"] for c in calls])
    assert len({f.numpy().tobytes() for f in frames}) == n_frames, "two scored frames are identical"
    # scores.csv holds what the detector returned (frame models may batch frames across videos and levels, so
    # compared as sorted multisets; %.6g in the file)
    written = np.sort([s for r in rows for s in _floats(r["frame_scores"])])
    np.testing.assert_allclose(written, np.sort(np.concatenate([c["p"] for c in calls])), rtol=1e-5, atol=1e-6)


# --- tests --------------------------------------------------------------------------------------------------------

def test_every_registered_adapter_is_covered() -> None:
    covered = {a.name for a in ADAPTERS}
    assert set(detectors.available()) <= covered, "add the new adapter to ADAPTERS in this file"
    assert any(a.name.startswith(detectors.TIMM_PREFIX) for a in ADAPTERS)
    for adapter in ADAPTERS:
        description = detectors.describe(adapter.name)
        for promise in adapter.described:
            assert promise in description, f"{adapter.name}: {promise!r} not in {description!r}"


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS, ids=IDS)
def test_adapter_runs_end_to_end_on_demo(adapter, tmp_path, face_cache, plugin_on_path, monkeypatch, capsys):
    out = tmp_path / "run"
    shipped = detectors.default_weights(adapter.name)      # meso: the project's demo weights
    spy = run_cli(adapter, ["--dataset", "demo", "--max-videos", str(adapter.demo_videos)], out, face_cache,
                  monkeypatch, capsys, random_init=shipped is None)
    rows = results.read_scores(out)
    videos = {r["video_id"]: int(r["label"]) for r in rows}
    assert len(videos) == adapter.demo_videos
    check_scores(adapter, out, videos)
    check_manifest_and_report(adapter, out, adapter.demo_videos, "random-init" if shipped is None else "safetensors")
    if shipped is not None:
        manifest = results.read_json(out / results.MANIFEST_FILE)
        assert manifest["detectors"][adapter.name]["sha256"] == detectors.sha256_file(shipped)
    check_contract(adapter, spy, rows)


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS, ids=IDS)
def test_adapter_runs_end_to_end_on_real_videos(adapter, real_videos, tmp_path, face_cache, plugin_on_path,
                                                monkeypatch, capsys):
    out = tmp_path / "run"
    keras = SHARED_DATA / "mesonet" / "weights" / KERAS_WEIGHTS[adapter.name] if adapter.name in KERAS_WEIGHTS \
        else None
    weights = keras if keras is not None and keras.is_file() else None
    spy = run_cli(adapter, ["--dataset", "folder", "--data-root", str(real_videos), "--follow-symlinks"], out, face_cache, monkeypatch,
                  capsys, weights=weights)
    videos = {f"{Path(rel).parent}/{Path(rel).stem}": int(label == "fake")
              for rel, (_, label, _) in REAL_VIDEOS.items()}
    rows = check_scores(adapter, out, videos)
    assert {json.loads(r["groups"])["source"] for r in rows} == {"ffpp", "dfdc"}
    check_manifest_and_report(adapter, out, len(REAL_VIDEOS), "keras-h5" if weights else "random-init")
    check_contract(adapter, spy, rows)
