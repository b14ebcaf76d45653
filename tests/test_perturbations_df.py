"""DeeperForensics distortions, JPEG and codecs: values from the definitions, monotonic damage, real re-encodes."""
import subprocess
import sys

import numpy as np
import pytest

import perturbations
from perturbations import codecs
from perturbations.deeperforensics import block_count


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def natural(n=4, size=96, noise=4.0):
    """A smooth image with edges and mild texture (stands in for a face crop)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack([120 + 80 * np.sin(x / 9), 110 + 60 * np.cos(y / 13), 90 + 0.8 * (x + y) / 2], -1)
    img[20:50, 30:70] = (210, 60, 40)
    img += np.random.default_rng(0).normal(0, noise, img.shape)
    base = np.clip(img, 0, 255).astype(np.uint8)
    return np.stack([np.roll(base, i, axis=1) for i in range(n)])


def uniform(rgb, n=2, size=64):
    return np.tile(np.array(rgb, np.uint8), (n, size, size, 1))


def run(spec, frames, seed=0):
    return perturbations.get(spec).apply(frames, seed)


@pytest.mark.parametrize("kind", ["CS", "CC", "BW", "GNC", "GB", "PX", "VC", "JPEG"])
def test_damage_grows_with_severity(kind):
    # PX is plain (non-antialiased) bilinear shrinking: odd factors point-sample and alias fine noise, so it
    # gets a noise-free image. BW places no block under 256 px (the reference's min_side // 256), so it gets 256 px
    frames = natural(noise=0.0 if kind == "PX" else 4.0, size=256 if kind == "BW" else 96)
    scores = [psnr(run(f"{kind}:{s}", frames, seed=1), frames) for s in range(1, 6)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] < 99


@pytest.mark.parametrize("severity,factor", list(enumerate([0.85, 0.725, 0.6, 0.475, 0.35], start=1)))
def test_cc_multiplies_and_truncates(severity, factor):
    values = np.arange(256, dtype=np.uint8)
    frames = np.tile(values[None, None, :, None], (1, 4, 1, 3))
    expected = np.floor(values.astype(np.float32) * np.float32(factor)).astype(np.uint8)
    assert np.array_equal(run(f"CC:{severity}", frames)[0, 0, :, 0], expected)
    assert run(f"CC:{severity}", uniform((200, 100, 40)))[0, 0, 0].tolist() == [int(200 * factor), int(100 * factor), int(40 * factor)] or severity == 4


@pytest.mark.parametrize("severity,factor", list(enumerate([0.4, 0.3, 0.2, 0.1, 0.0], start=1)))
def test_cs_scales_chroma_toward_grey(severity, factor):
    r, g, b = 200, 100, 50
    luma = 0.299 * r + 0.587 * g + 0.114 * b  # 124.2
    out = run(f"CS:{severity}", uniform((r, g, b)))[0, 5, 5].astype(float)
    expected = [luma + factor * (c - luma) for c in (r, g, b)]
    assert np.all(np.abs(out - expected) <= 1.01), (out, expected)
    if factor == 0.0:
        assert out.tolist() == [124.0, 124.0, 124.0]


def test_cs_keeps_grey_within_one_level():
    out = run("CS:5", uniform((128, 128, 128)))
    assert np.abs(out.astype(int) - 128).max() <= 1  # the reference's neutral is 0.4978, not 0.5: 128 -> 127 possible


def test_bw_block_counts_and_values():
    # the reference's min_side // 256 * blocks since issue 16 (was blocks * max(1, min_side / 256)): none under
    # 256 px; the former rule stays available as count = "scaled"
    assert [block_count(b, 96, 96) for b in (16, 32, 48, 64, 80)] == [0] * 5
    assert [block_count(b, 96, 96, "scaled") for b in (16, 32, 48, 64, 80)] == [16, 32, 48, 64, 80]
    assert block_count(16, 384, 384) == 16 and block_count(16, 720, 1280) == 32
    frames = uniform((0, 0, 0), n=3, size=96)
    assert np.array_equal(perturbations.get("BW:1").apply(frames, 0), frames)
    out = perturbations.make_step("BW", params={"blocks": 16, "count": "scaled"}).apply(frames, np.random.default_rng(0))[0]
    grey = np.all(out == 128, axis=-1)
    assert set(np.unique(out).tolist()) == {0, 128}
    assert 0 < grey[0].sum() <= 16 * 64 and not np.array_equal(grey[0], grey[1])  # new positions per frame
    one = perturbations.make_step("BW", params={"blocks": 1, "count": "scaled"})
    single, _ = one.apply(frames, np.random.default_rng(0))
    assert [int(np.all(f == 128, axis=-1).sum()) for f in single] == [64, 64, 64]
    ys, xs = np.nonzero(np.all(single[0] == 128, axis=-1))
    assert ys.max() - ys.min() == 7 and xs.max() - xs.min() == 7


@pytest.mark.parametrize("severity,variance", list(enumerate([0.001, 0.002, 0.005, 0.01], start=1)))
def test_gnc_noise_level(severity, variance):
    out = run(f"GNC:{severity}", uniform((128, 128, 128), n=2, size=128)).astype(float)
    luma = 0.299 * out[..., 0] + 0.587 * out[..., 1] + 0.114 * out[..., 2]
    # noise of std sqrt(var) on the reference's Y' = (Y*219+16)/255 / 255 scale -> std sqrt(var) * 255**2 / 219 on Y
    assert luma.std() == pytest.approx(np.sqrt(variance) * 255**2 / 219, rel=0.08)
    assert abs(out.mean() - 127.5) < 1.5
    assert not np.array_equal(out[0], out[1])  # fresh noise per frame, as the reference


@pytest.mark.parametrize("severity,kernel", list(enumerate([7, 9, 13, 17, 21], start=1)))
def test_gb_impulse_response(severity, kernel):
    frames = np.zeros((1, 63, 63, 3), np.uint8)
    frames[0, 31, 31] = 255
    sigma = kernel / 6
    g = np.exp(-np.arange(-(kernel // 2), kernel // 2 + 1) ** 2 / (2 * sigma**2))
    g /= g.sum()
    out = run(f"GB:{severity}", frames)[0, :, :, 0].astype(float)
    assert abs(out[31, 31] - 255 * g[kernel // 2] ** 2) <= 1
    assert np.count_nonzero(out[31]) <= kernel  # support is the kernel


@pytest.mark.parametrize("severity", [1, 3])  # factors 2 and 4: bilinear samples fall between two pixels
def test_px_averages_a_pixel_checkerboard(severity):
    y, x = np.mgrid[0:48, 0:48]
    frames = np.repeat(((x + y) % 2 * 255).astype(np.uint8)[None, :, :, None], 3, -1)
    out = run(f"PX:{severity}", frames)
    assert out.shape == frames.shape and set(np.unique(out).tolist()) <= {127, 128}


def test_px_shrink_size():
    frames = natural(1, 97)
    # factor 5 -> 19 x 19 then back: the output is smooth at that scale (no detail finer than 5 px)
    out = run("PX:4", frames)
    assert out.shape == frames.shape and psnr(out, frames) < psnr(run("PX:1", frames), frames)


def test_jpeg_and_codecs_really_encode():
    frames = natural(6, 64)
    jpeg = [psnr(run(f"JPEG:{s}", frames), frames) for s in range(1, 6)]
    assert all(a > b for a, b in zip(jpeg, jpeg[1:]))
    rates, quality = [], []
    for s in range(1, 6):
        out, params = perturbations.get(f"VC:{s}").apply(frames, 0, return_params=True)
        step = params["steps"][0]
        assert step["encoder"] == "libx264" and step["options"]["crf"] == str([30, 32, 35, 38, 40][s - 1])
        rates.append(step["bytes"])
        quality.append(psnr(out, frames))
    assert all(a > b for a, b in zip(rates, rates[1:])), rates
    assert all(a > b for a, b in zip(quality, quality[1:])), quality
    assert np.array_equal(run("VC:3", frames, 1), run("VC:3", frames, 2))  # pinned encoder: deterministic


def test_h265_step():
    frames = natural(4, 64)
    out, params = perturbations.get("H265:5").apply(frames, 0, return_params=True)
    assert params["steps"][0]["encoder"] == "libx265" and out.shape == frames.shape
    assert psnr(out, frames) < psnr(run("H265:1", frames), frames) < 99


def test_odd_sized_crops_survive_the_codec():
    frames = natural(3, 65)
    assert run("VC:1", frames).shape == frames.shape


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vid") / "src.mp4")
    codecs.encode_frames(natural(20, 64), path, "libx264", {"crf": "5", "preset": "ultrafast"}, fps=25)
    return path


def test_video_stage_reencodes_the_file(source_video, tmp_path):
    decoded = np.stack(list(codecs.decode_frames(source_video)))
    scores, sizes = [], []
    for s in (1, 5):
        dst = tmp_path / f"vc{s}.mp4"
        settings = perturbations.get(f"VC:{s}@video").apply_video(source_video, dst, seed=0)
        step = settings["steps"][0]
        assert step["encoder"] == "libx264" and step["frames"] == 20 and "mbtree" not in step["options"].get("x264-params", "")
        out = np.stack(list(codecs.decode_frames(str(dst))))
        scores.append(psnr(out, decoded))
        sizes.append(dst.stat().st_size)
    assert scores[0] > scores[1] and sizes[0] > sizes[1]
    settings = perturbations.get("H265:3@video").apply_video(source_video, tmp_path / "h.mp4", seed=0)
    assert settings["steps"][0]["encoder"] == "libx265"


def test_video_stage_temporal_and_chain(source_video, tmp_path):
    dst = tmp_path / "t.mp4"
    level = perturbations.get("DROP:5@video+VC:2@video")
    settings = level.apply_video(source_video, dst, seed=3)
    assert [s["step"] for s in settings["steps"]] == ["DROP:5@video", "VC:2@video"]
    assert settings["steps"][0]["n_out"] == 10 and len(list(codecs.decode_frames(str(dst)))) == 10
    assert list(tmp_path.iterdir()) == [dst]  # intermediate file removed
    fps = tmp_path / "f.mp4"
    settings = perturbations.get("FPS:3@video").apply_video(source_video, fps, seed=0)
    assert settings["steps"][0]["fps"] == "25/2" and len(list(codecs.decode_frames(str(fps)))) == 10


def test_missing_encoder_is_a_clear_error(monkeypatch):
    import av
    monkeypatch.setattr(av, "codecs_available", set())
    with pytest.raises(RuntimeError, match="libx265 is not available"):
        run("H265:1", natural(2, 32))


def test_importing_and_parsing_does_not_import_av_or_imgaug():
    code = ("import sys, perturbations; perturbations.expand('df:all,heavy,df:mix'); perturbations.get('VC:3')\n"
            "assert 'av' not in sys.modules and 'imgaug' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
