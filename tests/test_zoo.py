"""The detector zoo: input contracts, parameter counts, checkpoints from deepfake_detector and DeepfakeBench.

Models are random (no download ever); inputs are 2 frames. External checkpoints are generated here from our own
modules by renaming keys the way those repositories name them (deepfake_detector pretrained_mods/*.py,
DeepfakeBench training/networks/*.py), wrapped and `module.`-prefixed as DataParallel saves them.
"""
from __future__ import annotations

import os
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("timm")
pytest.importorskip("torchvision")
os.environ["HF_HUB_OFFLINE"] = "1"

import detectors  # noqa: E402
from detectors.base import CheckpointError  # noqa: E402

ADAPTERS = {  # name, options -> (input size, parameters, temporal)
    ("resnet-lstm", ()): (224, 25_118_145, True),
    ("efficientnet-lstm", ()): (240, 10_126_241, True),
    ("efficientnet", (("variant", "b1"),)): (240, 6_514_465, False),
    ("efficientnet", ()): (380, 17_550_409, False),
    ("xception", ()): (299, 20_809_001, False),
    ("timm:resnet18", ()): (224, 11_349_057, False),
}
_CACHE: dict = {}


def _det(name: str, opts: tuple = ()):
    key = (name, opts)
    if key not in _CACHE:
        _CACHE[key] = detectors.create(name, random_init=True, **dict(opts))
    return _CACHE[key]


@pytest.mark.parametrize("name,opts", list(ADAPTERS))
def test_contract_and_parameter_count(name, opts) -> None:
    size, n_params, temporal = ADAPTERS[(name, opts)]
    det = _det(name, opts)
    assert det.input_size == size and det.temporal == temporal
    assert sum(p.numel() for p in det.model.parameters()) == n_params
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    p = det.predict(x)
    assert p.shape == (2,) and p.dtype == np.float64 and np.all((p >= 0) & (p <= 1))
    video, frames = det.predict_video(x)
    assert 0 <= video <= 1 and (frames is None) == temporal
    if temporal:
        assert p[0] == p[1]          # one clip: every frame carries the clip score
    with pytest.raises(ValueError, match=f"{size} x {size}"):
        det.predict(torch.rand(2, 3, 64, 64))
    card = det.checkpoint_card()
    assert card["input_size"] == size and card["colour_order"] == "RGB" and card["output"] == "logit_fake"
    assert "random backbone" in det.weights.provenance and det.weights.random_init


def test_resnet_lstm_is_about_25m() -> None:
    assert 24e6 < sum(p.numel() for p in _det("resnet-lstm").model.parameters()) < 26e6


def test_clip_frames_split() -> None:
    det = _det("resnet-lstm")
    det.clip_frames = 2
    try:
        p = det.predict(torch.rand(4, 3, 224, 224))
        assert p[0] == p[1] and p[2] == p[3]
    finally:
        det.clip_frames = 0


def test_needs_weights_or_random_init() -> None:
    for name in ("resnet-lstm", "xception", "timm:resnet18", "efficientnet"):
        with pytest.raises(CheckpointError, match="--weights"):
            detectors.create(name)


def test_timm_unknown_model() -> None:
    with pytest.raises(ValueError, match="no_such_net"):
        detectors.create("timm:no_such_net", random_init=True)


def test_backbone_weights_from_local_file(tmp_path) -> None:
    import torchvision

    path = tmp_path / "resnet50_imagenet.pth"
    torch.manual_seed(3)
    ref = torchvision.models.resnet50(weights=None)
    torch.save(ref.state_dict(), path)
    det = detectors.create("resnet-lstm", random_init=True, backbone_weights=path)
    assert torch.equal(det.model.resnet[0].weight, ref.conv1.weight)
    assert "random backbone" not in det.weights.provenance and "resnet50_imagenet.pth" in det.weights.provenance
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="backbone"):
        detectors.create("resnet-lstm", random_init=True, backbone_weights=bad)


def test_plugin_detector(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_dets.py").write_text(textwrap.dedent('''
        import torch
        from detectors.base import Detector, WeightsInfo

        class Tiny(Detector):
            name, input_size = "tiny", 32
            def __init__(self, weights=None, random_init=False, seed=0):
                torch.manual_seed(seed)
                self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 1))
                if weights:
                    self.model.load_state_dict(torch.load(weights, weights_only=True))
                self.weights = WeightsInfo(str(weights) if weights else None, None,
                                           "plugin" if weights else "random-init", "tiny")
            def fake_logits(self, x):
                return self.model(x).reshape(-1)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    det = detectors.create("my_dets:Tiny", random_init=True)
    p = det.predict(torch.rand(2, 3, 32, 32))
    assert p.shape == (2,) and det.weights.random_init
    assert det.temporal is False  # inherited from Detector
    assert detectors.input_contract(det) == {"input": "frame"}  # no card: the default
    with pytest.raises(CheckpointError, match="--weights"):
        detectors.create("my_dets:Tiny")
    with pytest.raises(ValueError, match="cannot import"):
        detectors.create("no_such_pkg.mod:Cls", random_init=True)
    sys.modules.pop("my_dets", None)


def test_plugin_temporal_is_set_or_validated(tmp_path, monkeypatch) -> None:
    (tmp_path / "duck_dets.py").write_text(textwrap.dedent('''
        import torch

        class Duck:  # duck-types Detector without subclassing it, no `temporal`
            name, input_size = "duck", 8
            def __init__(self, weights=None, random_init=False, temporal=None):
                self.model = torch.nn.Identity()
                if temporal is not None:
                    self.temporal = temporal
            def fake_logits(self, x):
                return x.mean(dim=(1, 2, 3))
            def predict(self, x):
                return torch.sigmoid(self.fake_logits(x)).numpy()
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert detectors.create("duck_dets:Duck", random_init=True).temporal is False
    assert detectors.create("duck_dets:Duck", random_init=True, temporal=True).temporal is True
    with pytest.raises(ValueError, match="temporal must be True or False, got 'yes'"):
        detectors.create("duck_dets:Duck", random_init=True, temporal="yes")
    sys.modules.pop("duck_dets", None)


# --- deepfake_detector checkpoints ----------------------------------------------------------------------------

def _save_dp(state: dict, path) -> None:
    """As DataParallel training saves them: `module.` keys inside a {'state_dict': ...} wrapper."""
    torch.save({"state_dict": {f"module.{k}": v.clone() for k, v in state.items()}, "epoch": 1}, path)


def test_dfdet_resnet_lstm(tmp_path) -> None:
    src = _det("resnet-lstm")
    path = tmp_path / "resnetlstm.pth"
    _save_dp(src.model.state_dict(), path)   # the repo's keys are ours: resnet.N.*, lstm.*, fc1, fc2
    det = detectors.create("resnet-lstm", weights=path)
    assert det.weights.format == "deepfake_detector-pth" and det.weights.architecture == "resnet50-lstm"
    x = torch.rand(2, 3, 224, 224)
    np.testing.assert_allclose(det.predict(x), src.predict(x), rtol=0, atol=1e-6)
    with pytest.raises(CheckpointError, match="resnet50-lstm"):
        detectors.create("xception", weights=path)


def test_dfdet_efficientnet_lstm_old_timm_indices(tmp_path) -> None:
    src = _det("efficientnet-lstm")
    back = {v: k for k, v in {0: 0, 1: 1, 3: 2, 4: 3, 5: 4, 7: 5, 8: 6}.items()}
    old = {}
    for k, v in src.model.state_dict().items():
        if k.startswith("b1."):
            i, rest = k[3:].split(".", 1)
            k = f"b1.{back[int(i)]}.{rest}"
        old[k] = v
    path = tmp_path / "efficientnetb1lstm.pth"
    _save_dp(old, path)
    det = detectors.create("efficientnet-lstm", weights=path)
    x = torch.rand(2, 3, 240, 240)
    np.testing.assert_allclose(det.predict(x), src.predict(x), rtol=0, atol=1e-6)


def test_dfdet_xception(tmp_path) -> None:
    src = _det("xception")
    state = {k[len("net."):].replace("fc.", "last_linear.") if k.startswith("net.fc.") else k[len("net."):]: v
             for k, v in src.model.state_dict().items()}
    path = tmp_path / "xception.pth"
    _save_dp(state, path)
    det = detectors.create("xception", weights=path)
    x = torch.rand(2, 3, 299, 299)
    np.testing.assert_allclose(det.predict(x), src.predict(x), rtol=0, atol=1e-6)


# --- DeepfakeBench checkpoints --------------------------------------------------------------------------------

def _two_class(w, b):
    """A 2-class head whose z1 - z0 equals the one-logit head (z0 random)."""
    w0, b0 = torch.randn_like(w), torch.randn_like(b)
    return torch.cat([w0, w0 + w]), torch.cat([b0, b0 + b])


def test_dfbench_meso4_matches_reference_forward(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    s = {}
    for i, (ci, co, k) in enumerate([(3, 8, 3), (8, 8, 5), (8, 16, 5), (16, 16, 5)], start=1):
        s[f"conv{i}.weight"] = torch.randn(co, ci, k, k, generator=g) * 0.2
    for n, c in (("bn1", 8), ("bn2", 16)):
        s[f"{n}.weight"], s[f"{n}.bias"] = torch.rand(c, generator=g) + 0.5, torch.randn(c, generator=g) * 0.1
        s[f"{n}.running_mean"], s[f"{n}.running_var"] = torch.randn(c, generator=g) * 0.1, torch.rand(c, generator=g) + 0.5
        s[f"{n}.num_batches_tracked"] = torch.tensor(5)
    s["fc1.weight"], s["fc1.bias"] = torch.randn(16, 1024, generator=g) * 0.05, torch.randn(16, generator=g) * 0.1
    s["fc2.weight"], s["fc2.bias"] = torch.randn(2, 16, generator=g), torch.randn(2, generator=g)
    path = tmp_path / "meso4_best.pth"
    torch.save({f"module.backbone.{k}": v for k, v in s.items()}, path)
    det = detectors.create("meso4", weights=path)
    assert det.weights.format == "deepfakebench-pth" and det.weights.architecture == "meso4-dfbench"

    x = torch.rand(2, 3, 256, 256, generator=g)
    h = (x - 0.5) / 0.5   # reference: DeepfakeBench Meso4.features/classifier in eval mode

    def bn(t, n):
        return F.batch_norm(t, s[f"{n}.running_mean"], s[f"{n}.running_var"], s[f"{n}.weight"], s[f"{n}.bias"])
    h = F.max_pool2d(bn(F.relu(F.conv2d(h, s["conv1.weight"], padding=1)), "bn1"), 2)
    h = F.max_pool2d(bn(F.relu(F.conv2d(h, s["conv2.weight"], padding=2)), "bn1"), 2)
    h = F.max_pool2d(bn(F.relu(F.conv2d(h, s["conv3.weight"], padding=2)), "bn2"), 2)
    h = F.max_pool2d(bn(F.relu(F.conv2d(h, s["conv4.weight"], padding=2)), "bn2"), 4).flatten(1)
    z = F.linear(F.leaky_relu(F.linear(h, s["fc1.weight"], s["fc1.bias"]), 0.1), s["fc2.weight"], s["fc2.bias"])
    expected = torch.softmax(z, 1)[:, 1].double().numpy()
    np.testing.assert_allclose(det.predict(x), expected, rtol=0, atol=1e-5)


def test_dfbench_meso4inception_loads(tmp_path) -> None:
    g = torch.Generator().manual_seed(1)
    shapes = {}
    for b, cin, (a, bb, c, d) in ((1, 3, (1, 4, 4, 2)), (2, 11, (2, 4, 4, 2))):
        for n, shape in (("conv1", (a, cin, 1, 1)), ("conv2_1", (bb, cin, 1, 1)), ("conv2_2", (bb, bb, 3, 3)),
                         ("conv3_1", (c, cin, 1, 1)), ("conv3_2", (c, c, 3, 3)), ("conv4_1", (d, cin, 1, 1)),
                         ("conv4_2", (d, d, 3, 3))):
            shapes[f"Incption{b}_{n}.weight"] = shape
    shapes.update({"conv1.weight": (16, 12, 5, 5), "conv2.weight": (16, 16, 5, 5), "fc1.weight": (16, 1024),
                   "fc1.bias": (16,), "fc2.weight": (2, 16), "fc2.bias": (2,)})
    s = {k: torch.randn(*v, generator=g) * 0.2 for k, v in shapes.items()}
    for n, c in (("Incption1_bn", 11), ("Incption2_bn", 12), ("bn1", 16)):
        s.update({f"{n}.weight": torch.ones(c), f"{n}.bias": torch.zeros(c), f"{n}.running_mean": torch.zeros(c),
                  f"{n}.running_var": torch.ones(c), f"{n}.num_batches_tracked": torch.tensor(0)})
    path = tmp_path / "meso4Inception_best.pth"
    torch.save({f"backbone.{k}": v for k, v in s.items()}, path)
    det = detectors.create("meso", weights=path)
    assert det.weights.architecture == "mesoinception4-dfbench"
    p = det.predict(torch.rand(2, 3, 256, 256))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    with pytest.raises(CheckpointError, match="mesoinception4-dfbench"):
        detectors.create("meso4", weights=path)


def test_dfbench_xception(tmp_path) -> None:
    src = _det("xception")
    state = {}
    for k, v in src.model.state_dict().items():
        k = k[len("net."):]
        state["backbone." + k] = v
    state["backbone.last_linear.weight"], state["backbone.last_linear.bias"] = _two_class(
        state.pop("backbone.fc.weight"), state.pop("backbone.fc.bias"))
    state.update({"backbone.adjust_channel.0.weight": torch.zeros(512, 2048, 1, 1),
                  "backbone.adjust_channel.0.bias": torch.zeros(512)})
    path = tmp_path / "xception_best.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    det = detectors.create("xception", weights=path)
    assert det.weights.format == "deepfakebench-pth" and det.input_size == 256
    assert det.mean.flatten().tolist() == [0.5, 0.5, 0.5]
    x = torch.rand(2, 3, 256, 256)
    np.testing.assert_allclose(det.predict(x), src.model.eval()(((x - 0.5) / 0.5)).sigmoid().detach().double()
                               .numpy(), rtol=0, atol=1e-5)


def test_dfbench_efficientnetb4(tmp_path) -> None:
    """efficientnet_pytorch names (`_blocks.i._expand_conv` ...) generated from timm's tf_efficientnet_b4."""
    from detectors.convert import _DS, _IR, block_positions
    from detectors.zoo import architecture, build

    # the import rebuilds efficientnet_pytorch's static 380 px padding (tests/test_detector_fidelity.py compares it
    # with their own architecture); this test checks the key renaming on that build
    model = build(architecture("efficientnet", "tf_efficientnet_b4", 256, stem_padding=0, static_same=380), seed=1)
    ours = model.state_dict()
    inv_ir, inv_ds = {v: k for k, v in _IR.items()}, {v: k for k, v in _DS.items()}
    pos = {p: i for i, p in enumerate(block_positions())}
    theirs = {}
    for k, v in ours.items():
        k = k[len("net."):]
        if k.startswith("blocks."):
            _, s, j, rest = k.split(".", 3)
            i = pos[(int(s), int(j))]
            is_ir = f"net.blocks.{s}.{j}.conv_pwl.weight" in ours
            table = inv_ir if is_ir else inv_ds
            mod = next(m for m in sorted(table, key=len, reverse=True) if rest.startswith(m + "."))
            theirs[f"backbone.efficientnet._blocks.{i}.{table[mod]}.{rest[len(mod) + 1:]}"] = v
        elif k.startswith("classifier."):
            continue
        else:
            top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1"}
            head, rest = k.split(".", 1)
            theirs[f"backbone.efficientnet.{top[head]}.{rest}"] = v
    theirs["backbone.last_layer.weight"], theirs["backbone.last_layer.bias"] = _two_class(
        ours["net.classifier.weight"], ours["net.classifier.bias"])
    path = tmp_path / "effnb4_best.pth"
    torch.save({"module." + k: v for k, v in theirs.items()}, path)
    det = detectors.create("efficientnet", weights=path)
    assert det.weights.architecture == "efficientnet:tf_efficientnet_b4:stem-pad0:static-same380"
    assert det.input_size == 256
    x = torch.rand(2, 3, 256, 256)
    expected = torch.sigmoid(model((x - 0.5) / 0.5)).detach().double().numpy()
    np.testing.assert_allclose(det.predict(x), expected, rtol=0, atol=1e-5)


def test_clip_detector_runs_end_to_end_through_the_runner(tmp_path):
    """resnet-lstm (random init) on a tiny generated demo: one clip per video, scores in [0, 1]."""
    from benchmarks import runner
    from benchmarks.config import RunConfig
    from datasets.demo import generate_demo
    from reports import run_files as results

    root = tmp_path / "demo"
    generate_demo(root, seed=6, n_train=0, n_test=2, frames=8)
    config = RunConfig(detectors=["resnet-lstm"], levels=["flip"], dataset="folder", data_root=str(root),
                       random_init=True, num_frames=4, batch_size=3, bootstrap=0, out=str(tmp_path / "run"),
                       cache_dir=str(tmp_path / "cache"))
    result = runner.run(config, progress=False)
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    for row in rows:
        frames = row["frame_scores"].split()
        assert len(frames) == 4 and len(set(frames)) == 1  # the whole video is one clip despite batch size 3
        assert 0 <= float(row["score"]) <= 1
