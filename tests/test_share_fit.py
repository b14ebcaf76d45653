"""`python -m benchmarks levels fit-share`: pairs encoded here with known settings (plain PyAV/libx264, OpenCV
resize, independent of the SHARE chain) must give back their resolution exactly and their CRF within 2, and the
levels file it writes must load and run (`--level NAME`, `share:NAME:N`)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import perturbations
from benchmarks.cli import main
from perturbations.share_fit import fit_share, probe

W, H, FPS, N = 320, 240, 30, 45


def clip(seed: int) -> np.ndarray:
    """Moving texture with mild noise: a bit rate that depends on the CRF in a smooth way."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    frames = []
    for i in range(N):
        base = np.stack([128 + 70 * np.sin((x + 2 * i) / (7 + seed)), 128 + 60 * np.cos((y - i) / 11),
                         100 + 50 * np.sin((x + y + 3 * i) / 17)], -1)
        frames.append(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


def encode(path: Path, frames: np.ndarray, fps: int, options: dict[str, str], codec: str = "libx264",
           pix_fmt: str = "yuv420p") -> None:
    import av
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.options = options
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")))
        container.mux(stream.encode(None))


def make_pairs(root: Path, crf: int, size: tuple[int, int], fps: int) -> tuple[Path, Path]:
    """Originals: near-lossless 320x240 at 30 fps; shared: resized with OpenCV, every (30/fps)-th frame, libx264
    at `crf` (preset medium, High profile)."""
    originals, shared = root / "orig", root / "shared"
    originals.mkdir()
    shared.mkdir()
    for seed in (1, 2):
        frames = clip(seed)
        encode(originals / f"v{seed}.mp4", frames, FPS, {"qp": "0", "preset": "ultrafast"}, "libx264rgb", "rgb24")
        step = FPS // fps
        small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames[::step]])
        encode(shared / f"v{seed}.mp4", small, fps, {"crf": str(crf), "preset": "medium", "profile": "high",
                                                        "threads": "1"})
    return originals, shared


@pytest.mark.parametrize("crf,size,fps", [(30, (160, 120), 15), (22, (240, 180), 30)])
def test_fit_share_recovers_crf_and_resolution(tmp_path, crf, size, fps):
    originals, shared = make_pairs(tmp_path, crf, size, fps)
    fit = fit_share(originals, shared, name="myplatform")
    assert len(fit.pairs) == 2 and fit.unmatched == ()
    for pair in fit.pairs:
        assert abs(pair.crf - crf) <= 2, (pair.crf, crf, pair.shared.kbps, pair.crf_kbps)
    p = fit.params
    assert abs(p["crf"] - crf) <= 2
    assert (p["short_side"], p["long_side"]) == (min(size), max(size))
    assert p["fps_max"] == (float(fps) if fps < FPS else 0.0)
    assert p["profile"] == "high" and p["codec"] == "h264"


def test_fit_share_cli_writes_a_levels_file_that_runs(tmp_path):
    originals, shared = make_pairs(tmp_path, 30, (160, 120), 15)
    (originals / "lonely.mp4").write_bytes((originals / "v1.mp4").read_bytes())  # no shared copy: reported
    out = tmp_path / "levels.toml"
    assert main(["levels", "fit-share", "--originals", str(originals), "--shared", str(shared),
                 "--name", "myplatform", "--out", str(out)]) == 0
    assert main(["levels", "fit-share", "--originals", str(originals), "--shared", str(shared),
                 "--name", "myplatform", "--out", str(out)]) == 2          # exists: needs --force
    text = out.read_text()
    assert "lonely.mp4" in text and "[levels.myplatform]" in text
    try:
        assert perturbations.load_levels_file(out) == ["myplatform"]
        level = perturbations.get("myplatform")
        assert level.stages("face") == ("video",) and perturbations.get("share:myplatform:2").name == "share:myplatform:2"
        dst = tmp_path / "again.mp4"
        settings = level.apply_video(originals / "v1.mp4", dst, seed=0)
        info = probe(dst)
        assert (info.width, info.height) == (160, 120) and float(info.fps) == 15.0
        assert settings["steps"][0]["platform"] == "myplatform"
    finally:
        perturbations.unregister("myplatform")


def test_fit_share_bad_inputs(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["levels", "fit-share", "--originals", str(empty), "--shared", str(empty), "--name", "x",
                 "--out", str(tmp_path / "l.toml")]) == 2
    assert "no pairs" in capsys.readouterr().err
    assert main(["levels", "fit-share", "--originals", str(tmp_path / "nope"), "--shared", str(empty), "--name", "x",
                 "--out", str(tmp_path / "l.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["levels", "fit-share", "--originals", str(empty), "--shared", str(empty), "--name", "youtube",
                 "--out", str(tmp_path / "l.toml")]) == 2
    assert "built-in preset" in capsys.readouterr().err
    assert not (tmp_path / "l.toml").exists()
