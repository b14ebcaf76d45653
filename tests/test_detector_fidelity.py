"""Imported checkpoints score as their reference code base scores them.

* DeepfakeBench `efficientnetb4` (training/networks/efficientnetb4.py) is efficientnet_pytorch's
  `EfficientNet.from_name('efficientnet-b4')` with a padding-free stem: its convolutions pad "same" for a 380 px
  image whatever the input size. The reference here is THAT architecture, built with efficientnet_pytorch (a dev
  dependency), with a fixed random checkpoint saved the way DeepfakeBench saves it; our timm-based import must give
  its P(fake) at 256 px (DeepfakeBench's input) and at 380 px.
* deepfake_detector (github.com/CatoGit/Comparing-the-Performance-of-Deepfake-Detection-Methods-on-Benchmark-
  Datasets) trained and tested its LSTMs on clips of 20 face crops (5 on DFDC) and scored the last hidden state:
  imported checkpoints default to that clip length (card `clip_frames`), and a video is cut into several clips.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("timm")
pytest.importorskip("torchvision")

import detectors  # noqa: E402
from benchmarks.cli import main  # noqa: E402
from detectors.static_padding import same_padding  # noqa: E402
from detectors.zoo import arch_from_card, architecture, build  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

# --- DeepfakeBench EfficientNet-B4 ---------------------------------------------------------------------------


class DeepfakeBenchEfficientNetB4(nn.Module):
    """DeepfakeBench's EfficientNetB4 backbone in eval mode (training/networks/efficientnetb4.py, mode 'Original',
    inc 3, num_classes 2): from_name('efficientnet-b4'), stem replaced by Conv2d(3, 48, 3, stride 2, no padding),
    `_fc` removed, extract_features -> adaptive average pool -> last_layer. P(fake) = softmax(...)[:, 1]
    (detectors/efficientnetb4_detector.py)."""

    def __init__(self) -> None:
        super().__init__()
        efficientnet_pytorch = pytest.importorskip(
            "efficientnet_pytorch", reason="efficientnet_pytorch (the dev extra) builds the reference architecture")
        self.efficientnet = efficientnet_pytorch.EfficientNet.from_name("efficientnet-b4")
        self.efficientnet._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
        self.efficientnet._fc = nn.Identity()
        self.last_layer = nn.Linear(1792, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.efficientnet.extract_features(x)
        return self.last_layer(F.adaptive_avg_pool2d(x, (1, 1)).flatten(1))

    def p_fake(self, x01: torch.Tensor) -> np.ndarray:
        """DeepfakeBench's input: [0, 1] RGB normalised with mean = std = 0.5 (config/detector/efficientnetb4.yaml)."""
        with torch.no_grad():
            return torch.softmax(self((x01 - 0.5) / 0.5), dim=1)[:, 1].double().numpy()


def _fixed_random_effb4() -> DeepfakeBenchEfficientNetB4:
    """Fixed random weights that make the output depend on the input: fan-out normal convolutions, batch-norm
    statistics measured on random images, a head scaled so P(fake) spreads over (0, 1)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = DeepfakeBenchEfficientNetB4()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                fan_out = mod.weight.shape[0] * mod.weight.shape[2] * mod.weight.shape[3] // mod.groups
                mod.weight.normal_(0, (2.0 / fan_out) ** 0.5, generator=g)
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
                mod.momentum = None   # cumulative average over the calibration batch
                mod.reset_running_stats()
        model.train()
        model.efficientnet.extract_features(torch.rand(6, 3, 256, 256, generator=g) * 2 - 1)
        model.eval()
        feats = F.adaptive_avg_pool2d(model.efficientnet.extract_features(
            torch.rand(8, 3, 256, 256, generator=g) * 2 - 1), 1).flatten(1)
        w = torch.randn(2, 1792, generator=g)
        scale = 2.0 / ((feats - feats.mean(0)) @ (w[1] - w[0])).std()
        model.last_layer.weight.copy_(w * scale)
        model.last_layer.bias.copy_(-(feats.mean(0) @ w.t()) * scale)
    return model


@pytest.fixture(scope="module")
def dfbench_effb4(tmp_path_factory):
    """(reference model, its checkpoint saved as DeepfakeBench saves a detector: `module.backbone.*`)."""
    model = _fixed_random_effb4()
    path = tmp_path_factory.mktemp("dfbench") / "efficientnetb4_best.pth"
    torch.save({f"module.backbone.{k}": v for k, v in model.state_dict().items()}, path)
    return model, path


def test_same_padding_is_efficientnet_pytorchs() -> None:
    """The formula against efficientnet_pytorch's own Conv2dStaticSamePadding, for every size B4's layers see."""
    utils = pytest.importorskip("efficientnet_pytorch.utils")
    for size in (190, 189, 127, 128, 95, 94, 64, 63, 48, 32, 24, 16, 12, 8):
        for kernel in (3, 5):
            for stride in (1, 2):
                conv = utils.Conv2dStaticSamePadding(4, 4, kernel, stride, image_size=size)
                pad = getattr(conv.static_padding, "padding", (0, 0, 0, 0))
                assert same_padding(size, kernel, stride) == tuple(pad[:2]), (size, kernel, stride)


@pytest.mark.parametrize("size", [256, 380])
def test_deepfakebench_efficientnetb4_matches_their_architecture(dfbench_effb4, size: int) -> None:
    reference, path = dfbench_effb4
    x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(size))
    expected = reference.p_fake(x)
    assert np.ptp(expected) > 0.05   # the checkpoint is not degenerate: P(fake) depends on the input
    det = detectors.create("efficientnet", weights=path, input_size=size)
    np.testing.assert_allclose(det.predict(x), expected, rtol=0, atol=1e-4)
    assert det.weights.architecture == "efficientnet:tf_efficientnet_b4:stem-pad0:static-same380"
    assert det.input_size == size and det.weights.card["static_same"] == 380
    # timm's own (dynamic) padding, the import before this fix, is measurably not their model
    dynamic = build(architecture("efficientnet", "tf_efficientnet_b4", size, stem_padding=0))
    dynamic.load_state_dict(det.model.state_dict())
    with torch.no_grad():
        before = torch.sigmoid(dynamic((x - 0.5) / 0.5)).double().numpy()
    assert np.abs(before - expected).max() > 1e-3


def test_deepfakebench_efficientnetb4_stage_sizes(dfbench_effb4) -> None:
    """At 256 px their first stride-2 stage gives 63 x 63 maps (timm's dynamic padding: 64 x 64)."""
    reference, path = dfbench_effb4
    det = detectors.create("efficientnet", weights=path)
    seen: dict[str, int] = {}

    def record(key: str):
        def hook(module, inputs, output) -> None:   # returns None: the output is left as it is
            seen[key] = output.shape[-1]
        return hook

    hook = det.model.net.blocks[1].register_forward_hook(record("ours"))
    ref_hook = reference.efficientnet._blocks[5].register_forward_hook(record("theirs"))
    try:
        x = torch.rand(1, 3, 256, 256)
        det.predict(x)
        reference.p_fake(x)
    finally:
        hook.remove()
        ref_hook.remove()
    assert seen == {"ours": 63, "theirs": 63}


def test_deepfakebench_efficientnetb4_import_keeps_padding(dfbench_effb4, tmp_path) -> None:
    """`weights import` writes the padding into the card's architecture; the safetensors file scores the same."""
    reference, path = dfbench_effb4
    out = tmp_path / "effb4.safetensors"
    assert main(["weights", "import", str(path), "--detector", "efficientnet", "--out", str(out)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["architecture"] == "efficientnet:tf_efficientnet_b4:stem-pad0:static-same380"
    x = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(detectors.create("efficientnet", weights=out).predict(x), reference.p_fake(x),
                               rtol=0, atol=1e-4)


def test_cards_from_before_static_padding_are_read_as_deepfakebench() -> None:
    """A card written before this fix says only `stem-pad0` (only a DeepfakeBench import wrote that): it is built
    with their padding; a plain timm EfficientNet card is left alone."""
    old = arch_from_card("efficientnet", {"architecture": "efficientnet:tf_efficientnet_b4:stem-pad0",
                                          "input_size": 256})
    assert old.architecture == "efficientnet:tf_efficientnet_b4:stem-pad0:static-same380" and old.input_size == 256
    plain = arch_from_card("efficientnet", {"architecture": "efficientnet:efficientnet_b1", "input_size": 240})
    assert plain.architecture == "efficientnet:efficientnet_b1"


# --- deepfake_detector clip length ---------------------------------------------------------------------------


def _dfdet_checkpoint(tmp_path, name: str, file_name: str) -> tuple[detectors.Detector, object]:
    """A random model saved as deepfake_detector saves its LSTMs: a bare state_dict, DataParallel `module.`."""
    src = detectors.create(name, random_init=True, seed=3)
    path = tmp_path / file_name
    torch.save({f"module.{k}": v for k, v in src.model.state_dict().items()}, path)
    return src, path


@pytest.mark.parametrize("name,file_name,frames", [
    ("resnet-lstm", "resnet_lstm_celebdf.pth", 20),
    ("efficientnet-lstm", "efficientnetb1_lstm_uadfv.pth", 20),
    ("efficientnet-lstm", "efficientnetb1_lstm_dfdc.pth", 5),
    ("resnet-lstm", "resnet_lstm_DFDC.pth", 5),
])
def test_dfdet_lstm_clip_length_from_the_card(tmp_path, name: str, file_name: str, frames: int) -> None:
    _, path = _dfdet_checkpoint(tmp_path, name, file_name)
    det = detectors.create(name, weights=path)
    assert det.clip_frames == frames and det.weights.card["clip_frames"] == frames
    assert det.checkpoint_card()["clip_frames"] == frames and f"clips of {frames} frames" in det.weights.provenance
    assert detectors.input_contract(det)["clip_frames"] == frames   # recorded in every run's manifest
    assert detectors.create(name, weights=path, clip_frames=0).clip_frames == 0   # an explicit option wins
    out = tmp_path / "imported.safetensors"
    assert main(["weights", "import", str(path), "--detector", name, "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["clip_frames"] == frames
    assert detectors.create(name, weights=out).clip_frames == frames


def _reference_clip_p(det, frames01: torch.Tensor) -> float:
    """deepfake_detector's test.vid_inference for one sequence: normalise, B x T x C x H x W, sigmoid of the
    model's logit after the last hidden state."""
    x = (frames01 - det.mean) / det.std
    with torch.no_grad():
        return float(torch.sigmoid(det.model(x.unsqueeze(0))).reshape(()))


def test_several_clips_per_video(tmp_path) -> None:
    """12 frames with a DFDC checkpoint (clips of 5): clips 0-4, 5-9 and a last clip of 2 frames, each scored as
    the reference scores one sequence; the mean over frames weights each clip by its length."""
    _, path = _dfdet_checkpoint(tmp_path, "efficientnet-lstm", "efficientnetb1_lstm_dfdc.pth")
    det = detectors.create("efficientnet-lstm", weights=path)
    x = torch.rand(12, 3, 240, 240, generator=torch.Generator().manual_seed(5))
    p = det.predict(x)
    clips = [(0, 5), (5, 10), (10, 12)]
    expected = [_reference_clip_p(det, x[a:b]) for a, b in clips]
    for (a, b), clip_p in zip(clips, expected):
        np.testing.assert_allclose(p[a:b], clip_p, rtol=0, atol=1e-6)
    # (a random backbone barely tells contents apart, but the LSTM tells a 2-step clip from a 5-step one)
    assert abs(expected[2] - expected[0]) > 1e-6
    whole = _reference_clip_p(det, x)
    assert abs(whole - float(np.mean(p))) > 1e-6       # not the old single 12-frame clip
    video, frame_scores = det.predict_video(x)
    assert frame_scores is None and video == pytest.approx(np.mean(expected), abs=1e-6)


def test_video_shorter_than_a_clip_is_one_shorter_clip(tmp_path) -> None:
    """3 frames with a clip length of 20: one clip of 3, as the reference scored a video with fewer faces."""
    _, path = _dfdet_checkpoint(tmp_path, "resnet-lstm", "resnet_lstm_celebdf.pth")
    det = detectors.create("resnet-lstm", weights=path)
    x = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(6))
    np.testing.assert_allclose(det.predict(x), _reference_clip_p(det, x), rtol=0, atol=1e-6)


def test_random_init_clip_models_keep_one_clip_per_video() -> None:
    """Without a deepfake_detector checkpoint there is no reference clip length: the whole input is one clip."""
    det = detectors.create("efficientnet-lstm", random_init=True)
    assert det.clip_frames == 0
    x = torch.rand(7, 3, 240, 240, generator=torch.Generator().manual_seed(7))
    np.testing.assert_allclose(det.predict(x), _reference_clip_p(det, x), rtol=0, atol=1e-6)


def test_run_scores_a_video_as_several_clips(tmp_path) -> None:
    """Through the runner: a DFDC deepfake_detector checkpoint (clips of 5) on 8 sampled frames gives each video
    two clip scores (5 + 3 frames) in its frame scores, and the manifest records the clip length."""
    from benchmarks import runner
    from benchmarks.config import RunConfig
    from datasets.demo import generate_demo
    from reports import run_files as results

    _, path = _dfdet_checkpoint(tmp_path, "efficientnet-lstm", "efficientnetb1_lstm_dfdc.pth")
    root = tmp_path / "demo"
    generate_demo(root, seed=6, n_train=0, n_test=2, frames=8)
    config = RunConfig(detectors=["efficientnet-lstm"], weights={"efficientnet-lstm": str(path)}, levels=["none"],
                       dataset="folder", data_root=str(root), num_frames=8, batch_size=4, bootstrap=0,
                       out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    result = runner.run(config, progress=False)
    rows = results.read_scores(result.run_dir)
    assert rows and all(r["status"] == "ok" for r in rows)
    for row in rows:
        frames = row["frame_scores"].split()
        assert len(frames) == 8 and len(set(frames[:5])) == 1 and len(set(frames[5:])) == 1
        assert frames[0] != frames[5]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["detectors"]["efficientnet-lstm"]["input"]["clip_frames"] == 5


def test_shared_legacy_lstm_checkpoints_use_the_reference_clip_length() -> None:
    """The deepfake_detector LSTM weight files, where a development machine has them (`{method}.pth`)."""
    found = sorted(p for p in shared_path("catogit").glob("*.pth") if "lstm" in p.name)
    if not found:
        pytest.skip("no deepfake_detector LSTM checkpoint (resnet_lstm_*.pth / efficientnetb1_lstm_*.pth) in "
                    "../shared/data/catogit")
    for path in found:
        name = "resnet-lstm" if path.name.startswith("resnet") else "efficientnet-lstm"
        det = detectors.create(name, weights=path)
        assert det.clip_frames == (5 if "dfdc" in path.name else 20), path.name
