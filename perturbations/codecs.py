"""Real compression: JPEG (cv2), H.264/H.265 re-encodes through PyAV/FFmpeg, on clips or whole files, and the
DeeperForensics write-back (`write_back`: XVID .avi, then H.264 CRF 23, as the reference's `--via_xvid`).

x264 runs with its defaults at the given CRF (preset medium, macroblock-tree on), like the reference's
`ffmpeg -i in -crf N out`, except one thread (x264's output depends on its thread count) and, on CPUs with
AVX-512, x264's AVX2 code instead of its AVX-512 code (`x264_cpu_override`): with mb-tree on, the AVX-512 path
gave different bytes for the same frames from one encode to the next (7 variants in 30 encodes of a 64x64 clip),
the AVX2 path never did, and where the AVX-512 path was stable it gave the AVX2 path's bytes.
x265 keeps `cutree=0` and one thread. `av` is imported inside the functions so `import perturbations` stays light.
"""
from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

ENCODERS = {"h264": "libx264", "h265": "libx265"}


def jpeg(frames: np.ndarray, rng: np.random.Generator, quality: int) -> tuple[np.ndarray, dict]:
    """JPEG at `quality` (OpenCV/libjpeg, 4:2:0), encoded from BGR as an image file would be."""
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("cv2.imencode failed for JPEG")
        out[i] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return out, {}


# x264's CPU flag names up to AVX2; every CPU with AVX-512 has all of them
X264_AVX2 = "MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2,LZCNT,AVX,FMA3,BMI1,BMI2,AVX2"


@lru_cache(maxsize=1)
def x264_cpu_override() -> str:
    """`asm=...` limiting x264 to its AVX2 code on a CPU with AVX-512 (Linux: /proc/cpuinfo), else "" (x264
    detects the CPU itself). Listing flags the CPU lacks would crash x264, hence only with AVX-512 present."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    flags = {word for line in text.splitlines() if line.startswith("flags") for word in line.split()}
    return f"asm={X264_AVX2}" if "avx512f" in flags else ""


def encoder_options(codec: str, crf: int, preset: str = "medium") -> dict[str, str]:
    """The FFmpeg private options used for `codec` (recorded in the manifest)."""
    if codec == "libx264":  # x264's defaults otherwise (mbtree on): the reference's plain `ffmpeg -crf`
        options = {"crf": str(crf), "preset": preset, "threads": "1"}
        return {**options, "x264-params": x264_cpu_override()} if x264_cpu_override() else options
    if codec == "libx265":
        return {"crf": str(crf), "preset": preset, "threads": "1",
                "x265-params": "cutree=0:pools=none:frame-threads=1:log-level=error"}
    raise ValueError(f"unsupported codec {codec!r}")


def check_encoder(codec: str) -> None:
    import av
    if codec not in av.codecs_available:
        raise RuntimeError(f"encoder {codec} is not available in this PyAV/FFmpeg build "
                           f"(needed for {'H265' if codec == 'libx265' else 'VC'}); install a PyAV wheel with it")


def _open_stream(container, codec: str, width: int, height: int, fps: Fraction, options: dict[str, str],
                 pix_fmt: str = "yuv420p"):
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.options = options
    stream.codec_context.thread_count = 1
    return stream


def encode_frames(frames: Iterable[np.ndarray], path: str, codec: str, options: dict[str, str], fps: Fraction,
                  pix_fmt: str = "yuv420p") -> int:
    """Encode RGB uint8 frames (even width/height for yuv420p) to `path`; returns the frame count."""
    import av
    stream = None
    count = 0
    with av.open(str(path), mode="w") as container:
        for array in frames:
            if stream is None:
                stream = _open_stream(container, codec, array.shape[1], array.shape[0], fps, options, pix_fmt)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
            count += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return count


def decode_frames(path: str) -> Iterator[np.ndarray]:
    """RGB frames of the first video stream, display rotation applied (as the benchmark's decoder reads them)."""
    import av
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            array = frame.to_ndarray(format="rgb24")
            turns = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4
            yield np.ascontiguousarray(np.rot90(array, turns)) if turns else array


def video_fps(path: str) -> Fraction:
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate).limit_denominator(100000) if rate else Fraction(25)


def encode_clip(frames: np.ndarray, codec: str = "libx264", crf: int = 23, preset: str = "medium",
                fps: int = 25) -> tuple[np.ndarray, dict]:
    """Encode a frame sequence as one clip and decode it back (odd sizes are edge-padded to even, then cut).

    Sampled crops are far apart in time, so this measures mostly intra-frame damage; for real
    inter-frame artefacts use the video stage (`reencode_video`).
    """
    check_encoder(codec)
    n, h, w, _ = frames.shape
    padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge") if (h % 2 or w % 2) else frames
    options = encoder_options(codec, crf, preset)
    with tempfile.TemporaryDirectory(prefix="dfbench-codec-") as tmp:
        path = os.path.join(tmp, "clip.mp4")
        encode_frames(padded, path, codec, options, Fraction(fps))
        size = os.path.getsize(path)
        decoded = list(decode_frames(path))
    if len(decoded) != n:
        raise RuntimeError(f"{codec} round trip returned {len(decoded)} frames for {n}")
    out = np.stack(decoded)[:, :h, :w]
    return out, {"encoder": codec, "options": options, "bytes": size,
                 "kbps": round(size * 8 / 1000 / (n / fps), 3)}


def h264_clip(frames, rng, crf: int, preset: str = "medium", fps: int = 25):
    return encode_clip(frames, "libx264", crf, preset, fps)


def h265_clip(frames, rng, crf: int, preset: str = "medium", fps: int = 25):
    return encode_clip(frames, "libx265", crf, preset, fps)


def reencode_video(src: str | os.PathLike, dst: str | os.PathLike, codec: str = "libx264", crf: int = 23,
                   preset: str = "medium") -> dict[str, Any]:
    """Re-encode a whole video file (streaming, every frame, same frame rate, no audio) to `dst`.

    A plain yuv420p source (even size, no rotation: nearly every dataset video) goes to the encoder as decoded,
    YUV in and YUV out like the reference's `ffmpeg -i in -crf N out` (an RGB round trip costs up to 0.5 dB
    PSNR at CRF 30: docs/perturbations.md). Other sources are decoded upright (rotation applied) to RGB and cropped to an even size.
    Returns the encoder settings for the manifest.
    """
    check_encoder(codec)
    fps = video_fps(str(src))
    options = encoder_options(codec, crf, preset)
    if _plain_yuv420p(str(src)):
        n, (h, w) = _reencode_yuv(str(src), str(dst), codec, options, fps)
        return {"encoder": codec, "options": options, "pix_fmt": "yuv420p", "input": "yuv420p", "fps": str(fps),
                "frames": n, "size": [h, w], "source_size": [h, w], "bytes": os.path.getsize(dst)}
    shape: list[tuple[int, int]] = []

    def even(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for f in frames:
            if not shape:
                shape.append(f.shape[:2])
            yield f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2]

    n = write_stream(even(decode_frames(str(src))), str(dst), codec, options, fps)
    h, w = shape[0] if shape else (0, 0)
    return {"encoder": codec, "options": options, "pix_fmt": "yuv420p", "input": "rgb24", "fps": str(fps),
            "frames": n, "size": [h // 2 * 2, w // 2 * 2], "source_size": [h, w], "bytes": os.path.getsize(dst)}


def _plain_yuv420p(path: str) -> bool:
    """Whether the first frame is yuv420p, of even size and unrotated (so it can be encoded as decoded)."""
    import av
    with av.open(path) as container:
        for frame in container.decode(video=0):
            return (frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0
                    and not (getattr(frame, "rotation", 0) or 0))
    return False


def _reencode_yuv(src: str, dst: str, codec: str, options: dict[str, str], fps: Fraction) -> tuple[int, tuple]:
    import av
    stream, count, size = None, 0, (0, 0)
    with av.open(src) as source, av.open(dst, mode="w") as container:
        for frame in source.decode(video=0):
            if stream is None:
                size = (frame.height, frame.width)
                stream = _open_stream(container, codec, frame.width, frame.height, fps, options)
            frame.pts, frame.time_base = count, 1 / fps
            container.mux(stream.encode(frame))
            count += 1
        if stream is not None:
            container.mux(stream.encode(None))
    if count == 0:
        raise RuntimeError(f"no frames could be decoded to write {dst}")
    return count, size


def write_stream(frames: Iterable[np.ndarray], path: str, codec: str, options: dict[str, str], fps: Fraction,
                 pix_fmt: str = "yuv420p") -> int:
    n = encode_frames(frames, path, codec, options, fps, pix_fmt)
    if n == 0:
        raise RuntimeError(f"no frames could be decoded to write {path}")
    return n


def write_lossless(frames: Iterable[np.ndarray], path: str, fps: Fraction) -> dict[str, Any]:
    """Lossless RGB (libx264rgb, qp 0) for video-stage steps that must not add compression (temporal edits)."""
    options = {"qp": "0", "preset": "ultrafast", "threads": "1"}
    n = write_stream(frames, path, "libx264rgb", options, fps, pix_fmt="rgb24")
    return {"encoder": "libx264rgb", "options": options, "pix_fmt": "rgb24", "fps": str(fps), "frames": n}


def h264_video(src, dst, rng, crf: int, preset: str = "medium", fps: int = 25):
    """VC at the video stage (`fps` is ignored: the source frame rate is kept)."""
    return reencode_video(src, dst, "libx264", crf, preset)


def h265_video(src, dst, rng, crf: int, preset: str = "medium", fps: int = 25):
    return reencode_video(src, dst, "libx265", crf, preset)


# --- DeeperForensics write-back ----------------------------------------------------------------

XVID_GOP, XVID_QMIN = 12, 3


def xvid_options(width: int, height: int, fps: int) -> dict[str, str]:
    """What OpenCV's `cv2.VideoWriter(path, fourcc('X','V','I','D'), fps, (w, h))` sets on FFmpeg's native `mpeg4`
    encoder (the one it picks for the XVID tag; PyAV's FFmpeg has no libxvid): bit rate and tolerance
    fps*w*h + 2 * (fps*w*h // 2), qmin 3, a keyframe every 12 frames (OpenCV's cap_ffmpeg_impl.hpp). With these
    settings the .avi is byte-identical to OpenCV's (tests/test_df_fidelity.py)."""
    rate = int(fps * width * height + 0.5)
    rate += 2 * (rate // 2)
    return {"b": str(rate), "bt": str(rate), "qmin": str(XVID_QMIN), "g": str(XVID_GOP)}


def xvid_avi(frames: np.ndarray, fps: int = 25) -> bytes:
    """RGB frames (even size) as OpenCV's XVID writer stores them: an .avi from FFmpeg's `mpeg4` encoder with
    `xvid_options`, each frame converted from BGR to yuv420p by swscale (bicubic, as OpenCV asks)."""
    import io

    import av
    n, h, w, _ = frames.shape
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="avi") as container:
        stream = _open_stream(container, "mpeg4", w, h, Fraction(fps), xvid_options(w, h, fps))
        stream.codec_tag = "XVID"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[..., ::-1]), format="bgr24")
            frame = frame.reformat(format="yuv420p", interpolation="BICUBIC")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def h264_from_avi(avi: bytes, fps: int = 25) -> bytes:
    """`ffmpeg -i tmp.avi out.mp4`: the decoded yuv420p frames through libx264 at its defaults (CRF 23)."""
    import io

    import av
    out = io.BytesIO()
    with av.open(io.BytesIO(avi), format="avi") as source, av.open(out, mode="w", format="mp4") as container:
        stream = None
        for i, frame in enumerate(source.decode(video=0)):
            if stream is None:
                stream = _open_stream(container, "libx264", frame.width, frame.height, Fraction(fps),
                                      encoder_options("libx264", 23))
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        if stream is not None:
            container.mux(stream.encode(None))
    return out.getvalue()


def write_back(frames: np.ndarray, mode: str = "xvid+h264", fps: int = 25) -> tuple[np.ndarray, dict]:
    """The DeeperForensics write-back (`add_distortion_to_video.py --via_xvid`): the distorted frames written
    to an XVID .avi with OpenCV's settings (`xvid_avi`), then `ffmpeg -i tmp.avi out.mp4` (`h264_from_avi`:
    libx264 at its defaults, CRF 23, preset medium, on the decoded yuv420p frames), then decoded to RGB as the
    benchmark reads videos. Odd sizes are edge-padded to even and cut back (OpenCV drops the last row/column
    instead). The sequence is encoded as one clip at `fps` (the XVID bit budget per frame does not depend on it).
    """
    import io

    import av
    if mode != "xvid+h264":
        raise ValueError(f"unknown write-back mode {mode!r} (use 'xvid+h264')")
    n, h, w, _ = frames.shape
    padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge") if (h % 2 or w % 2) else frames
    avi = xvid_avi(padded, fps)
    mp4 = h264_from_avi(avi, fps)
    with av.open(io.BytesIO(mp4), format="mp4") as container:
        out = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if len(out) != n:
        raise RuntimeError(f"write-back returned {len(out)} frames for {n}")
    xvid = xvid_options(padded.shape[2], padded.shape[1], fps)
    settings = {"mode": mode, "xvid": "mpeg4 tag XVID " + " ".join(f"{k}={v}" for k, v in xvid.items()),
                "h264": "libx264 " + " ".join(f"{k}={v}" for k, v in encoder_options("libx264", 23).items()),
                "avi_bytes": len(avi), "mp4_bytes": len(mp4)}
    return np.stack(out)[:, :h, :w], settings
