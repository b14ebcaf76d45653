"""Scores for the rows of consecutive videos: frame models in full batches across videos and levels, clip models
one clip per call; a video's rows are complete once every frame is scored."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

import detectors

from ..metrics.aggregate import aggregate_video_score
from ..run_folder.timing import RunTiming
from .device import inference_precision
from .models import fit_to_input, predict_frames, to_tensor
from .score_cache import ScoreReuse

__all__ = ["VideoRows", "BatchScorer", "finish_scoring"]

@dataclass
class VideoRows:
    """One video's rows, `pending` of them still waiting for frame scores."""

    rows: list[dict]
    pending: int = 0
    cache_keys: dict[int, str] | None = None  # row position -> score-cache key, for rows scored in this run


class _Segment:
    """The frames of one (video, detector, level): fills its row once all `n` frame scores are in."""

    def __init__(self, video: VideoRows, row: dict, n: int, aggregate: str) -> None:
        self.video, self.row, self.aggregate = video, row, aggregate
        self.scores = np.zeros(n)
        self.filled = 0
        video.pending += 1
        if n == 0:
            self._finish()

    def put(self, offset: int, scores: np.ndarray) -> None:
        self.scores[offset:offset + len(scores)] = scores
        self.filled += len(scores)
        if self.filled == len(self.scores):
            self._finish()

    def _finish(self) -> None:
        self.row.update(score=repr(aggregate_video_score(self.scores, self.aggregate)), n_frames=len(self.scores),
                        frame_scores=" ".join(f"{s:.6g}" for s in self.scores))
        self.video.pending -= 1


class _FrameQueue:
    """Frames of consecutive segments for one frame detector, scored in batches of exactly `batch_size`
    (the last one at `flush` may be smaller). Holds fewer than `batch_size` frames between calls."""

    def __init__(self, name: str, detector: detectors.Detector, batch_size: int, timing: RunTiming | None,
                 precision: str = "fp32") -> None:
        self.name, self.detector, self.batch_size, self.timing = name, detector, max(1, batch_size), timing
        self.precision = precision
        self.device = next(detector.model.parameters()).device
        self.parts: deque[tuple[np.ndarray, _Segment, int, str]] = deque()  # frames, segment, offset, level
        self.buffered = 0

    def put(self, frames: np.ndarray, segment: _Segment, level: str) -> None:
        if len(frames):
            self.parts.append((frames, segment, 0, level))
            self.buffered += len(frames)
        while self.buffered >= self.batch_size:
            self._run(self.batch_size)

    def flush(self) -> None:
        while self.buffered:
            self._run(min(self.batch_size, self.buffered))

    def _run(self, n: int) -> None:
        taken = []
        while sum(len(t[0]) for t in taken) < n:
            frames, segment, offset, level = self.parts[0]
            k = min(n - sum(len(t[0]) for t in taken), len(frames))
            taken.append((frames[:k], segment, offset, level))
            if k == len(frames):
                self.parts.popleft()
            else:
                self.parts[0] = (frames[k:], segment, offset + k, level)
        self.buffered -= n
        start = time.perf_counter()
        batch = taken[0][0] if len(taken) == 1 else np.concatenate([t[0] for t in taken])
        with inference_precision(self.device, self.precision):
            scores = self.detector.predict(to_tensor(batch).to(self.device))
        seconds = time.perf_counter() - start
        position = 0
        for frames, segment, offset, level in taken:
            segment.put(offset, scores[position:position + len(frames)])
            position += len(frames)
            if self.timing:
                self.timing.inferred(level, self.name, len(frames), seconds * len(frames) / n)


class BatchScorer:
    """Scores for the rows of consecutive videos.

    Frame models get batches of `batch_size` frames filled across (video, level) segments, so small videos or
    few sampled frames still make full batches; clip models (`temporal`) get one clip (a video's frames) per
    call. A video's rows are complete once all its frames are scored (`finished`); a video still waiting when
    the run is interrupted is simply not written, and is redone on resume.
    """

    def __init__(self, models: dict[str, detectors.Detector], batch_size: int, aggregate: str = "mean",
                 timing: RunTiming | None = None, precision: str = "fp32") -> None:
        self.models, self.batch_size, self.aggregate, self.timing = models, batch_size, aggregate, timing
        self.precision = precision
        self.queues = {name: _FrameQueue(name, det, batch_size, timing, precision) for name, det in models.items()
                       if not det.temporal}
        self.videos: list[VideoRows] = []

    def video(self, rows: list[dict]) -> VideoRows:
        """Register a video whose `rows` (one per pending detector x level) are filled as scores come in."""
        video = VideoRows(rows)
        self.videos.append(video)
        return video

    def submit(self, video: VideoRows, row: dict, faces: np.ndarray, level: str) -> None:
        """Face crops of one (detector, level) of `video`, whose scores fill `row`."""
        name = row["detector"]
        detector = self.models[name]
        start = time.perf_counter()
        if name in self.queues:
            frames = fit_to_input(faces, detector.input_size)
            if self.timing:
                self.timing.inferred(level, name, 0, time.perf_counter() - start)
            self.queues[name].put(frames, _Segment(video, row, len(frames), self.aggregate), level)
            return
        scores = predict_frames(detector, faces, self.batch_size, self.precision)  # the whole clip in one call
        if self.timing:
            self.timing.inferred(level, name, len(scores), time.perf_counter() - start)
        segment = _Segment(video, row, len(scores), self.aggregate)
        if len(scores):
            segment.put(0, scores)

    def flush(self) -> None:
        """Score what is buffered (partial batches): at the end of the run."""
        for queue in self.queues.values():
            queue.flush()

    def finished(self) -> list[VideoRows]:
        """Videos whose rows are complete, removed from the scorer (in the order they were registered)."""
        done = [v for v in self.videos if not v.pending]
        self.videos = [v for v in self.videos if v.pending]
        return done

    @property
    def buffered_frames(self) -> int:
        return sum(q.buffered for q in self.queues.values())



def finish_scoring(scorer: BatchScorer, reuse: ScoreReuse | None) -> list[dict]:
    """Score what `scorer` still holds; the rows of its finished videos, stored in the score cache with `reuse`."""
    scorer.flush()
    finished = scorer.finished()
    if reuse is not None:
        for video in finished:
            reuse.store(video.rows, video.cache_keys)
    return [row for video in finished for row in video.rows]
