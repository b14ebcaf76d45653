"""Calibrate a sharing preset from your own pairs: originals and the copies a platform gave back.

`fit_share(originals, shared, name=...)` measures each pair through PyAV (size with display rotation applied,
frame rate, codec, profile, bit rate of the video packets, keyframe interval), then finds for each pair the CRF at
which our chain (the same rescale and frame-rate cap, libx264/libx265, the shared copy's profile and GOP)
reproduces the shared copy's bit rate at its resolution: a bisection over CRF 0-51 encoding the original
(bit rate falls monotonically with CRF). The preset takes the size limits and frame-rate cap the platform applied
and the median CRF; `levels_toml` writes it as a levels file for `--levels-file`. No bit-rate cap is fitted
(a handful of pairs cannot tell a cap from the CRF); add `maxrate` by hand if you know it.
"""
from __future__ import annotations

import math
import os
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .codecs import video_fps
from .share_presets import PRESETS
from .sharing import CODECS, encoder_settings, transcode

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".3gp")
PROFILES = {"constrained baseline": "baseline", "baseline": "baseline", "main": "main"}  # anything else: high
NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: Fraction
    codec: str  # FFmpeg decoder name: h264, hevc, vp9, av1 ...
    profile: str
    pix_fmt: str
    frames: int
    kbps: float  # video packets only: bytes * 8 / 1000 / (frames / fps)
    gop_seconds: float  # median keyframe interval (the clip's duration when it has one keyframe)


@dataclass(frozen=True)
class PairFit:
    original: VideoInfo
    shared: VideoInfo
    crf: int
    crf_kbps: float  # our chain's bit rate at that CRF


@dataclass(frozen=True)
class ShareFit:
    name: str
    pairs: tuple[PairFit, ...]
    params: dict  # SHARE step parameters
    notes: tuple[str, ...] = field(default=())
    unmatched: tuple[str, ...] = field(default=())  # originals without a shared copy (reported, not used)


def probe(path: str | os.PathLike) -> VideoInfo:
    """What the platform delivered: upright size, rate, codec, profile, bit rate, keyframe spacing."""
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or 25
        fps = Fraction(rate).limit_denominator(100000)
        ctx = stream.codec_context
        codec, profile, pix_fmt = ctx.name, (stream.profile or ""), (ctx.pix_fmt or "")
        sizes, keys = [], []
        for packet in container.demux(stream):
            if packet.size:
                if packet.is_keyframe:
                    keys.append(len(sizes))
                sizes.append(packet.size)
    with av.open(str(path)) as container:
        first = next(container.decode(video=0))
        turns = int(round((getattr(first, "rotation", 0) or 0) / 90)) % 2
        width, height = (first.height, first.width) if turns else (first.width, first.height)
    if not sizes:
        raise ValueError(f"{path}: no video packets")
    gaps = [b - a for a, b in zip(keys, keys[1:])] or [len(sizes)]
    return VideoInfo(str(path), width, height, fps, codec, profile, pix_fmt, len(sizes),
                     sum(sizes) * 8 / 1000 / (len(sizes) / float(fps)), statistics.median(gaps) / float(fps))


def pairs_in(originals: Path, shared: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(original, shared copy) matched by file stem; originals without a copy are returned separately."""
    for folder, flag in ((originals, "originals"), (shared, "shared")):
        if not folder.is_dir():
            raise ValueError(f"{flag} folder {folder} does not exist or is not a folder")
    copies = {p.stem: p for p in sorted(shared.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES}
    pairs, unmatched = [], []
    for path in sorted(originals.iterdir()):
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        if path.stem in copies:
            pairs.append((path, copies[path.stem]))
        else:
            unmatched.append(path.name)
    if not pairs:
        raise ValueError(f"no pairs: no video in {originals} has a copy with the same file stem in {shared} "
                         f"(video suffixes: {', '.join(VIDEO_SUFFIXES)})")
    return pairs, unmatched


def fit_crf(original: str, *, target_kbps: float, size: tuple[int, int], fps_max: float, codec: str = "h264",
            profile: str = "high", gop_seconds: float = 2.0, preset: str = "medium") -> tuple[int, float]:
    """The CRF (0-51) whose encode of `original` at `size` (width, height) and rate cap comes closest to
    `target_kbps` (in log ratio), with its bit rate. Bisection: about 7 encodes."""
    width, height = size
    rules = (min(width, height), max(width, height), 0)
    measured: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="dfbench-fit-") as tmp:
        def kbps(crf: int) -> float:
            if crf not in measured:
                fps = Fraction(fps_max).limit_denominator(1001) if fps_max else video_fps(original)
                options = encoder_settings(CODECS[codec], crf, preset=preset, fps=fps, gop_seconds=gop_seconds,
                                           bframes=-1, profile=profile)
                done = transcode(original, os.path.join(tmp, f"crf{crf}.mp4"), codec=CODECS[codec],
                                 options=options, fps_max=fps_max, size_rules=rules)
                measured[crf] = done["kbps"]
            return measured[crf]
        lo, hi = 0, 51
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if kbps(mid) > target_kbps else (lo, mid)
        best = min((lo, hi), key=lambda c: abs(math.log(kbps(c) / target_kbps)))
    return best, measured[best]


def fit_share(originals: str | os.PathLike, shared: str | os.PathLike, *, name: str,
              preset: str = "medium") -> ShareFit:
    """Fit a SHARE preset named `name` from the pairs in two folders (matched by file stem)."""
    if not NAME.match(name) or name in PRESETS or name in ("all", "custom"):
        raise ValueError(f"--name {name!r}: letters, digits, - and _ only, not a built-in preset "
                         f"({', '.join(PRESETS)}), 'all' or 'custom'")
    found, unmatched = pairs_in(Path(originals), Path(shared))
    notes, fits = [], []
    for orig_path, shared_path in found:
        orig, copy = probe(orig_path), probe(shared_path)
        codec = "h265" if copy.codec == "hevc" else "h264"
        if copy.codec not in ("h264", "hevc"):
            notes.append(f"{shared_path.name}: codec {copy.codec}, emulated with H.264")
        if copy.pix_fmt not in ("yuv420p", "yuvj420p"):
            notes.append(f"{shared_path.name}: pixel format {copy.pix_fmt}, emulated with yuv420p")
        fps_cap = float(copy.fps) if copy.fps < orig.fps - Fraction(1, 100) else 0.0
        crf, kbps = fit_crf(str(orig_path), target_kbps=copy.kbps, size=(copy.width, copy.height), fps_max=fps_cap,
                            codec=codec, profile=PROFILES.get(copy.profile.lower(), "high"),
                            gop_seconds=copy.gop_seconds, preset=preset)
        fits.append(PairFit(orig, copy, crf, kbps))
    down = [f for f in fits if min(f.shared.width, f.shared.height) < min(f.original.width, f.original.height)]
    capped = [f for f in fits if f.shared.fps < f.original.fps - Fraction(1, 100)]
    profiles = [PROFILES.get(f.shared.profile.lower(), "high") for f in fits]
    codecs = ["h265" if f.shared.codec == "hevc" else "h264" for f in fits]
    params = {
        "platform": name,
        "short_side": max((min(f.shared.width, f.shared.height) for f in down), default=0),
        "long_side": max((max(f.shared.width, f.shared.height) for f in down), default=0),
        "max_width": 0,
        "fps_max": round(max((float(f.shared.fps) for f in capped), default=0.0), 3),
        "crf": int(round(statistics.median(f.crf for f in fits))),
        "maxrate": 0, "bufsize": 0,
        "profile": max(set(profiles), key=profiles.count),
        "gop_seconds": round(statistics.median(f.shared.gop_seconds for f in fits), 3),
        "bframes": -1, "pix_fmt": "yuv420p",
        "codec": max(set(codecs), key=codecs.count),
        "preset": preset, "times": 1,
    }
    return ShareFit(name, tuple(fits), params, tuple(notes), tuple(unmatched))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def levels_toml(fit: ShareFit, originals: str = "", shared: str = "") -> str:
    """The fitted preset as a levels file (`--levels-file`), one comment line per pair."""
    p = fit.params
    size = f"short side <= {p['short_side']}, long side <= {p['long_side']}" if p["short_side"] else "size kept"
    rate = f"<= {p['fps_max']} fps" if p["fps_max"] else "frame rate kept"
    description = (f"{fit.name} re-share fitted by `levels fit-share` from {len(fit.pairs)} pair(s): {size}, {rate}, "
                   f"{p['codec'].upper()} {p['profile']} CRF {p['crf']} (median CRF reproducing the shared bit rates), "
                   f"GOP {p['gop_seconds']} s; no bit-rate cap fitted")
    lines = ["# Written by `python -m benchmarks levels fit-share`" + (f" from {originals} and {shared}" if originals else ""),
             "# Use: python -m benchmarks run --levels-file THIS.toml --level " + fit.name
             + f"  (or share:{fit.name}:N for N re-shares)", "# pair: original -> shared copy; fitted CRF"]
    for f in fit.pairs:
        lines.append(f"#   {Path(f.original.path).name}: {f.original.width}x{f.original.height} {float(f.original.fps):.3f} fps "
                     f"{f.original.kbps:.0f} kbps -> {f.shared.width}x{f.shared.height} {float(f.shared.fps):.3f} fps "
                     f"{f.shared.codec} {f.shared.profile or '?'} {f.shared.kbps:.0f} kbps; CRF {f.crf} gives {f.crf_kbps:.0f} kbps")
    lines += [f"# note: {n}" for n in fit.notes] + [f"# no shared copy (not used): {u}" for u in fit.unmatched]
    step = ", ".join(f"{k} = {_toml_value(v)}" for k, v in p.items())
    lines += ["", f"[levels.{fit.name}]", f"description = {_toml_value(description)}", "in_all = false",
              f"steps = [{{ type = \"SHARE\", {step} }}]", ""]
    return "\n".join(lines)
