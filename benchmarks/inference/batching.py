"""Scores for the rows of consecutive videos: frame models in full batches across videos and levels, clip models
one clip per call; a video's rows are complete once every frame is scored, or once its detector failed on it
(`detector_error` rows: see `guard`)."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

import detectors

from ..metrics.aggregate import aggregate_video_score
from ..run_folder.timing import RunTiming
from .guard import DETECTOR_ERROR, DetectorFault, check_timeout, guarded_predict
from .models import detector_input, fit_to_input, to_tensor
from .score_cache import ScoreReuse

__all__ = ["VideoRows", "BatchScorer", "finish_scoring"]

@dataclass
class VideoRows:
    """One video's rows, `pending` of them still waiting for frame scores."""

    rows: list[dict]
    pending: int = 0
    cache_keys: dict[int, str] | None = None  # row position -> score-cache key, for rows scored in this run


class _Segment:
    """The frames of one (video, detector, level): fills its row once all `n` frame scores are in, or marks it
    `detector_error` at the first fault (its frames still queued are then ignored)."""

    def __init__(self, video: VideoRows, row: dict, n: int, aggregate: str) -> None:
        self.video, self.row, self.aggregate = video, row, aggregate
        self.scores = np.zeros(n)
        self.filled = 0
        self.done = False
        video.pending += 1
        if n == 0:
            self._finish()

    def put(self, offset: int, scores: np.ndarray) -> None:
        if self.done:  # failed earlier
            return
        self.scores[offset:offset + len(scores)] = scores
        self.filled += len(scores)
        if self.filled == len(self.scores):
            self._finish()

    def fail(self, message: str) -> None:
        """No score for this row: status `detector_error`; never stored in the score cache (the fault may be
        fixed, or was a timeout)."""
        if self.done:
            return
        self.row.update(status=DETECTOR_ERROR, message=message, score="", n_frames=0, frame_scores="")
        if self.video.cache_keys:
            position = next(i for i, r in enumerate(self.video.rows) if r is self.row)
            self.video.cache_keys.pop(position, None)
        self._close()

    def _finish(self) -> None:
        self.row.update(score=repr(aggregate_video_score(self.scores, self.aggregate)), n_frames=len(self.scores),
                        frame_scores=" ".join(f"{s:.6g}" for s in self.scores))
        self._close()

    def _close(self) -> None:
        self.done = True
        self.video.pending -= 1


class _FrameQueue:
    """Frames of consecutive segments for one frame detector, scored in batches of exactly `batch_size`
    (the last one at `flush` may be smaller). Holds fewer than `batch_size` frames between calls.

    A batch whose call fails (`DetectorFault`) is scored again one segment at a time, so only the segments the
    detector fails on get `detector_error` and a video's fault never costs its batch neighbours their scores
    (which equal a clean run's, as every frame's score is independent of its batch). After a timeout nothing is
    retried: the detector is abandoned and every segment of the batch fails.
    """

    def __init__(self, name: str, detector: detectors.Detector, batch_size: int, timing: RunTiming | None,
                 precision: str = "fp32", timeout: float | None = None) -> None:
        self.name, self.detector, self.batch_size, self.timing = name, detector, max(1, batch_size), timing
        self.precision, self.timeout = precision, timeout
        self.device = next(detector.model.parameters()).device
        self.parts: deque[tuple[np.ndarray, _Segment, int, str]] = deque()  # frames, segment, offset, level
        self.buffered = 0

    def put(self, frames: np.ndarray, segment: _Segment, level: str, offset: int = 0) -> None:
        """Frames `offset`, `offset + 1`, ... of `segment`; full batches are scored at once."""
        if len(frames):
            self.parts.append((frames, segment, offset, level))
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
        try:
            scores = self._predict(batch)
        except DetectorFault as fault:
            self._localize(taken, fault)
        else:
            position = 0
            for frames, segment, offset, _ in taken:
                segment.put(offset, scores[position:position + len(frames)])
                position += len(frames)
        seconds = time.perf_counter() - start
        if self.timing:
            for frames, _, _, level in taken:
                self.timing.inferred(level, self.name, len(frames), seconds * len(frames) / n)

    def _predict(self, frames: np.ndarray) -> np.ndarray:
        return guarded_predict(self.name, self.detector, to_tensor(frames).to(self.device), precision=self.precision,
                               timeout=self.timeout)

    def _localize(self, taken: list, fault: DetectorFault) -> None:
        """Each segment of a failed batch scored on its own: only those that fail again get `detector_error`."""
        if fault.timed_out or len(taken) == 1:
            for _, segment, _, _ in taken:
                segment.fail(str(fault))
            return
        for frames, segment, offset, _ in taken:
            if segment.done:
                continue
            try:
                segment.put(offset, self._predict(frames))
            except DetectorFault as alone:
                segment.fail(str(alone))


# Crops resized to a detector's input at a time: with 3600 sampled frames the resized copy of a whole video
# was 0.7 GB (256-px input) on top of its crops; in chunks it is what the batches still wait for.
FIT_CHUNK = 256


class BatchScorer:
    """Scores for the rows of consecutive videos.

    Frame models get batches of `batch_size` frames filled across (video, level) segments, so small videos or
    few sampled frames still make full batches; clip models (`temporal`) get one clip (a video's frames) per
    call. A video's rows are complete once all its frames are scored (`finished`); a video still waiting when
    the run is interrupted is simply not written, and is redone on resume.
    """

    def __init__(self, models: dict[str, detectors.Detector], batch_size: int, aggregate: str = "mean",
                 timing: RunTiming | None = None, precision: str = "fp32", *, timeout: float | None = None) -> None:
        self.models, self.batch_size, self.aggregate, self.timing = models, batch_size, aggregate, timing
        self.precision, self.timeout = precision, check_timeout(timeout)
        self.queues = {name: _FrameQueue(name, det, batch_size, timing, precision, timeout)
                       for name, det in models.items() if not det.temporal}
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
        if name in self.queues:  # resized FIT_CHUNK crops at a time: never a second copy of a long video
            segment, fitting = _Segment(video, row, len(faces), self.aggregate), 0.0
            for offset in range(0, len(faces), FIT_CHUNK):
                start = time.perf_counter()
                frames = fit_to_input(faces[offset:offset + FIT_CHUNK], detector.input_size)
                fitting += time.perf_counter() - start
                self.queues[name].put(frames, segment, level, offset)
            if self.timing:
                self.timing.inferred(level, name, 0, fitting)
            return
        segment = _Segment(video, row, len(faces), self.aggregate)
        if len(faces):  # the whole clip in one call, so a clip is never cut at a batch boundary
            device = next(detector.model.parameters()).device
            try:
                segment.put(0, guarded_predict(name, detector, detector_input(faces, detector.input_size).to(device),
                                               precision=self.precision, timeout=self.timeout))
            except DetectorFault as fault:
                segment.fail(str(fault))
        if self.timing:
            self.timing.inferred(level, name, len(faces), time.perf_counter() - start)

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
