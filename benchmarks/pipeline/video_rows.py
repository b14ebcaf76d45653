"""One video's rows: every pending (detector, level) of it, each level perturbed once for all detectors and handed
to a scorer; rows an earlier run computed from identical inputs come from the score cache instead."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Protocol

import numpy as np

import datasets
import perturbations

from ..config import VideoSettings
from ..inference.batching import BatchScorer, VideoRows, finish_scoring
from ..inference.score_cache import ScoreReuse, level_fingerprint
from ..run_folder.timing import RunTiming
from .attack import attack_faces
from .face_cache import CACHEABLE, FaceCache
from .faces import FaceCrops
from .perturb import perturb_level
from .perturbed_cache import PerturbedCache

__all__ = ["Scorer", "base_row", "queue_video", "reuse_rows", "score_video"]


class Scorer(Protocol):
    """Where `queue_video` hands a video's crops: a `BatchScorer`, or a recorder that keeps them for an actor."""

    def video(self, rows: list[dict]) -> VideoRows:
        """Register a video whose `rows` are filled as scores come in."""
        ...

    def submit(self, video: VideoRows, row: dict, faces: np.ndarray, level: str) -> None:
        """Face crops of one (detector, level) of `video`, whose scores fill `row`."""
        ...


def base_row(item: datasets.VideoItem, detector: str, level: str) -> dict:
    """The columns of a row that identify it and its video."""
    return {"video_id": item.video_id, "label": item.label, "split": item.split, "detector": detector,
            "level": level, "groups": json.dumps(item.groups, sort_keys=True) if item.groups else ""}


def queue_video(item, crops: FaceCrops, todo: list[tuple[str, str]], scorer: Scorer, settings: VideoSettings,
                levels: dict[str, perturbations.Level], cache: FaceCache | None = None, face_detector=None,
                workdir: Path | None = None, timing: RunTiming | None = None, reuse: ScoreReuse | None = None,
                attackers: dict | None = None) -> None:
    """Hand one video to `scorer`: every pending (detector, level), perturbing each level once for all detectors.

    Its rows come out of `scorer.finished()` once scored (skipped videos at once). With `reuse`, rows an earlier
    run computed from identical inputs are taken from the score cache, and a level all of whose detectors are
    found there is not perturbed at all. Attack levels (`PGD:3`) perturb their other steps once, then attack
    each detector in `attackers` (name -> detector) on those crops, or once the surrogate (`PGD:3@meso`) whose
    pixels every detector is fed; their crops are never stored in the perturbed-crop cache (only the crops
    before the attack, which do not depend on a detector).
    """
    if crops.status != "ok":
        scorer.video([{**base_row(item, det, lvl), "score": "", "n_frames": 0, "status": crops.status,
                       "message": crops.message, "frame_scores": ""} for det, lvl in todo])
        return
    rows = {key: {**base_row(item, *key), "score": "", "n_frames": 0, "status": "ok", "message": "",
                  "frame_scores": ""} for key in todo}
    video = scorer.video(list(rows.values()))
    if reuse is not None:  # attack levels are never found there (`ScoreReuse.key`)
        todo = reuse_rows(item, crops, todo, rows, video, reuse, settings.seed, timing)
    stored = PerturbedCache(cache.root) if settings.cache_perturbed and cache is not None and crops.cache_key else None
    for lvl in dict.fromkeys(lvl for _, lvl in todo):
        start = time.perf_counter()
        seed = perturbations.seed_for(settings.seed, item.video_id, lvl)
        before_attack, attack = perturbations.split_attack(levels[lvl])
        parts = before_attack.split_by_stage(settings.apply_at)
        identity = all(part.is_identity for part in parts.values())
        key = stored.key(crops.cache_key, level_fingerprint(before_attack, settings.apply_at), seed,
                         settings.faces.context) \
            if stored is not None and not identity else None
        result = stored.load(key) if key else None
        cached = result is not None
        if result is None:
            result = perturb_level(item, crops, lvl, parts, seed, settings, cache, face_detector, workdir)
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
        if attack is not None:
            attacked(item, result.faces, pending, rows, video, scorer, attack, seed, lvl, attackers, timing)
            continue
        for det in pending:
            scorer.submit(video, rows[det, lvl], result.faces, lvl)


def attacked(item, faces: np.ndarray, pending: list[str], rows: dict, video: VideoRows, scorer: Scorer, attack,
             seed: int, lvl: str, attackers: dict | None, timing: RunTiming | None) -> None:
    """The attack stage of one video at one attack level: white-box per detector, or once on the surrogate;
    what it drew goes into each row's `params` under "attack"."""
    surrogate = dict(attack.params)["surrogate"]
    needed = [surrogate] if surrogate else pending
    missing = [name for name in needed if not attackers or name not in attackers]
    if missing:
        raise ValueError(f"level {lvl!r}: attack needs the detector {missing[0]!r} in this process"
                         + (" (a transfer surrogate must be one of the run's detectors)" if surrogate else ""))
    start = time.perf_counter()
    shared = attack_faces(attackers[surrogate], faces, item.label, attack, np.random.default_rng(seed)) \
        if surrogate else None
    for det in pending:
        adversarial, drawn = shared or attack_faces(attackers[det], faces, item.label, attack,
                                                    np.random.default_rng(seed))
        params = json.loads(rows[det, lvl]["params"] or "{}")
        rows[det, lvl]["params"] = json.dumps({**params, "attack": drawn}, sort_keys=True, default=str)
        scorer.submit(video, rows[det, lvl], adversarial, lvl)
    if timing:
        timing.perturbed(lvl, time.perf_counter() - start, False)


def reuse_rows(item, crops: FaceCrops, todo: list[tuple[str, str]], rows: dict, video: VideoRows, reuse: ScoreReuse,
               run_seed: int, timing: RunTiming | None) -> list[tuple[str, str]]:
    """Fill the rows the score cache has; return the (detector, level) pairs still to score."""
    positions = {key: i for i, key in enumerate(rows)}
    video.cache_keys = {}
    remaining = []
    for det, lvl in todo:
        key = reuse.key(crops.cache_key, det, lvl, perturbations.seed_for(run_seed, item.video_id, lvl))
        stored = reuse.load(key) if key else None
        if stored is not None:
            rows[det, lvl].update(stored)
            if timing:
                timing.reused(lvl, det)
            continue
        if key:
            video.cache_keys[positions[det, lvl]] = key
        remaining.append((det, lvl))
    return remaining


def score_video(item, crops: FaceCrops, todo: list[tuple[str, str]], models: dict, settings: VideoSettings,
                levels: dict[str, perturbations.Level], *, batch_size: int, aggregate: str, precision: str = "fp32",
                cache: FaceCache | None = None, face_detector=None, workdir: Path | None = None,
                timing: RunTiming | None = None, reuse: ScoreReuse | None = None,
                detector_timeout: float | None = None) -> list[dict]:
    """Rows for one video on its own (batches within the video only): the per-video form of what `run` does."""
    scorer = BatchScorer(models, batch_size, aggregate, timing, precision, timeout=detector_timeout)
    with tempfile.TemporaryDirectory(prefix="dfbench-") as tmp:
        queue_video(item, crops, todo, scorer, settings, levels, cache, face_detector, Path(workdir or tmp), timing,
                    reuse, attackers=models)
    return finish_scoring(scorer, reuse)
