"""Speed regression suite for the hot stages (pytest-benchmark).

In the normal test run these execute once as smoke tests (`--benchmark-disable` in pyproject). To measure and
compare: `python -m pytest tests/speed --benchmark-enable --benchmark-autosave`, later
`python -m pytest tests/speed --benchmark-enable --benchmark-compare` (add `--benchmark-compare-fail=mean:20%` to
fail on a slowdown).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import detectors
import perturbations
from benchmarks.config import FaceSettings
from benchmarks.pipeline.decode import read_frames
from benchmarks.pipeline.face_detectors import make_detector
from benchmarks.pipeline.faces import extract_faces
from datasets.demo import generate_demo


@pytest.fixture(scope="module")
def demo_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed") / "demo"
    generate_demo(root, seed=5, n_train=0, n_test=2, frames=48)
    return next((root / "fake").glob("*.mp4"))


@pytest.fixture(scope="module")
def crops(demo_video):
    return extract_faces(demo_video, 8, FaceSettings()).crops


def test_decode_32_frames(benchmark, demo_video):
    sample = benchmark(read_frames, demo_video, 32)
    assert len(sample.frames) == 32


def test_decode_and_faces_32_frames(benchmark, demo_video):
    settings = FaceSettings()
    detector = make_detector(settings)
    faces = benchmark(extract_faces, demo_video, 32, settings, detector)
    assert faces.status == "ok" and len(faces.crops) == 32


@pytest.mark.parametrize("level", ["flip", "heavy", "CS:3", "CC:3", "BW:3", "GNC:3", "GB:3", "PX:3", "VC:3",
                                   "JPEG:3", "ROT:3", "DROP:3", "CAPTION:3", "STICKER:3", "BEAUTY:3", "RECAPTURE:3"])
def test_perturbation_on_8_crops(benchmark, crops, level):
    lv = perturbations.get(level)
    out = benchmark(lv.apply, crops, 1)
    assert out.dtype == np.uint8 and out.shape[1:] == crops.shape[1:]


@pytest.mark.parametrize("name", ["meso", "meso4"])
def test_detector_forward_16_frames(benchmark, name):
    detector = detectors.create(name, random_init=True)
    x = torch.rand(16, 3, detector.input_size, detector.input_size)
    p = benchmark(detector.predict, x)
    assert p.shape == (16,) and np.all((p >= 0) & (p <= 1))
