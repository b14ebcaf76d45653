"""Frame sampling: one sequential decoding pass per video.

Videos such as the DFDC clips have only a couple of key frames, so seeking to each sampled
frame would decode most of the file many times over.  We therefore decode every frame once,
in order, and convert to RGB only the frames we keep; decoding stops after the last sampled
index.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..sampling import sample_indices

__all__ = [
    "VideoReadError",
    "FrameSample",
    "VideoInfo",
    "DecodeProgress",
    "count_frames",
    "probe_video",
    "iter_frames",
    "read_frames",
    "write_video",
]

READ_STATUSES = ("missing_file", "unreadable", "no_video_stream", "no_frames")


class VideoReadError(RuntimeError):
    """A video that cannot be used; `status` is one of READ_STATUSES (a machine-readable reason)."""

    def __init__(self, status: str, path: str | os.PathLike, detail: str = "") -> None:
        if status not in READ_STATUSES:
            raise ValueError(f"unknown video status {status!r}")
        self.status = status
        self.path = str(path)
        message = f"{status}: {Path(path).name}" + (f" ({_one_line(detail)})" if detail else "")
        super().__init__(message)


@dataclass
class FrameSample:
    """Sampled RGB frames: `frames[i]` is frame number `indices[i]` of the video."""

    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    indices: list[int]
    total_frames: int
    fps: float | None


@dataclass(frozen=True)
class VideoInfo:
    """What we know about a video before decoding it."""

    total_frames: int
    fps: float | None


@dataclass
class DecodeProgress:
    """Filled in by `iter_frames` so callers learn how far decoding went.

    `exhausted` is True when the stream ended before all requested indices were reached: the
    container's frame count was wrong and `decoded` is then the real number of frames.
    """

    decoded: int = 0
    exhausted: bool = False


def count_frames(path: str | os.PathLike) -> int:
    """Frame count from the container header, or by demuxing packets (no decoding) when absent."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        if stream.frames and stream.frames > 0:
            return int(stream.frames)
        return _count_packets(container, stream, path)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count and frame rate, raising VideoReadError for unusable files."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        total = int(stream.frames) if stream.frames and stream.frames > 0 else 0
        if total == 0:
            total = _count_packets(container, stream, path)
        fps = _fps(stream)
    if total == 0:
        raise VideoReadError("no_frames", path, "no video packets")
    return VideoInfo(total_frames=total, fps=fps)


def iter_frames(
    path: str | os.PathLike,
    indices: Sequence[int],
    progress: DecodeProgress | None = None,
    threads: bool = True,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `(index, rgb_frame)` for the wanted indices in one sequential pass.

    `threads`: FFmpeg frame threading (faster alone; off where every core already decodes another video).
    Frames past the real end of the stream are silently missing (the container count may lie);
    a decoding error after some frames ends the pass early instead of losing the whole video.
    """
    progress = progress if progress is not None else DecodeProgress()
    wanted = sorted(set(int(i) for i in indices))
    if not wanted:
        return
    last = wanted[-1]
    wanted_set = set(wanted)
    with _open(path) as container:
        stream = _video_stream(container, path)
        if threads:
            stream.thread_type = "AUTO"
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                progress.decoded = index + 1
                if index in wanted_set:
                    yield index, _to_rgb(frame)
                if index >= last:
                    return
        except av.FFmpegError as exc:
            if index < 0:
                raise VideoReadError("unreadable", path, str(exc)) from exc
        progress.exhausted = True


def read_frames(path: str | os.PathLike, num_frames: int = 32) -> FrameSample:
    """Evenly sampled RGB frames of a video (see `sample_indices`), decoded in a single pass.

    All sampled frames are held in memory (32 x 1080p is about 200 MB); `iter_frames` streams.
    """
    info = probe_video(path)
    wanted = sample_indices(info.total_frames, num_frames)
    progress = DecodeProgress()
    indices: list[int] = []
    frames: list[np.ndarray] = []
    for index, frame in iter_frames(path, wanted, progress):
        indices.append(index)
        frames.append(frame)
    if not frames:
        raise VideoReadError("no_frames", path, "nothing could be decoded")
    total = progress.decoded if progress.exhausted else info.total_frames
    return FrameSample(frames=_stack(frames), indices=indices, total_frames=total, fps=info.fps)


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Sequence[np.ndarray],
    fps: int = 25,
    codec: str = "libx264",
    crf: int = 18,
    faststart: bool = False,
) -> Path:
    """Encode RGB uint8 frames to a video file (for tests and demo material).

    Width and height must be even for yuv420p.  `faststart` puts the index at the front of an
    mp4, so a truncated copy still opens (useful to test short reads).
    """
    path = Path(path)
    frames = list(frames)
    height, width = frames[0].shape[:2]
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "ultrafast"}
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# --- helpers -------------------------------------------------------------------------------


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    """Open for reading, mapping every failure to a VideoReadError."""
    if not os.path.exists(path):
        raise VideoReadError("missing_file", path, "no such file")
    if not os.path.isfile(path):
        raise VideoReadError("unreadable", path, "not a regular file")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError("unreadable", path, str(exc)) from exc


def _video_stream(container: av.container.InputContainer, path: str | os.PathLike) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoReadError("no_video_stream", path, "the file has no video stream")
    return container.streams.video[0]


def _count_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream, path) -> int:
    """Number of non-empty packets of the stream (one per frame for the usual codecs)."""
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size > 0:
                count += 1
    except av.FFmpegError as exc:
        if count == 0:
            raise VideoReadError("unreadable", path, str(exc)) from exc
    return count


def _fps(stream: av.video.stream.VideoStream) -> float | None:
    rate: Fraction | None = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB array with the display rotation applied (PyAV reports it counter-clockwise)."""
    array = frame.to_ndarray(format="rgb24")
    quarter_turns = int(round((frame.rotation or 0) / 90)) % 4
    if quarter_turns:
        array = np.ascontiguousarray(np.rot90(array, k=quarter_turns))
    return array


def _stack(frames: list[np.ndarray]) -> np.ndarray:
    """Stack frames; a mid-stream resolution change is resized to the first frame's size."""
    height, width = frames[0].shape[:2]
    if any(f.shape[:2] != (height, width) for f in frames):
        frames = [f if f.shape[:2] == (height, width) else cv2.resize(f, (width, height)) for f in frames]
    return np.stack(frames)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
