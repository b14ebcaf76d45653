"""Real compression: JPEG (cv2), H.264/H.265 re-encodes through PyAV/FFmpeg, on clips or whole files.

Encoder settings are pinned for reproducibility: one thread, and `mbtree=0` for x264 (`cutree=0`
for x265), because with macroblock-tree rate control repeated encodes in one process were seen to
differ. `av` is imported inside the functions so `import perturbations` stays light.
"""
from __future__ import annotations

import os
import tempfile
from fractions import Fraction
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


def encoder_options(codec: str, crf: int, preset: str = "medium") -> dict[str, str]:
    """The FFmpeg private options used for `codec` (recorded in the manifest)."""
    if codec == "libx264":
        return {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0", "threads": "1"}
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

    Frames are decoded upright (rotation applied) and cropped to even width/height for yuv420p.
    Returns the encoder settings for the manifest.
    """
    check_encoder(codec)
    fps = video_fps(str(src))
    options = encoder_options(codec, crf, preset)
    shape: list[tuple[int, int]] = []

    def even(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for f in frames:
            if not shape:
                shape.append(f.shape[:2])
            yield f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2]

    n = write_stream(even(decode_frames(str(src))), str(dst), codec, options, fps)
    h, w = shape[0] if shape else (0, 0)
    return {"encoder": codec, "options": options, "pix_fmt": "yuv420p", "fps": str(fps), "frames": n,
            "size": [h // 2 * 2, w // 2 * 2], "source_size": [h, w], "bytes": os.path.getsize(dst)}


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
