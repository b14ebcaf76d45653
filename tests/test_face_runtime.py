"""CenterFace on ONNX Runtime (the default) against OpenCV's DNN module (the runtime of older runs): same faces,
one session for every input shape, the runtime part of the face settings, the cache key and the run's identity."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.config import FaceSettings, RunConfig
from benchmarks.pipeline.face_cache import FaceCache
from benchmarks.pipeline.face_detectors import CenterFaceDetector, make_detector
from benchmarks.pipeline.faces import extract_faces
from benchmarks.run_folder.manifest import protocol_fields
from benchmarks.runner import RunError, resolve_run_dir
from datasets.demo import generate_demo
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def runtimes() -> dict[str, CenterFaceDetector]:
    return {name: CenterFaceDetector(runtime=name) for name in ("onnxruntime", "opencv")}


@pytest.fixture(scope="module")
def demo_clips(tmp_path_factory) -> list:
    root = generate_demo(tmp_path_factory.mktemp("demo"), seed=0, n_train=0, n_test=6, frames=12)
    return sorted(root.rglob("*.mp4"))


def test_both_runtimes_find_the_same_faces_on_generated_clips(runtimes, demo_clips):
    for clip in demo_clips:
        a, b = (extract_faces(clip, 8, FaceSettings(runtime=r), runtimes[r]) for r in ("onnxruntime", "opencv"))
        assert a.status == b.status == "ok", (clip, a.message, b.message)
        assert a.detected.tolist() == b.detected.tolist()
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1.0)  # float rounding, never another face


def test_both_runtimes_agree_on_a_real_1080p_video(runtimes):
    path = shared_path("videos", "dfdc", "samples", "lynaeydofd.mp4")
    a, b = (extract_faces(path, 16, FaceSettings(runtime=r), runtimes[r]) for r in ("onnxruntime", "opencv"))
    assert a.ok and b.ok and a.detected.sum() == b.detected.sum() >= 14
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1.0)


def test_one_session_serves_every_input_shape_in_any_order(runtimes):
    """The CenterFace file declares a fixed 10x3x32x32 input; the session frees it. cv2.dnn needed one network per
    shape (a smaller input after a larger one gave false faces), so shapes are run large, small, large here."""
    rng = np.random.default_rng(0)
    flat = {shape: np.full((*shape, 3), 128, np.uint8) for shape in ((360, 640), (192, 192), (100, 130))}
    for shape in [(360, 640), (192, 192), (100, 130), (360, 640)]:
        onnx_boxes = runtimes["onnxruntime"].detect_window(flat[shape])
        assert onnx_boxes.shape == (0, 5), shape  # no face on a flat grey frame, whatever ran before
    noise = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    assert runtimes["onnxruntime"].detect(noise).shape[1] == 5


def test_runtime_is_validated_and_chosen_by_the_settings():
    with pytest.raises(ValueError, match="unknown face runtime 'tensorrt'; use onnxruntime or opencv"):
        FaceSettings(runtime="tensorrt")
    with pytest.raises(ValueError, match="unknown face runtime"):
        CenterFaceDetector(runtime="cuda")
    assert make_detector(FaceSettings(runtime="opencv")).runtime == "opencv"
    assert make_detector(FaceSettings()).runtime == "onnxruntime"


def test_runtime_is_part_of_the_face_cache_key_and_the_protocol(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"same bytes")
    cache = FaceCache(tmp_path / "cache")
    assert cache.key(video, 8, FaceSettings()) != cache.key(video, 8, FaceSettings(runtime="opencv"))
    manifest = {"config": {"faces": {"runtime": "opencv"}}}
    assert protocol_fields(manifest)["faces.runtime"] == "opencv"


def test_old_runs_keep_their_identity_with_the_opencv_runtime_only(tmp_path):
    """A run made before --face-runtime ran cv2.dnn: it resumes with `--face-runtime opencv`, and the default
    (another runtime, crops that can differ) is refused with a line that says how to continue it."""
    old = RunConfig(detectors=["meso"], levels=["none"], out=str(tmp_path / "run"))
    old_dict = old.to_dict()
    del old_dict["faces"]["runtime"]
    old_fingerprint = _fingerprint_without_runtime(old)
    assert RunConfig.from_dict({**old_dict, "faces": {**old_dict["faces"], "runtime": "opencv"}}).fingerprint() \
        == old_fingerprint
    assert old.fingerprint() != old_fingerprint  # the default runtime is a different configuration
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({"config_fingerprint": old_fingerprint, "config": old_dict}))
    with pytest.raises(RunError, match="add --face-runtime opencv to continue it"):
        resolve_run_dir(old)
    opencv = RunConfig.from_dict({**old_dict, "faces": {**old_dict["faces"], "runtime": "opencv"}})
    assert resolve_run_dir(opencv) == run_dir


def _fingerprint_without_runtime(config: RunConfig) -> str:
    """The fingerprint code of before --face-runtime: the same fields, no `runtime` among the face settings."""
    import hashlib

    from benchmarks.config import EXECUTION_FIELDS

    data = config.to_dict()
    for name in ("out", "cache_dir", *EXECUTION_FIELDS, "follow_symlinks", "protocol"):
        data.pop(name, None)
    for name, default in (("precision", "fp32"), ("backend", "torch"), ("df_write_back", "none")):
        if data.get(name) == default:
            data.pop(name)
    del data["faces"]["runtime"]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
