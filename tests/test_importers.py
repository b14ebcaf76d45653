"""Importers for modern detectors' published checkpoint layouts, with synthetic checkpoints in the original key layout
(no network here to fetch the real ones): self-blended images (SBI) EfficientNet-B4 and UniversalFakeDetect's CLIP
linear probe. Each goes through `weights import` and is scored by a run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("timm")

import detectors  # noqa: E402
from benchmarks import runner  # noqa: E402
from benchmarks.cli import main as cli_main  # noqa: E402
from benchmarks.config import RunConfig  # noqa: E402
from datasets.demo import generate_demo  # noqa: E402
from detectors import clip_probe  # noqa: E402
from detectors.convert import CLIP_NORM, block_positions  # noqa: E402
from detectors.zoo import architecture, build  # noqa: E402
from reports import run_files as results  # noqa: E402

# efficientnet_pytorch module names -> timm's, for writing a checkpoint the way SBI's code saves one
IR = {"conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1", "se.conv_reduce":
      "_se_reduce", "se.conv_expand": "_se_expand", "conv_pwl": "_project_conv", "bn3": "_bn2"}
DS = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand",
      "conv_pw": "_project_conv", "bn2": "_bn2"}
TOP = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1"}


def _as_sbi(ours: dict[str, torch.Tensor], head: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """timm tf_efficientnet_b4 state -> SBI's `net.*` (efficientnet_pytorch) names with a 2-class `net._fc`."""
    pos = {p: i for i, p in enumerate(block_positions())}
    theirs = {}
    for k, v in ours.items():
        k = k.removeprefix("net.")
        if k.startswith("blocks."):
            _, s, j, rest = k.split(".", 3)
            table = IR if f"net.blocks.{s}.{j}.conv_pwl.weight" in ours else DS
            mod = next(m for m in sorted(table, key=len, reverse=True) if rest.startswith(m + "."))
            theirs[f"net._blocks.{pos[(int(s), int(j))]}.{table[mod]}.{rest[len(mod) + 1:]}"] = v
        elif not k.startswith("classifier."):
            top, rest = k.split(".", 1)
            theirs[f"net.{TOP[top]}.{rest}"] = v
    theirs["net._fc.weight"], theirs["net._fc.bias"] = head, bias
    return theirs


@pytest.fixture(scope="module")
def sbi(tmp_path_factory):
    """(timm model with the same weights, 2-class head, SBI checkpoint as train_sbi.py saves it)."""
    model = build(architecture("efficientnet", "tf_efficientnet_b4", 380, static_same=380), seed=3)
    g = torch.Generator().manual_seed(4)
    head, bias = torch.randn(2, 1792, generator=g) * 0.05, torch.tensor([0.1, -0.2])
    path = tmp_path_factory.mktemp("sbi") / "FFc23.tar"
    torch.save({"model": _as_sbi(model.state_dict(), head, bias), "optimizer": {"state": {}, "param_groups": [
        {"lr": 0.001, "momentum": 0.9, "rho": 0.05, "params": [0, 1]}]}, "epoch": 99}, path)
    return model, head, bias, path


def test_sbi_checkpoint_imports_with_its_input_and_softmax_convention(sbi):
    model, head, bias, path = sbi
    det = detectors.create("efficientnet", weights=path)
    assert det.weights.format == "sbi-pth" and det.input_size == 380
    assert det.weights.architecture == "efficientnet:tf_efficientnet_b4:static-same380"
    assert det.checkpoint_card()["normalisation"] == {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    x = torch.rand(2, 3, 380, 380, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():   # SBI: the [0, 1] image straight in, softmax(1)[:, 1] = P(fake)
        features = model.net.forward_head(model.net.forward_features(x), pre_logits=True)
        expected = torch.softmax(F.linear(features, head, bias), dim=1)[:, 1].double().numpy()
    np.testing.assert_allclose(det.predict(x), expected, rtol=0, atol=1e-6)


def test_sbi_matches_efficientnet_pytorch_itself(tmp_path):
    """Against SBI's architecture built by efficientnet_pytorch (the dev extra), as its model.py builds it."""
    efficientnet_pytorch = pytest.importorskip("efficientnet_pytorch", reason="the dev extra builds SBI's model")
    torch.manual_seed(0)
    net = efficientnet_pytorch.EfficientNet.from_name("efficientnet-b4", num_classes=2, image_size=380).eval()
    path = tmp_path / "sbi.tar"
    torch.save({"model": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    x = torch.rand(2, 3, 380, 380, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(x).softmax(1)[:, 1].double().numpy()
    np.testing.assert_allclose(detectors.create("efficientnet", weights=path).predict(x), expected, atol=1e-4)


# --- UniversalFakeDetect: a small CLIP ViT in OpenAI's key layout -----------------------------------------------

WIDTH, LAYERS, PATCH, SIZE, OUT = 64, 2, 16, 64, 32


def _openai_visual(g: torch.Generator) -> dict[str, torch.Tensor]:
    """OpenAI CLIP `VisionTransformer` keys (clip/model.py), random values, heads = width // 64 = 1."""
    r = lambda *shape, s=0.05: torch.randn(*shape, generator=g) * s  # noqa: E731
    state = {"visual.conv1.weight": r(WIDTH, 3, PATCH, PATCH), "visual.class_embedding": r(WIDTH, s=0.5),
             "visual.positional_embedding": r((SIZE // PATCH) ** 2 + 1, WIDTH, s=0.5),
             "visual.ln_pre.weight": 1 + r(WIDTH), "visual.ln_pre.bias": r(WIDTH),
             "visual.ln_post.weight": 1 + r(WIDTH), "visual.ln_post.bias": r(WIDTH), "visual.proj": r(WIDTH, OUT, s=0.2)}
    for i in range(LAYERS):
        p = f"visual.transformer.resblocks.{i}."
        state.update({p + "attn.in_proj_weight": r(3 * WIDTH, WIDTH, s=0.1), p + "attn.in_proj_bias": r(3 * WIDTH),
                      p + "attn.out_proj.weight": r(WIDTH, WIDTH, s=0.1), p + "attn.out_proj.bias": r(WIDTH),
                      p + "ln_1.weight": 1 + r(WIDTH), p + "ln_1.bias": r(WIDTH), p + "ln_2.weight": 1 + r(WIDTH),
                      p + "ln_2.bias": r(WIDTH), p + "mlp.c_fc.weight": r(4 * WIDTH, WIDTH, s=0.1),
                      p + "mlp.c_fc.bias": r(4 * WIDTH), p + "mlp.c_proj.weight": r(WIDTH, 4 * WIDTH, s=0.1),
                      p + "mlp.c_proj.bias": r(WIDTH)})
    return state


def _encode_image(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """OpenAI CLIP's VisionTransformer.forward, written out from clip/model.py (QuickGELU, pre-LN, class token)."""
    ln = lambda t, n: F.layer_norm(t, (WIDTH,), s[n + ".weight"], s[n + ".bias"], 1e-5)  # noqa: E731
    t = F.conv2d(x, s["visual.conv1.weight"], stride=PATCH).flatten(2).transpose(1, 2)
    t = torch.cat([s["visual.class_embedding"].expand(len(x), 1, WIDTH), t], 1) + s["visual.positional_embedding"]
    t = ln(t, "visual.ln_pre").transpose(0, 1)  # L x N x D
    for i in range(LAYERS):
        p = f"visual.transformer.resblocks.{i}."
        h = ln(t, p + "ln_1")
        t = t + F.multi_head_attention_forward(
            h, h, h, WIDTH, 1, s[p + "attn.in_proj_weight"], s[p + "attn.in_proj_bias"], None, None, False, 0.0,
            s[p + "attn.out_proj.weight"], s[p + "attn.out_proj.bias"], training=False, need_weights=False)[0]
        h = F.linear(ln(t, p + "ln_2"), s[p + "mlp.c_fc.weight"], s[p + "mlp.c_fc.bias"])
        t = t + F.linear(h * torch.sigmoid(1.702 * h), s[p + "mlp.c_proj.weight"], s[p + "mlp.c_proj.bias"])
    return ln(t.transpose(0, 1)[:, 0], "visual.ln_post") @ s["visual.proj"]


@pytest.fixture(scope="module")
def ufd(tmp_path_factory):
    """(visual state, fc weight, fc bias, full checkpoint as trainer.py saves it, fc_weights.pth, CLIP file)."""
    g = torch.Generator().manual_seed(7)
    visual = _openai_visual(g)
    w, b = torch.randn(1, OUT, generator=g), torch.tensor([0.05])
    folder = tmp_path_factory.mktemp("ufd")
    text = {"model.transformer.resblocks.0.ln_1.weight": torch.ones(8), "model.token_embedding.weight": torch.ones(4, 8),
            "model.logit_scale": torch.tensor(4.6)}   # the text tower, saved too, unused for images
    full = {**{f"model.{k}": v for k, v in visual.items()}, **text, "fc.weight": w, "fc.bias": b}
    torch.save({"model": full, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
                "total_steps": 10}, folder / "model_epoch_best.pth")
    torch.save({"weight": w, "bias": b}, folder / "fc_weights.pth")
    torch.save({**visual, "token_embedding.weight": torch.ones(4, 8)}, folder / "clip_openai.pt")
    return visual, w, b, folder


def _ufd_expected(visual, w, b, x: torch.Tensor) -> np.ndarray:
    mean, std = (torch.tensor(CLIP_NORM[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    with torch.no_grad():   # validate.py: Normalize(CLIP mean/std), model(x).sigmoid()
        return torch.sigmoid(F.linear(_encode_image(visual, (x - mean) / std), w, b)).reshape(-1).double().numpy()


def test_ufd_checkpoint_and_probe_plus_backbone_score_as_their_code(ufd):
    visual, w, b, folder = ufd
    x = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    expected = _ufd_expected(visual, w, b, x)
    assert np.ptp(expected) > 1e-3
    full = detectors.create("clip-probe", weights=folder / "model_epoch_best.pth")
    assert full.input_size == SIZE and full.weights.format == "ufd-pth"
    assert full.weights.architecture == f"clip-vit:w{WIDTH}-l{LAYERS}-p{PATCH}-s{SIZE}-o{OUT}"
    np.testing.assert_allclose(full.predict(x), expected, rtol=0, atol=1e-5)
    probe = detectors.create("clip-probe", weights=folder / "fc_weights.pth",
                             backbone_weights=folder / "clip_openai.pt")
    np.testing.assert_allclose(probe.predict(x), expected, rtol=0, atol=1e-5)
    assert probe.weights.card["backbone_weights"]["sha256"] == detectors.sha256_file(folder / "clip_openai.pt")
    with pytest.raises(detectors.CheckpointError, match="linear probe alone.*--backbone-weights"):
        detectors.create("clip-probe", weights=folder / "fc_weights.pth")


def test_clip_probe_variants_are_openai_clips():
    """OpenAI's towers by name (built at random init only when asked: ViT-L/14 is 304 M parameters)."""
    arch = clip_probe.architecture(clip_probe.variant_dims(None))
    assert arch.architecture == "clip-vit:w1024-l24-p14-s224-o768" and arch.input_size == 224
    assert clip_probe.architecture(clip_probe.variant_dims("ViT-B/32")).architecture == "clip-vit:w768-l12-p32-s224-o512"
    with pytest.raises(ValueError, match="ViT-L/14"):
        detectors.create("clip-probe", random_init=True, variant="ViT-X")


@pytest.mark.slow
def test_import_round_trips_then_score_in_a_run(sbi, ufd, tmp_path, capsys):
    """`weights import` writes a card with each source's input contract; a run loads the result and scores."""
    _, _, _, sbi_path = sbi
    visual, w, b, folder = ufd
    out = {"efficientnet": tmp_path / "sbi.safetensors", "clip-probe": tmp_path / "ufd.safetensors"}
    assert cli_main(["weights", "import", str(sbi_path), "--detector", "efficientnet", "--out",
                     str(out["efficientnet"])]) == 0
    assert cli_main(["weights", "import", str(folder / "fc_weights.pth"), "--detector", "clip-probe", "--option",
                     f"backbone_weights={folder / 'clip_openai.pt'}", "--out", str(out["clip-probe"])]) == 0
    capsys.readouterr()
    sbi_card = json.loads(out["efficientnet"].with_suffix(".json").read_text())
    assert sbi_card["input_size"] == 380 and sbi_card["normalisation"]["std"] == [1.0, 1.0, 1.0]
    assert sbi_card["source_sha256"] == detectors.sha256_file(sbi_path) and "self-blended" in sbi_card["provenance"]
    ufd_card = json.loads(out["clip-probe"].with_suffix(".json").read_text())
    assert ufd_card["normalisation"]["mean"] == pytest.approx(CLIP_NORM["mean"]) and ufd_card["input_size"] == SIZE
    x = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(detectors.create("clip-probe", weights=out["clip-probe"]).predict(x),
                               _ufd_expected(visual, w, b, x), rtol=0, atol=1e-5)
    x380 = torch.rand(1, 3, 380, 380, generator=torch.Generator().manual_seed(6))
    np.testing.assert_allclose(detectors.create("efficientnet", weights=out["efficientnet"]).predict(x380),
                               detectors.create("efficientnet", weights=sbi_path).predict(x380), rtol=0, atol=1e-7)

    root = tmp_path / "demo"
    generate_demo(root, seed=6, n_train=0, n_test=2, frames=6)
    config = RunConfig(detectors=list(out), levels=["flip"], dataset="folder", data_root=str(root),
                       weights={k: str(v) for k, v in out.items()}, num_frames=2, bootstrap=0,
                       out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    result = runner.run(config, progress=False)
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 2 * 2 * 2 and all(r["status"] == "ok" for r in rows)
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    for name, path in out.items():
        assert manifest["detectors"][name]["sha256"] == detectors.sha256_file(path)
    assert manifest["detectors"]["clip-probe"]["input"]["normalisation"]["std"] == pytest.approx(CLIP_NORM["std"])


def test_a_probes_score_cache_identity_follows_its_backbone_file(ufd, tmp_path):
    """Same probe, same backbone path, other backbone content: cached scores must not be reused."""
    from benchmarks.inference.score_cache import detector_fingerprint

    visual, w, b, folder = ufd
    backbone = tmp_path / "clip.pt"
    prints = []
    for scale in (1.0, 0.5):
        torch.save({k: v * scale for k, v in visual.items()}, backbone)
        det = detectors.create("clip-probe", weights=folder / "fc_weights.pth", backbone_weights=backbone)
        options = {"backbone_weights": str(backbone)}
        prints.append(detector_fingerprint("clip-probe", det, options, detectors.input_contract(det)))
    assert None not in prints and prints[0] != prints[1]
