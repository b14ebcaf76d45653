"""The deepfakebench, ffpp and cs188 presets (issue 18): each preset's settings pinned to its source, explicit flags
over a preset recorded next to it, and a detector fed otherwise than the source fed it listed in the manifest and
report. Sources: docs/protocol.md#protocol-presets."""
from __future__ import annotations

import json

import numpy as np
import pytest

import detectors
from benchmarks import protocols, runner
from benchmarks.cli.presets import follow
from benchmarks.config import RunConfig
from benchmarks.sampling import select_indices
from datasets.demo import generate_demo

FFPP_TEST = {"dataset": "ffpp", "split": "test",
             "dataset_options": {"compression": "c23", "methods": "Deepfakes,FaceSwap,Face2Face,NeuralTextures"}}
HALF = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

PINNED = {
    # DeepfakeBench preprocess.py (32 frames, linspace to the last frame, scale 1.3), detector configs (256 px,
    # 0.5/0.5, c23, FaceForensics++ test), metrics/utils.py (frame AUC; video AUC = mean per video)
    "deepfakebench": ({**FFPP_TEST, "num_frames": 32, "faces.sampling": "linspace", "faces.margin": 1.3,
                       "aggregate": "mean"}, "frame",
                      {n: {"input_size": 256, "normalisation": HALF} for n in ("meso", "meso4", "xception",
                                                                               "efficientnet")}),
    # FaceForensics++ detect_from_video.py (scale 1.3 square, no alignment, every frame: frames not fixed) and
    # transform.py (Resize 299, 0.5/0.5)
    "ffpp": ({**FFPP_TEST, "faces.margin": 1.3, "aggregate": "mean"}, "frame",
             {"xception": {"input_size": 299, "normalisation": HALF}}),
    # the CS188 study (deepfake_detector): Celeb-DF test list, 20 frames linspace without the end, faces found on the
    # perturbed frames, mean of frame sigmoids, LSTMs read the 20 crops as one clip
    "cs188": ({"dataset": "celebdf", "split": "test", "num_frames": 20, "faces.sampling": "even", "faces.margin": 1.3,
               "aggregate": "mean", "levels": ("none", "flip", "heavy"), "apply_at": "frame"}, "video",
              {"meso": {"input_size": 256, "normalisation": HALF}, "xception": {"input_size": 299, "normalisation": HALF},
               "resnet-lstm": {"input_size": 224, "normalisation": IMAGENET, "clip_frames": 20},
               "efficientnet-lstm": {"input_size": 240, "normalisation": IMAGENET, "clip_frames": 20}}),
}


@pytest.mark.parametrize("name", PINNED)
def test_each_preset_holds_its_sources_settings(name):
    settings, headline, inputs = PINNED[name]
    preset = protocols.get(name)
    assert dict(preset.settings) == settings
    assert preset.headline == headline and {k: dict(v) for k, v in preset.detector_input.items()} == inputs
    config = protocols.configure(name)
    record = protocols.record(config)
    assert record["overrides"] == {} and record["headline"] == headline and record["input_differences"] == {}
    assert "github.com/" in preset.source
    # what cannot be reproduced is said, not invented: DeepfakeBench aligns faces, ffpp fixes no frame count
    assert any(d.startswith("alignment:") for d in protocols.get("deepfakebench").deviations)
    assert any(d.startswith("frames:") and "does not state" in d for d in protocols.get("ffpp").deviations)


def test_linspace_sampling_is_deepfakebenchs():
    """np.linspace(0, n - 1, k, endpoint=True, dtype=int): first and last frame; repeats count once."""
    assert select_indices(300, 32, "linspace") == list(np.linspace(0, 299, 32, endpoint=True, dtype=int))
    assert select_indices(300, 32, "linspace")[-1] == 299 and select_indices(300, 32, "even")[-1] < 299
    assert select_indices(10, 32, "linspace") == list(range(10))
    with pytest.raises(ValueError, match="even, linspace, first or every:K"):
        select_indices(10, 2, "spaced")


def test_a_preset_and_an_overriding_flag_record_both(capsys):
    preset = protocols.get("deepfakebench")
    config = follow(RunConfig(num_frames=8, faces=RunConfig().faces.__class__(margin=1.5)), preset,
                    typed={"frames", "margin"})
    assert (config.num_frames, config.faces.margin, config.faces.sampling) == (8, 1.5, "linspace")
    assert capsys.readouterr().err.splitlines() == [
        "note: --margin 1.5 overrides the deepfakebench preset's faces.margin=1.3",
        "note: --frames 8 overrides the deepfakebench preset's num_frames=32"]
    record = protocols.record(config)
    assert record["settings"]["num_frames"] == 32 and record["settings"]["faces.margin"] == 1.3
    assert record["overrides"] == {"num_frames": {"preset": 32, "run": 8}, "faces.margin": {"preset": 1.3, "run": 1.5}}


def test_detectors_fed_otherwise_are_listed():
    keras = detectors.input_contract(detectors.create("meso", weights="MesoInception_DF"))
    found = protocols.input_differences(protocols.get("cs188"), {"meso": keras, "plugin": {"input_size": 7}})
    assert found == {"meso": {"normalisation": {"preset": HALF, "detector": {"mean": [0.0] * 3, "std": [1.0] * 3}}}}
    same = {**keras, "normalisation": {"mean": [0.5000001] * 3, "std": [0.5] * 3}}
    assert protocols.input_differences(protocols.get("cs188"), {"meso": same}) == {}


@pytest.mark.slow
def test_a_preset_run_records_settings_overrides_and_inputs_in_manifest_and_report(tmp_path):
    root = tmp_path / "videos"
    generate_demo(root, seed=2, n_train=0, n_test=2, frames=8)
    config = protocols.configure("deepfakebench", dataset="folder", data_root=str(root), num_frames=2, bootstrap=0,
                                 weights={"meso": "MesoInception_DF"}, levels=["none"], out=str(tmp_path / "run"),
                                 cache_dir=str(tmp_path / "cache"))
    assert config.faces.sampling == "linspace" and config.split == "test" and config.dataset_options == {}
    result = runner.run(config, progress=False)
    preset = json.loads((result.run_dir / "manifest.json").read_text())["protocol_preset"]
    assert preset["name"] == "deepfakebench" and preset["headline"] == "frame"
    assert set(preset["overrides"]) == {"dataset", "num_frames", "dataset_options.compression",
                                        "dataset_options.methods"}  # split "test" is the preset's too
    assert preset["overrides"]["num_frames"] == {"preset": 32, "run": 2}
    assert preset["input_differences"]["meso"]["normalisation"]["preset"] == HALF
    report = (result.run_dir / "report.md").read_text()
    assert "- protocol preset: **deepfakebench**" in report and "the source reports frame-level AUC" in report
    assert "detector `meso` is fed otherwise than the source fed it: normalisation" in report
