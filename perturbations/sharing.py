"""Platform re-sharing (SHARE, `share:NAME[:N]`) and video calls (CALL): real re-encodes of the file through PyAV.

SHARE is a platform's transcode chain, applied `times` times (each re-share decodes the previous copy):
frame-rate cap (nearest-frame selection, as FFmpeg's `fps` filter), rescale to the delivery size (short side,
long side and width limits; never up; bicubic swscale in YUV), H.264 (libx264) or H.265 at a CRF with a VBV
bit-rate cap, a profile, a keyframe interval in seconds, B-frames and 4:2:0 chroma. CALL is a video call's
receive side: downscale, frame-rate drop, a constant low bit rate (x264 zerolatency, constrained baseline, 1 s
buffer) and frozen frames (the receiver holds the last picture while packets are missing), placed once per
video from the generator. Presets and their sources: `share_presets.py`.

On a frame sequence (face crops, sampled frames: the gallery and `Level.apply`) the same chain runs on the
sequence as a 25 fps clip, without the frame-rate change (sampled frames are far apart), and the result is
resized back to the input size; the run puts both types at the video stage, where the whole file is shared.
"""
from __future__ import annotations

import math
import os
import tempfile
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from .codecs import check_encoder, decode_frames, video_fps, write_lossless, x264_cpu_override
from .temporal import count_frames

CLIP_FPS = Fraction(25)
SCALER = "BICUBIC"
CODECS = {"h264": "libx264", "h265": "libx265"}


def delivery_size(width: int, height: int, short_side: int = 0, long_side: int = 0,
                  max_width: int = 0) -> tuple[int, int]:
    """(width, height) after a platform's size rules: the largest scale <= 1 that keeps the short side <=
    `short_side`, the long side <= `long_side` and the width <= `max_width` (0: no limit), aspect kept, both
    rounded to even numbers as FFmpeg's `scale=-2:N` does."""
    scale = 1.0
    for limit, side in ((short_side, min(width, height)), (long_side, max(width, height)), (max_width, width)):
        if limit and side > limit:
            scale = min(scale, limit / side)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def frame_selection(n_in: int, fps_in: Fraction, fps_out: Fraction) -> list[int]:
    """Source frame index of every output frame when the rate drops from `fps_in` to `fps_out` (nearest frame)."""
    if fps_out >= fps_in:
        return list(range(n_in))
    ratio = Fraction(fps_in) / Fraction(fps_out)
    out, j = [], 0
    while (i := math.floor(j * ratio + Fraction(1, 2))) < n_in:
        out.append(i)
        j += 1
    return out


def encoder_settings(codec: str, crf: int | None, *, preset: str, fps: Fraction, gop_seconds: float,
                     bframes: int, profile: str, maxrate: int = 0, bufsize: int = 0, bitrate: int = 0,
                     tune: str = "") -> dict[str, str]:
    """FFmpeg options for libx264/libx265: CRF (or `bitrate` ABR) with a VBV cap (kbit/s), a keyframe interval,
    B-frames (-1: the encoder's default) and a profile; one thread, as every encode of the suite."""
    gop = max(1, int(round(gop_seconds * float(fps))))
    if codec == "libx264":
        options = {"preset": preset, "threads": "1", "profile": profile, "g": str(gop)}
        options.update({"crf": str(crf)} if crf is not None else {"b": f"{bitrate}k"})
        if maxrate:
            options.update(maxrate=f"{maxrate}k", bufsize=f"{bufsize or maxrate}k")
        if bframes >= 0:
            options["bf"] = str(bframes)
        if tune:
            options["tune"] = tune
        return {**options, "x264-params": x264_cpu_override()} if x264_cpu_override() else options
    params = f"cutree=0:pools=none:frame-threads=1:log-level=error:keyint={gop}"
    params += f":bframes={bframes}" if bframes >= 0 else ""
    params += f":vbv-maxrate={maxrate}:vbv-bufsize={bufsize or maxrate}" if maxrate else ""
    rate = {"crf": str(crf)} if crf is not None else {"b": f"{bitrate}k"}
    return {**rate, "preset": preset, "threads": "1", "x265-params": params}


def _upright(frame):
    """The frame with its display rotation applied (as the benchmark's decoder shows it). Frames that are not
    YUV (planar RGB from libx264rgb, say) go through packed RGB first, as the benchmark's decoder reads them:
    swscale's direct gbrp -> yuv420p conversion assumes another range (up to 11 grey levels apart)."""
    import av
    turns = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4
    if not turns and frame.format.name.startswith("yuv"):
        return frame
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), turns)),
                                      format="rgb24")


def transcode(src: str, dst: str, *, codec: str, options: dict[str, str], fps_max: float, size_rules: tuple,
              freeze: frozenset[int] = frozenset()) -> dict[str, Any]:
    """One pass: decode `src`, keep the frames of the capped rate, rescale, hold the last picture on the output
    frames in `freeze`, encode. Returns what was done (sizes, rates, frame counts, bit rate of the video packets)."""
    import av
    check_encoder(codec)
    fps_in = video_fps(src)
    fps_out = min(fps_in, Fraction(fps_max).limit_denominator(1001)) if fps_max else fps_in
    selection = frame_selection(count_frames(src), fps_in, fps_out)
    wanted: dict[int, list[int]] = {}
    for j, i in enumerate(selection):
        wanted.setdefault(i, []).append(j)
    stream, size, source_size, held, n_bytes, n_out, n_in = None, (0, 0), (0, 0), None, 0, 0, 0
    with av.open(src) as source, av.open(dst, mode="w") as container:
        for i, frame in enumerate(source.decode(video=0)):
            n_in += 1
            for j in wanted.get(i, ()):
                if stream is None:
                    upright = _upright(frame)
                    source_size = (upright.height, upright.width)
                    w, h = delivery_size(upright.width, upright.height, *size_rules)
                    size = (h, w)
                    stream = container.add_stream(codec, rate=fps_out)
                    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                    stream.options = dict(options)
                    stream.codec_context.thread_count = 1
                if j not in freeze or held is None:
                    held = _upright(frame).reformat(width=size[1], height=size[0], format="yuv420p",
                                                    interpolation=SCALER)
                out = av.VideoFrame.from_ndarray(held.to_ndarray(), format="yuv420p") if j in freeze else held
                out.pts, out.time_base = j, 1 / fps_out
                packets = stream.encode(out)
                n_bytes += sum(p.size for p in packets)
                container.mux(packets)
                n_out += 1
        if stream is None:
            raise RuntimeError(f"no frames could be decoded from {src}")
        packets = stream.encode(None)
        n_bytes += sum(p.size for p in packets)
        container.mux(packets)
    return {"encoder": codec, "options": options, "size": list(size), "source_size": list(source_size),
            "fps": str(fps_out), "source_fps": str(fps_in), "frames": n_out, "n_in": n_in,
            "kbps": round(n_bytes * 8 / 1000 / (n_out / float(fps_out)), 3), "bytes": os.path.getsize(dst)}


# --- SHARE ---------------------------------------------------------------------------------------------------

def share_video(src, dst, rng: np.random.Generator, *, short_side: int, long_side: int, max_width: int,
                fps_max: float, crf: int, maxrate: int, bufsize: int, profile: str, gop_seconds: float,
                bframes: int, pix_fmt: str, codec: str, preset: str, platform: str, times: int) -> dict[str, Any]:
    """SHARE at the video stage: the platform chain `times` times (re-shares), each pass on the previous copy."""
    passes, current = [], str(src)
    for k in range(times):
        target = str(dst) if k == times - 1 else f"{dst}.share{k}.mp4"
        fps = video_fps(current)
        fps = min(fps, Fraction(fps_max).limit_denominator(1001)) if fps_max else fps
        options = encoder_settings(CODECS[codec], crf, preset=preset, fps=fps, gop_seconds=gop_seconds,
                                   bframes=bframes, profile=profile, maxrate=maxrate, bufsize=bufsize)
        try:
            passes.append(transcode(current, target, codec=CODECS[codec], options=options, fps_max=fps_max,
                                    size_rules=(short_side, long_side, max_width)))
        finally:
            if current != str(src):
                os.remove(current)
        current = target
    last = passes[-1]
    return {"platform": platform, "times": times, "pix_fmt": pix_fmt, "size": last["size"], "fps": last["fps"],
            "kbps": last["kbps"], "n_out": last["frames"], "passes": passes}


def _on_clip(frames: np.ndarray, video_fn, rng: np.random.Generator, params: dict) -> tuple[np.ndarray, dict]:
    """Run a video-stage function on a frame sequence written as a lossless 25 fps clip; the frames come back
    at the input size (resized when the chain changed it) and count."""
    n, h, w, _ = frames.shape
    with tempfile.TemporaryDirectory(prefix="dfbench-share-") as tmp:
        src, dst = os.path.join(tmp, "src.mp4"), os.path.join(tmp, "dst.mp4")
        write_lossless(iter(frames), src, CLIP_FPS)
        drawn = video_fn(src, dst, rng, **params)
        out = [f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC)
               for f in decode_frames(dst)]
    drawn["n_out"] = len(out)
    return np.stack(out), drawn


def share_clip(frames: np.ndarray, rng: np.random.Generator, **params) -> tuple[np.ndarray, dict]:
    """SHARE on a frame sequence (gallery, `Level.apply`): the chain on the sequence as a 25 fps clip, the frame
    rate kept (sampled frames are far apart), resized back to the input size."""
    return _on_clip(frames, share_video, rng, {**params, "fps_max": 0.0})


# --- CALL ----------------------------------------------------------------------------------------------------

def freeze_frames(n: int, rng: np.random.Generator, fraction: float, length: int) -> list[int]:
    """Output frames that repeat the previous picture: round(fraction * n) frames (at least one when fraction > 0
    and n > 1) in runs of `length`, at uniform random starts (drawn once per video), never the first frame."""
    if fraction <= 0 or n < 2:
        return []
    target = max(1, int(round(fraction * n)))
    events = max(1, math.ceil(target / length))
    starts = rng.integers(1, n, size=events)
    frozen = {j for s in starts.tolist() for j in range(s, min(n, s + length))}
    return sorted(frozen)


def call_video(src, dst, rng: np.random.Generator, *, short_side: int, fps: float, kbps: int, freeze: float,
               freeze_len: int) -> dict[str, Any]:
    """CALL at the video stage: a video call's received stream (downscale, frame-rate drop, constant low bit
    rate, frozen frames drawn per video)."""
    fps_in = video_fps(str(src))
    fps_out = min(fps_in, Fraction(fps).limit_denominator(1001))
    n_out = len(frame_selection(count_frames(str(src)), fps_in, fps_out))
    frozen = freeze_frames(n_out, rng, freeze, freeze_len)
    options = encoder_settings("libx264", None, preset="veryfast", fps=fps_out, gop_seconds=10.0, bframes=0,
                               profile="baseline", maxrate=kbps, bufsize=kbps, bitrate=kbps, tune="zerolatency")
    done = transcode(str(src), str(dst), codec="libx264", options=options, fps_max=fps,
                     size_rules=(short_side, 0, 0), freeze=frozenset(frozen))
    return {**done, "n_out": done["frames"], "frozen": frozen}


def call_clip(frames: np.ndarray, rng: np.random.Generator, **params) -> tuple[np.ndarray, dict]:
    """CALL on a frame sequence: downscale, low bit rate and frozen frames on the sequence as a 25 fps clip, no
    frame-rate drop (sampled frames are far apart), resized back to the input size."""
    return _on_clip(frames, call_video, rng, {**params, "fps": 1000.0})
