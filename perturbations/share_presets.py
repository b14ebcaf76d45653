"""Platform re-sharing presets (`share:NAME`, `share:NAME:N`): the SHARE step's parameters per platform, and
where each number comes from. Plain data, so the spec parser and `benchmarks list` read it without PyAV.

A preset is what a platform does to an uploaded video before a viewer (or a re-sharer) downloads it: rescale
to its delivery resolution (never up), cap the frame rate, re-encode with H.264 at a CRF with a bit-rate cap
(VBV), a profile, a keyframe interval and 4:2:0 chroma. No platform publishes its transcoder settings: the
sources below are the platforms' own upload/format guides (resolution, codec, profile, frame rate) and, where
nothing is published (the delivery CRF and bit-rate cap), our choice with its reasoning. `python -m benchmarks
levels fit-share` calibrates a preset from your own original/shared pairs instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SharePreset:
    name: str
    description: str  # one line: what the chain is, and its source
    params: dict[str, Any]  # SHARE step parameters (see steps.py)
    published: tuple[str, ...]  # which parameters a source gives
    assumed: str  # which are our choice where nothing is published, and why


def _p(short_side: int, long_side: int, fps_max: float, crf: int, maxrate: int, profile: str, gop_seconds: float,
       bframes: int, max_width: int = 0) -> dict[str, Any]:
    return {"short_side": short_side, "long_side": long_side, "max_width": max_width, "fps_max": fps_max,
            "crf": crf, "maxrate": maxrate, "bufsize": maxrate, "profile": profile, "gop_seconds": gop_seconds,
            "bframes": bframes, "pix_fmt": "yuv420p", "codec": "h264", "preset": "medium"}


ASSUMED_RATE = ("delivery CRF and bit-rate cap: not published by the platform (its transcoder settings are "
                "private); chosen so the cap binds on detailed content at the delivery size, ordered by what "
                "re-sharing studies report qualitatively (messengers compress hardest)")

PRESETS: dict[str, SharePreset] = {p.name: p for p in [
    SharePreset(
        "youtube",
        "YouTube re-share: 720p rendition (short side 720), <= 30 fps, H.264 High, 2 B-frames, closed GOP of half "
        "the frame rate (YouTube Help 'Recommended upload encoding settings', support.google.com/youtube/answer/"
        "1722171); CRF 23 capped at 2.5 Mbps (cap and CRF not published: assumed)",
        _p(720, 1280, 30.0, 23, 2500, "high", 0.5, 2),
        ("profile high", "2 consecutive B-frames", "closed GOP of half the frame rate", "4:2:0", "720p rendition"),
        ASSUMED_RATE),
    SharePreset(
        "facebook",
        "Facebook re-share: at most 720p (short side 720), <= 30 fps, H.264 High, 4:2:0 (Facebook video specs as "
        "summarised by creator guides: 720p HD delivery, H.264, 30 fps recommended); CRF 26 capped at 2 Mbps, "
        "GOP 2 s (not published: assumed)",
        _p(720, 1280, 30.0, 26, 2000, "high", 2.0, 3),
        ("720p maximum delivery", "H.264 High profile", "30 fps"),
        ASSUMED_RATE + "; GOP 2 s: the usual adaptive-streaming segment length"),
    SharePreset(
        "instagram",
        "Instagram feed re-share: width <= 1080 (portrait 1080x1920 max, landscape 1080 wide), <= 30 fps, H.264 "
        "High, 4:2:0 (Instagram/Meta upload specs: 1080 px wide, 30 fps, H.264); CRF 25 capped at 3.5 Mbps, "
        "GOP 2 s (not published: assumed)",
        _p(1080, 1920, 30.0, 25, 3500, "high", 2.0, 3, max_width=1080),
        ("1080 px maximum width", "H.264", "30 fps"),
        ASSUMED_RATE),
    SharePreset(
        "tiktok",
        "TikTok re-share: short side <= 720 (720x1280 portrait), <= 30 fps, H.264 High, 4:2:0 (TikTok upload "
        "guides: 9:16, 30 fps, H.264); CRF 27 capped at 1.5 Mbps, GOP 2 s (delivery size, CRF and cap not "
        "published: assumed from the 720x1280 downloads commonly reported)",
        _p(720, 1280, 30.0, 27, 1500, "high", 2.0, 3),
        ("H.264", "30 fps", "9:16 portrait"),
        ASSUMED_RATE + "; short side 720: TikTok serves several renditions, 720x1280 is the common download"),
    SharePreset(
        "whatsapp",
        "WhatsApp re-share: short side <= 480 (854x480), <= 30 fps, H.264 Main without B-frames, 4:2:0 (WhatsApp "
        "Business media docs: H.264 Main without B-frames or Baseline, 16 MB limit); CRF 28 capped at 1.2 Mbps, "
        "GOP 2 s (size, CRF and cap not published: assumed)",
        _p(480, 854, 30.0, 28, 1200, "main", 2.0, 0),
        ("H.264 Main profile without B-frames", "16 MB limit per video"),
        ASSUMED_RATE + "; short side 480: the resolution of WhatsApp's default 'standard quality' sends as "
        "commonly reported, not documented by WhatsApp"),
    SharePreset(
        "telegram",
        "Telegram re-share (sent as video, not as file): short side <= 720, <= 30 fps, H.264 Main, 4:2:0 (Telegram "
        "Bot API: MPEG4 with H.264 for videos); CRF 26 capped at 1.8 Mbps, GOP 2 s (size, CRF and cap not "
        "published: assumed)",
        _p(720, 1280, 30.0, 26, 1800, "main", 2.0, 2),
        ("H.264 in MP4",),
        ASSUMED_RATE + "; short side 720: the client's default compression for videos sent as video"),
]}

MAX_TIMES = 10  # `share:NAME:N`: N re-shares, 1..MAX_TIMES


def preset_params(name: str, times: int = 1) -> dict[str, Any]:
    """SHARE step parameters for preset `name` applied `times` times; a ValueError lists the presets."""
    if name not in PRESETS:
        raise ValueError(f"unknown sharing preset {name!r} (presets: {', '.join(PRESETS)}, or share:all)")
    if not isinstance(times, int) or not 1 <= times <= MAX_TIMES:
        raise ValueError(f"share:{name}:N: N (re-shares) must be 1-{MAX_TIMES}, got {times!r}")
    return {**PRESETS[name].params, "platform": name, "times": times}


def share_label(params: dict[str, Any]) -> str | None:
    """`share:NAME[:N]` when the parameters are exactly a preset's, or name a platform of your own (a fitted
    level, reachable as `share:NAME` once its file is loaded); None (the generic label) otherwise."""
    name, times = params.get("platform", "custom"), params.get("times", 1)
    suffix = f":{times}" if times != 1 else ""
    if name in PRESETS:
        same = all(params.get(k) == v for k, v in PRESETS[name].params.items())
        return f"share:{name}{suffix}" if same else None
    return None if name == "custom" else f"share:{name}{suffix}"
