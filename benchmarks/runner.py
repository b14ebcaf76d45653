"""The one orchestrator: dataset -> frames -> faces -> perturbation -> detector -> scores -> metrics -> report."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch

import datasets
import detectors
import perturbations

from . import results
from .cache import CACHEABLE, FaceCache, default_cache_dir
from .config import RunConfig, default_runs_dir
from .executors import FaceJob, default_workers, make_executor, peak_rss_mb, start_forkserver
from .faces import FaceCrops, extract_faces, inner_crop, make_detector
from .manifest import build_manifest, input_contract
from .metrics import aggregate_video_score, all_metrics
from .perturbed_cache import PerturbedCache, PerturbedLevel
from .score_cache import ScoreCache, detector_fingerprint, level_fingerprint


class RunError(RuntimeError):
    """A run that cannot start as configured (one-line message for the CLI)."""


@dataclass
class RunResult:
    run_dir: Path
    metrics: list
    complete: bool


def resolve_run_dir(config: RunConfig, fresh: bool = False, runs_dir: Path | None = None) -> Path:
    """`--out` if given; else the newest unfinished run of the same configuration (resume); else a new folder."""
    fingerprint = config.fingerprint()
    if config.out:
        run_dir = Path(config.out)
        manifest = run_dir / results.MANIFEST_FILE
        if manifest.exists() and results.read_json(manifest).get("config_fingerprint") != fingerprint:
            raise RunError(f"{run_dir} holds a run with a different configuration; choose another --out")
        return run_dir
    runs_dir = runs_dir or default_runs_dir()
    if not fresh and runs_dir.is_dir():
        for candidate in sorted(runs_dir.iterdir(), reverse=True):
            manifest = candidate / results.MANIFEST_FILE
            if not manifest.is_file():
                continue
            try:
                data = results.read_json(manifest)
            except (OSError, ValueError):
                continue
            if data.get("config_fingerprint") == fingerprint and data.get("status") != "complete":
                return candidate
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return runs_dir / f"{stamp}-{'+'.join(config.detectors)}"


def load_detectors(config: RunConfig) -> dict[str, detectors.Detector]:
    loaded = {}
    for name in config.detectors:
        weights = config.weights.get(name)
        if weights is None and not config.random_init and config.dataset == "demo":
            weights = detectors.default_weights(name)
        options = dict(config.detector_options.get(name, {}))
        if config.backbone_weights.get(name):
            options["backbone_weights"] = config.backbone_weights[name]
        loaded[name] = detectors.create(name, weights=weights, random_init=config.random_init and weights is None,
                                        **options)
    return loaded


def fit_to_input(faces: np.ndarray, size: int) -> np.ndarray:
    """uint8 N x S x S x 3 RGB face crops -> contiguous uint8 N x size x size x 3 (area-shrunk or linearly enlarged)."""
    if len(faces) and faces.shape[1] != size:
        interpolation = cv2.INTER_AREA if faces.shape[1] > size else cv2.INTER_LINEAR
        return np.stack([cv2.resize(c, (size, size), interpolation=interpolation) for c in faces])
    return np.ascontiguousarray(faces)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float32 N x 3 x H x W in [0, 1] (channels-last in memory, no extra copy)."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)


def detector_input(face_crops: np.ndarray, size: int) -> torch.Tensor:
    """uint8 N x S x S x 3 RGB -> float32 N x 3 x size x size in [0, 1]."""
    return to_tensor(fit_to_input(face_crops, size))


PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def inference_precision(device: torch.device, precision: str):
    """The context inference runs in: nothing for fp32, else torch.autocast to `precision` on `device` (convolutions
    and matrix products in 16 bits, reductions and the sigmoid in fp32)."""
    if precision not in PRECISIONS:
        raise RunError(f"unknown --precision {precision!r}; use {', '.join(PRECISIONS)}")
    if PRECISIONS[precision] is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


def check_precision(device: torch.device, precision: str) -> None:
    """A one-line error now, rather than torch's warning and a silent fall back to fp32, when `device` cannot run
    `precision`."""
    import warnings
    context = inference_precision(device, precision)  # an unknown name raises here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with context:
                pass
    except (RuntimeError, UserWarning) as error:
        raise RunError(f"--precision {precision} is not available on {device.type}: {str(error).splitlines()[0]}") \
            from None


def predict_frames(detector: detectors.Detector, faces: np.ndarray, batch_size: int,
                   precision: str = "fp32") -> np.ndarray:
    """P(fake) per frame of one video, in batches of `batch_size`, on the device the detector's model is on.

    Clip models (`temporal`, e.g. resnet-lstm) see all of a video's crops in one call, so a clip is never cut
    at a batch boundary; each frame then carries its clip's score.
    """
    device = next(detector.model.parameters()).device
    if getattr(detector, "temporal", False):
        batch_size = max(1, len(faces))
    with inference_precision(device, precision):
        scores = [detector.predict(detector_input(faces[i:i + batch_size], detector.input_size).to(device))
                  for i in range(0, len(faces), batch_size)]
    return np.concatenate(scores) if scores else np.zeros(0)


CPU_BATCH, GPU_BATCH = 8, 64


def batch_size_for(batch_size: int | None, device: torch.device) -> int:
    """`--batch-size`, or by device when not given: on CPU, batches of 8 frames score MesoInception4 about twice
    as fast per frame as batches of 64 (its large, few-channel activations then stay in cache; the zoo models
    gain too), while a GPU wants large batches."""
    if batch_size is None:
        return GPU_BATCH if device.type in ("cuda", "mps") else CPU_BATCH
    if batch_size < 1:
        raise RunError(f"--batch-size must be at least 1, got {batch_size}")
    return batch_size


def _base_row(item: datasets.VideoItem, detector: str, level: str) -> dict:
    return {"video_id": item.video_id, "label": item.label, "split": item.split, "detector": detector,
            "level": level, "groups": json.dumps(item.groups, sort_keys=True) if item.groups else ""}


# --- timing ----------------------------------------------------------------------------------


TIMING_FILE = "timing.json"
TIMING_SCHEMA = 1


class RunTiming:
    """Where a run's time went, in `timing.json` of the run folder; a resumed run adds to what is there.

    `wall_seconds`: whole sessions; `loop_seconds`: their scoring loops (faces, perturbation, inference, rows
    written), without the metrics and gallery after it (`finish_seconds`); `first_video_seconds`: from the start
    of the loop to the first video's rows (worker start-up, model loading, the first video), so
    (loop - first) / (videos - 1) is the steady cost per video of a long run.
    `faces`: the face stage (decode + detect + crop + cache write) summed over the videos extracted, cache loads
    summed over cache hits, the main process's wait for face results and the wall time until the last one arrived.
    `levels`: per level the videos perturbed and the seconds spent perturbing (re-encoding and re-detecting
    included for video- and frame-stage levels), and per detector the frames scored and the inference seconds
    (input resizing included; a batch spanning several videos or levels is shared by frame count).
    """

    def __init__(self, path: Path | None, levels: list[str], detector_names: list[str]) -> None:
        """`path` None: an accumulator for one worker's video, merged into the run's timing with `add_levels`."""
        self.path = Path(path) if path is not None else None
        self.base = self._previous() if path is not None else {}
        self.session = {"wall_seconds": 0.0, "loop_seconds": 0.0, "finish_seconds": 0.0, "first_video_seconds": 0.0,
                        "faces": {"jobs": 0, "extracted": 0, "cache_hits": 0, "extract_seconds": 0.0,
                                  "cache_seconds": 0.0, "wait_seconds": 0.0, "wall_seconds": 0.0},
                        "levels": {lvl: {"videos": 0, "perturb_seconds": 0.0, "from_perturbed_cache": 0,
                                         "detectors": {d: {"frames": 0, "seconds": 0.0, "reused": 0}
                                                       for d in detector_names}}
                                   for lvl in levels}}
        self.info: dict = {}
        self.started = time.perf_counter()
        self._saved = 0.0

    def _previous(self) -> dict:
        try:
            data = results.read_json(self.path)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("schema") == TIMING_SCHEMA else {}

    def perturbed(self, level: str, seconds: float, cached: bool = False) -> None:
        """One video's perturbation at `level` (`cached`: loaded from the perturbed-crop cache in `seconds`)."""
        entry = self.session["levels"][level]
        entry["videos"] += 1
        entry["perturb_seconds"] += seconds
        entry["from_perturbed_cache"] += int(cached)

    def inferred(self, level: str, detector: str, frames: int, seconds: float) -> None:
        entry = self.session["levels"][level]["detectors"][detector]
        entry["frames"] += frames
        entry["seconds"] += seconds

    def video_written(self) -> None:
        if not self.session["first_video_seconds"]:
            self.session["first_video_seconds"] = time.perf_counter() - self.started

    def add_levels(self, levels: dict) -> None:
        """Per-level numbers of a video scored elsewhere (a worker's `session["levels"]`)."""
        self.session["levels"] = _add_numbers(self.session["levels"], levels)

    def reused(self, level: str, detector: str) -> None:
        self.session["levels"][level]["detectors"][detector]["reused"] += 1

    def faces_waited(self, seconds: float) -> None:
        self.session["faces"]["wait_seconds"] += seconds
        self.session["faces"]["wall_seconds"] = time.perf_counter() - self.started

    def face_stage(self, stats) -> None:
        """Totals of this session's executor (`FaceStageStats`)."""
        self.session["faces"].update(jobs=stats.jobs, extracted=stats.jobs - stats.cache_hits,
                                     cache_hits=stats.cache_hits, extract_seconds=stats.extract_seconds,
                                     cache_seconds=stats.cache_seconds)

    def to_dict(self) -> dict:
        self.session["wall_seconds"] = time.perf_counter() - self.started
        merged = _add_numbers(self.base, {k: v for k, v in self.session.items()})
        sessions = [*self.base.get("sessions", []),
                    {**self.info, "wall_seconds": round(self.session["wall_seconds"], 3)}]
        return {"schema": TIMING_SCHEMA, **_round(merged), "sessions": sessions}

    def save(self, every: float = 0.0) -> None:
        """Write timing.json (atomically); with `every`, only if the last write is older than that many seconds."""
        now = time.perf_counter()
        if every and now - self._saved < every:
            return
        results.write_json(self.path, self.to_dict())
        self._saved = now


def _add_numbers(a: dict, b: dict) -> dict:
    """Numbers summed key by key, nested dicts merged (keys of `a` first); other values of `b` win."""
    out = {k: v for k, v in a.items() if k not in ("schema", "sessions")}
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = _add_numbers(out.get(key) if isinstance(out.get(key), dict) else {}, value)
        elif isinstance(value, (int, float)) and isinstance(out.get(key), (int, float)):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def _round(data):
    if isinstance(data, dict):
        return {k: _round(v) for k, v in data.items()}
    return round(data, 4) if isinstance(data, float) else data


# --- scoring ---------------------------------------------------------------------------------


class InferenceThreads:
    """One intra-op thread for scoring while face workers keep this machine's cores busy, all threads otherwise.

    With every core extracting faces, torch's OpenMP threads in the main process wait on one another behind the
    workers: on 2 cores with `--workers 2`, inference took 46 s with 2 threads and 35 s with 1 (8 real videos,
    3 levels). Once faces come from the cache the workers idle, and 2 threads score about twice as fast as 1.
    """

    def __init__(self, executor) -> None:
        self.default = torch.get_num_threads()
        self.shared = getattr(executor, "local_cores", 0) >= default_workers()
        self.executor = executor

    def update(self, extracting: bool | None = None) -> None:
        """Before scoring: `extracting` defaults to whether the latest face job missed the cache."""
        if extracting is None:
            extracting = not self.executor.stats.last_hit
        wanted = 1 if self.shared and extracting else self.default
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)

    def restore(self) -> None:
        self.update(extracting=False)



@dataclass
class _Video:
    """One video's rows, `pending` of them still waiting for frame scores."""

    rows: list[dict]
    pending: int = 0
    cache_keys: dict[int, str] | None = None  # row position -> score-cache key, for rows scored in this run


class _Segment:
    """The frames of one (video, detector, level): fills its row once all `n` frame scores are in."""

    def __init__(self, video: _Video, row: dict, n: int, aggregate: str) -> None:
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
                       if not getattr(det, "temporal", False)}
        self.videos: list[_Video] = []

    def video(self, rows: list[dict]) -> _Video:
        """Register a video whose `rows` (one per pending detector x level) are filled as scores come in."""
        video = _Video(rows)
        self.videos.append(video)
        return video

    def submit(self, video: _Video, row: dict, faces: np.ndarray, level: str) -> None:
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

    def finished(self) -> list[_Video]:
        """Videos whose rows are complete, removed from the scorer (in the order they were registered)."""
        done = [v for v in self.videos if not v.pending]
        self.videos = [v for v in self.videos if v.pending]
        return done

    @property
    def buffered_frames(self) -> int:
        return sum(q.buffered for q in self.queues.values())


@dataclass
class ScoreReuse:
    """Rows of earlier runs with identical inputs (`score_cache`), looked up before perturbing and stored once
    a video's rows are complete."""

    cache: ScoreCache
    detectors: dict[str, str | None]  # name -> detector fingerprint (None: not cacheable)
    levels: dict[str, str]  # name -> level fingerprint
    aggregate: str
    device: str

    @classmethod
    def for_run(cls, config: RunConfig, root: Path, models: dict, levels: dict, device: torch.device) -> "ScoreReuse":
        fingerprints = {}
        for name, det in models.items():
            options = {**config.detector_options.get(name, {}), "backbone_weights": config.backbone_weights.get(name)}
            fingerprints[name] = detector_fingerprint(name, det, options, input_contract(det))
        arithmetic = device.type if config.precision == "fp32" else f"{device.type}+{config.precision}"
        return cls(ScoreCache(root), fingerprints, {n: level_fingerprint(lv, config.apply_at) for n, lv in levels.items()},
                   config.aggregate, arithmetic)

    def key(self, crops: FaceCrops, detector: str, level: str, seed: int) -> str | None:
        if not crops.cache_key or self.detectors.get(detector) is None:
            return None
        return self.cache.key(crops.cache_key, self.levels[level], seed, self.detectors[detector], self.aggregate,
                              self.device)

    def store(self, video: _Video) -> None:
        for position, key in (video.cache_keys or {}).items():
            row = video.rows[position]
            if row.get("status") == "ok" or row.get("params"):  # scored, or lost its face to the perturbation
                self.cache.store(key, row)


def level_inputs(item, crops: FaceCrops, parts: dict[str, perturbations.Level], seed: int, config: RunConfig,
                 cache: FaceCache, face_detector, workdir: Path) -> tuple[FaceCrops, dict]:
    """Face crops as they enter the level's face stage, and the video/frame-stage parameters drawn.

    `parts` is the level split by stage (`Level.split_by_stage`). Video-stage steps (codecs, temporal edits)
    rewrite the file before decoding; frame-stage steps perturb full frames before face detection
    (`--apply-at frame`); both mean decoding and detecting again for this level.
    """
    if parts["video"].is_identity and parts["frame"].is_identity:
        return crops, {}
    params: dict = {}
    source = Path(item.path)
    level_name = parts["video"].name
    if not parts["video"].is_identity:
        source = workdir / f"{hashlib.sha256(f'{item.video_id}|{level_name}'.encode()).hexdigest()[:16]}.mp4"
        applied = parts["video"].apply_video(item.path, source, seed, apply_at=config.apply_at)
        params["video"] = {k: v for k, v in applied.items() if k != "dst"}  # a temporary file, deleted below
    try:
        if parts["frame"].is_identity:
            return cache.get_or_extract(source, config.num_frames, config.faces, detector=face_detector), params

        def frame_stage(frames):
            out, params["frame"] = parts["frame"].apply(frames, seed, return_params=True)
            return out
        return extract_faces(source, config.num_frames, config.faces, face_detector, frame_transform=frame_stage), params
    finally:
        if source != Path(item.path):
            source.unlink(missing_ok=True)


def queue_video(item, crops: FaceCrops, todo: list[tuple[str, str]], scorer: BatchScorer, config: RunConfig,
                levels: dict[str, perturbations.Level], cache: FaceCache | None = None, face_detector=None,
                workdir: Path | None = None, timing: RunTiming | None = None, reuse: ScoreReuse | None = None) -> None:
    """Hand one video to `scorer`: every pending (detector, level), perturbing each level once for all detectors.

    Its rows come out of `scorer.finished()` once scored (skipped videos at once). With `reuse`, rows an earlier
    run computed from identical inputs are taken from the score cache, and a level all of whose detectors are
    found there is not perturbed at all.
    """
    if crops.status != "ok":
        scorer.video([{**_base_row(item, det, lvl), "score": "", "n_frames": 0, "status": crops.status,
                       "message": crops.message, "frame_scores": ""} for det, lvl in todo])
        return
    rows = {key: {**_base_row(item, *key), "score": "", "n_frames": 0, "status": "ok", "message": "",
                  "frame_scores": ""} for key in todo}
    video = scorer.video(list(rows.values()))
    if reuse is not None:
        todo = _reuse_rows(item, crops, todo, rows, video, reuse, config.seed, timing)
    stored = PerturbedCache(cache.root) if config.cache_perturbed and cache is not None and crops.cache_key else None
    for lvl in dict.fromkeys(lvl for _, lvl in todo):
        start = time.perf_counter()
        seed = perturbations.seed_for(config.seed, item.video_id, lvl)
        parts = levels[lvl].split_by_stage(config.apply_at)
        identity = all(part.is_identity for part in parts.values())
        key = stored.key(crops.cache_key, level_fingerprint(levels[lvl], config.apply_at), seed, config.faces.context) \
            if stored is not None and not identity else None
        result = stored.load(key) if key else None
        cached = result is not None
        if result is None:
            result = perturb_level(item, crops, lvl, parts, seed, config, cache, face_detector, workdir)
            if key and result.status in CACHEABLE:  # a read error may be fixed: computed again next time
                stored.store(key, result)
        if timing:
            timing.perturbed(lvl, time.perf_counter() - start, cached)
        pending = [d for d, lv in todo if lv == lvl]
        if result.status != "ok":  # e.g. the perturbed video no longer shows a face
            for det in pending:
                rows[det, lvl].update(status=result.status, params=result.params, message=result.message)
            continue
        for det in pending:
            rows[det, lvl].update(frame_indices=result.frame_indices, params=result.params)
        for det in pending:
            scorer.submit(video, rows[det, lvl], result.faces, lvl)


def perturb_level(item, crops: FaceCrops, lvl: str, parts: dict[str, perturbations.Level], seed: int,
                  config: RunConfig, cache: FaceCache | None, face_detector, workdir: Path | None) -> PerturbedLevel:
    """One video at one level as the detectors see it: re-encoded and re-detected first for video- and
    frame-stage steps, then the face-stage steps on the crops, then the inner crop."""
    level_crops, params = level_inputs(item, crops, parts, seed, config, cache, face_detector, workdir)
    if level_crops.status != "ok":
        return PerturbedLevel(level_crops.status, f"after perturbation {lvl}: {level_crops.message}", None, "",
                              json.dumps(params, default=str))
    if parts["face"].is_identity:  # nothing to draw: no copy of the crops either
        perturbed, params["face"] = level_crops.crops, {"level": lvl, "steps": []}
    else:
        perturbed, params["face"] = parts["face"].apply(level_crops.crops, seed, return_params=True)
    return PerturbedLevel("ok", "", inner_crop(perturbed, config.faces.context),
                          " ".join(map(str, level_crops.frame_indices)),
                          json.dumps(_drop_empty(params), sort_keys=True, default=str))


def _reuse_rows(item, crops: FaceCrops, todo: list[tuple[str, str]], rows: dict, video: _Video, reuse: ScoreReuse,
                run_seed: int, timing: RunTiming | None) -> list[tuple[str, str]]:
    """Fill the rows the score cache has; return the (detector, level) pairs still to score."""
    positions = {key: i for i, key in enumerate(rows)}
    video.cache_keys = {}
    remaining = []
    for det, lvl in todo:
        key = reuse.key(crops, det, lvl, perturbations.seed_for(run_seed, item.video_id, lvl))
        stored = reuse.cache.load(key) if key else None
        if stored is not None:
            rows[det, lvl].update(stored)
            if timing:
                timing.reused(lvl, det)
            continue
        if key:
            video.cache_keys[positions[det, lvl]] = key
        remaining.append((det, lvl))
    return remaining


def score_video(item, crops: FaceCrops, todo: list[tuple[str, str]], models: dict, config: RunConfig,
                levels: dict[str, perturbations.Level], cache: FaceCache | None = None, face_detector=None,
                workdir: Path | None = None, timing: RunTiming | None = None,
                reuse: ScoreReuse | None = None) -> list[dict]:
    """Rows for one video on its own (batches within the video only): the per-video form of what `run` does,
    used by workers that score whole videos (`video_jobs`)."""
    device = next(next(iter(models.values())).model.parameters()).device
    scorer = BatchScorer(models, batch_size_for(config.batch_size, device), config.aggregate, timing, config.precision)
    with tempfile.TemporaryDirectory(prefix="dfbench-") as tmp:
        queue_video(item, crops, todo, scorer, config, levels, cache, face_detector, Path(workdir or tmp), timing,
                    reuse)
    return finish_scoring(scorer, reuse)


def finish_scoring(scorer: BatchScorer, reuse: ScoreReuse | None) -> list[dict]:
    """Score what `scorer` still holds; the rows of its finished videos, stored in the score cache with `reuse`."""
    scorer.flush()
    finished = scorer.finished()
    if reuse is not None:
        for video in finished:
            reuse.store(video)
    return [row for video in finished for row in video.rows]


def _drop_empty(params: dict) -> dict:
    """Keep only stages that drew something, so `none` rows stay short."""
    return {k: v for k, v in params.items() if not (isinstance(v, dict) and not v.get("steps"))}


def run(config: RunConfig, fresh: bool = False, progress: bool = True, runs_dir: Path | None = None) -> RunResult:
    """Run the benchmark described by `config`; resumes an unfinished identical run unless `fresh`."""
    from reports import write_report  # reports reads result files only; imported here to keep `list` fast

    device = run_device(config)
    score_in = scoring_place(config, device)
    if score_in != "actors":  # actors check on their own devices
        check_precision(device, config.precision)
    preload = ("benchmarks.runner",) if score_in == "workers" else ()  # workers that score need torch
    if config.executor == "local" and config.workers > 1:
        start_forkserver(preload)  # its imports (about 1 s) overlap the setup below instead of delaying video 1
    for levels_file in config.levels_files:
        perturbations.load_levels_file(levels_file)
    config.levels = perturbations.expand(",".join(config.levels))
    levels = {name: perturbations.get(name) for name in config.levels}
    dataset = datasets.open(config.dataset, config.data_root, split=config.split, **config.dataset_options)
    items = list(dataset)[: config.max_videos] if config.max_videos else list(dataset)
    if not items:
        raise RunError(f"dataset {config.dataset!r} (split {config.split!r}) has no videos")
    models = load_detectors(config)
    batch_size = batch_size_for(config.batch_size, device)
    if score_in == "main":  # elsewhere the models here only identify the detectors (manifest, score cache)
        for model in models.values():
            model.model.to(device)
    run_dir = resolve_run_dir(config, fresh=fresh, runs_dir=runs_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = FaceCache(cache_root_for(config))
    manifest = build_manifest(config, dataset, items, models, cache.root)
    previous = run_dir / results.MANIFEST_FILE
    if previous.exists():
        manifest["started"] = results.read_json(previous).get("started", manifest["started"])
    results.write_json(previous, manifest)

    started = time.perf_counter()
    writer = results.ScoresWriter(run_dir / results.SCORES_FILE)
    done = writer.done_keys()
    if done and progress:
        print(f"resuming {run_dir}: {len(done)} scores already recorded", file=sys.stderr)
    pairs = [(d, lv) for lv in config.levels for d in config.detectors]
    pending = [(item, todo) for item in items
               if (todo := [(d, lv) for d, lv in pairs if (item.video_id, d, lv) not in done])]
    face_detector = make_detector(config.faces) if pending and redetects(levels, config) else None
    executor = make_executor(config.executor, config.workers, config.faces, config.ray_address, face_detector,
                             preload=preload)
    timing = RunTiming(run_dir / TIMING_FILE, config.levels, config.detectors)
    timing.info = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "videos": len(pending),
                   "executor": config.executor, "workers": config.workers, "device": str(device),
                   "batch_size": batch_size}
    scorer = BatchScorer(models, batch_size, config.aggregate, timing, config.precision)
    reuse = ScoreReuse.for_run(config, cache.root, models, levels, device) if config.score_cache else None
    threads = InferenceThreads(executor)
    bar = _progress(len(items), len(items) - len(pending), progress, run_dir)

    def write_finished() -> None:
        for video in scorer.finished():
            writer.write(video.rows)
            timing.video_written()
            if reuse is not None:
                reuse.store(video)
            bar.update(1)
        timing.face_stage(executor.stats)
        timing.save(every=2.0)

    timing.info["score_in"] = score_in
    try:
        if score_in in ("workers", "actors"):  # whole videos elsewhere; here only rows are written
            from .video_jobs import video_jobs
            if score_in == "actors":
                from .ray_actors import InferenceActor, PrepareJob, actor_count
                gpus = executor.cluster_gpus  # starts or joins Ray, which also counts the CPUs
                try:
                    count = actor_count(config.actors, device.type, gpus, executor.cluster_cpus)
                except ValueError as error:
                    raise RunError(str(error)) from None
                scored_videos = executor.map_to_actors((PrepareJob(job, reuse) for job in video_jobs(pending, config, cache.root)),
                                                       InferenceActor, (config, reuse), count, gpus=device.type == "cuda")
            else:
                scored_videos = executor.map(video_jobs(pending, config, cache.root))
            for _, scored in scored_videos:
                writer.write(scored.rows)
                timing.video_written()
                timing.add_levels(scored.levels)
                bar.update(1)
                timing.face_stage(executor.stats)
                timing.save(every=2.0)
        else:
            with tempfile.TemporaryDirectory(prefix="dfbench-") as workdir:
                faces = executor.map(face_jobs(pending, config, cache.root))
                while True:
                    wait = time.perf_counter()
                    result = next(faces, None)
                    if result is None:
                        break
                    timing.faces_waited(time.perf_counter() - wait)
                    threads.update()
                    item, todo = pending[result[0]]
                    queue_video(item, result[1], todo, scorer, config, levels, cache, face_detector, Path(workdir),
                                timing, reuse)
                    write_finished()
            threads.restore()  # the face stage is over
            scorer.flush()
            write_finished()
    except KeyboardInterrupt:
        executor.close()
        writer.close()
        print(f"\ninterrupted: finished videos are saved in {run_dir}; run the same command again to resume",
              file=sys.stderr)
        raise
    finally:
        threads.restore()
        executor.close()
        bar.close()
        timing.session["loop_seconds"] = time.perf_counter() - timing.started  # faces, perturbation, inference
        timing.face_stage(executor.stats)
        timing.save()  # also on interrupt: the next session adds to it
    face_detector = face_detector or getattr(executor, "detector", None)
    writer.close()
    finish = time.perf_counter()
    rows = results.read_scores(run_dir)
    metrics = all_metrics(rows, config.detectors, config.levels)
    results.write_json(run_dir / results.METRICS_FILE, metrics_document(rows, config))
    manifest.update(status="complete", finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    seconds_this_session=round(time.perf_counter() - started, 1),
                    execution={**executor.describe(), "device": str(device), "batch_size": batch_size,
                               "score_in": score_in, "peak_rss_mb": peak_rss_mb()})
    results.write_json(run_dir / results.MANIFEST_FILE, manifest)
    write_gallery(run_dir, items, config, cache, face_detector)
    timing.session["finish_seconds"] = time.perf_counter() - finish  # metrics.json and the gallery
    timing.save()
    write_report([run_dir], run_dir / results.REPORT_FILE)
    return RunResult(run_dir, metrics, complete=True)


GALLERY_LEVELS = 16  # at most this many tiles in a run's gallery (a df:all run has 36 levels)


def write_gallery(run_dir: Path, items, config: RunConfig, cache: FaceCache, face_detector) -> Path | None:
    """gallery.png: the first scorable video's face under each level (face-stage view), embedded in the report."""
    for item in items:
        # Normally a cache hit; on a miss extraction builds its own detector when none was passed.
        crops = cache.get_or_extract(item.path, config.num_frames, config.faces, detector=face_detector)
        if crops.status == "ok":
            grid = perturbations.make_gallery(crops.crops[:4], config.levels[:GALLERY_LEVELS], seed=config.seed,
                                              video_id=item.video_id, inner=config.faces.context, tile=160)
            path = run_dir / "gallery.png"
            cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
            return path
    return None


def metrics_document(rows: list[dict], config: RunConfig) -> dict:
    """metrics.json: point estimates, bootstrap intervals, paired changes, robustness summaries, groups."""
    from .robustness import run_metrics  # sklearn: not imported by worker processes, which import this module
    return run_metrics(rows, config.detectors, config.levels, aggregate=config.aggregate, n_boot=config.bootstrap,
                       seed=config.seed, reference=config.reference)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, initial: int, enabled: bool, run_dir: Path):
    """A bar over all videos, starting at those already done (resume); updated in completion order."""
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=f"videos -> {run_dir}", unit="video", file=sys.stderr)


def cache_root_for(config: RunConfig) -> Path:
    return (Path(config.cache_dir) if config.cache_dir else default_cache_dir()).absolute()


def face_jobs(pending: list, config: RunConfig, cache_root: Path) -> Iterator[FaceJob]:
    """The face stage of each pending video, as plain data for any executor (index into `pending`)."""
    for index, (item, _) in enumerate(pending):
        yield FaceJob(index, os.path.abspath(item.path), config.num_frames,
                      config.faces, str(cache_root))


def redetects(levels: dict[str, perturbations.Level], config: RunConfig) -> bool:
    """Whether some level rewrites the video or full frames, so the main process must detect faces again."""
    stages = [level.split_by_stage(config.apply_at) for level in levels.values()]
    return any(not (s["video"].is_identity and s["frame"].is_identity) for s in stages)


def scoring_place(config: RunConfig, device: torch.device) -> str:
    """Where videos are perturbed and scored: "workers" (each worker a whole video, on the CPU), "actors" (Ray
    tasks perturb, Ray actors that own the devices score: `ray_actors`) or "main".

    auto: workers when inference is on the CPU and faces run in other processes (`--workers` > 1, or Ray),
    since one main process scoring for all of them is then the bottleneck; actors with Ray on cuda (one per GPU
    of the cluster); main on a local GPU, which one process owns.
    """
    several = config.executor == "ray" or config.workers > 1
    if config.score_in == "auto":
        if config.executor == "ray" and device.type == "cuda":
            return "actors"
        return "workers" if device.type == "cpu" and several else "main"
    if config.score_in == "main":
        return "main"
    if config.score_in == "actors":
        if config.executor != "ray":
            raise RunError("--score-in actors needs --executor ray (Ray actors hold the detectors)")
        return "actors"
    if config.score_in != "workers":
        raise RunError(f"unknown --score-in {config.score_in!r}; use auto, main, workers or actors")
    if device.type != "cpu":
        raise RunError(f"--score-in workers scores on the CPU; with --device {device.type} use --score-in main")
    return "workers" if several else "main"


def run_device(config: RunConfig) -> torch.device:
    """The inference device. With Ray and `--device cuda`, the GPUs may sit on other nodes than this driver:
    the inference actors then check for them where they run."""
    if config.executor == "ray" and config.device == "cuda" and config.score_in in ("auto", "actors"):
        return torch.device("cuda")
    return resolve_device(config.device)


def resolve_device(name: str) -> torch.device:
    """`auto`: cuda if available, else mps, else cpu; an explicit device that is absent is an error."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if name not in available:
        raise RunError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    if not available[name]:
        raise RunError(f"device {name!r} is not available on this machine (use --device auto or cpu)")
    return torch.device(name)
