"""The one orchestrator: dataset -> frames -> faces -> perturbation -> detector -> scores -> metrics -> report."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
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
from .cache import FaceCache, default_cache_dir
from .config import RunConfig, default_runs_dir
from .executors import FaceJob, make_executor, peak_rss_mb
from .faces import FaceCrops, extract_faces, inner_crop, make_detector
from .manifest import build_manifest
from .metrics import aggregate_video_score, all_metrics
from .robustness import run_metrics


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


def detector_input(face_crops: np.ndarray, size: int) -> torch.Tensor:
    """uint8 N x S x S x 3 RGB -> float32 N x 3 x size x size in [0, 1]."""
    interpolation = cv2.INTER_AREA if face_crops.shape[1] > size else cv2.INTER_LINEAR
    resized = np.stack([cv2.resize(c, (size, size), interpolation=interpolation) if c.shape[0] != size else c
                        for c in face_crops])
    return torch.from_numpy(resized).permute(0, 3, 1, 2).float().div_(255.0)


def predict_frames(detector: detectors.Detector, faces: np.ndarray, batch_size: int) -> np.ndarray:
    """P(fake) per frame, in batches of `batch_size`, on the device the detector's model is on.

    Clip models (`temporal`, e.g. resnet-lstm) see all of a video's crops in one call, so a clip is never cut
    at a batch boundary; each frame then carries its clip's score.
    """
    device = next(detector.model.parameters()).device
    if getattr(detector, "temporal", False):
        batch_size = max(1, len(faces))
    scores = [detector.predict(detector_input(faces[i:i + batch_size], detector.input_size).to(device))
              for i in range(0, len(faces), batch_size)]
    return np.concatenate(scores) if scores else np.zeros(0)


def _base_row(item: datasets.VideoItem, detector: str, level: str) -> dict:
    return {"video_id": item.video_id, "label": item.label, "split": item.split, "detector": detector,
            "level": level, "groups": json.dumps(item.groups, sort_keys=True) if item.groups else ""}


def level_inputs(item, crops: FaceCrops, level: perturbations.Level, seed: int, config: RunConfig,
                 cache: FaceCache, face_detector, workdir: Path) -> tuple[FaceCrops, dict]:
    """Face crops as they enter the level's face stage, and the video/frame-stage parameters drawn.

    Video-stage steps (codecs, temporal edits) rewrite the file before decoding; frame-stage steps perturb full
    frames before face detection (`--apply-at frame`); both mean decoding and detecting again for this level.
    """
    parts = level.split_by_stage(config.apply_at)
    if parts["video"].is_identity and parts["frame"].is_identity:
        return crops, {}
    params: dict = {}
    source = Path(item.path)
    if not parts["video"].is_identity:
        source = workdir / f"{hashlib.sha256(f'{item.video_id}|{level.name}'.encode()).hexdigest()[:16]}.mp4"
        params["video"] = level.apply_video(item.path, source, seed, apply_at=config.apply_at)
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


def score_video(item, crops: FaceCrops, todo: list[tuple[str, str]], models: dict, config: RunConfig,
                levels: dict[str, perturbations.Level], cache: FaceCache | None = None, face_detector=None,
                workdir: Path | None = None) -> list[dict]:
    """Rows for one video: every pending (detector, level), perturbing each level once for all detectors."""
    rows = []
    if crops.status != "ok":
        for det, lvl in todo:
            rows.append({**_base_row(item, det, lvl), "score": "", "n_frames": 0,
                         "status": crops.status, "message": crops.message, "frame_scores": ""})
        return rows
    for lvl in dict.fromkeys(lvl for _, lvl in todo):
        seed = perturbations.seed_for(config.seed, item.video_id, lvl)
        level_crops, params = level_inputs(item, crops, levels[lvl], seed, config, cache, face_detector, workdir)
        pending = [d for d, lv in todo if lv == lvl]
        if level_crops.status != "ok":  # e.g. the perturbed video no longer shows a face
            rows += [{**_base_row(item, det, lvl), "score": "", "n_frames": 0, "status": level_crops.status,
                      "message": f"after perturbation {lvl}: {level_crops.message}", "frame_scores": "",
                      "params": json.dumps(params, default=str)} for det in pending]
            continue
        perturbed, params["face"] = levels[lvl].split_by_stage(config.apply_at)["face"].apply(
            level_crops.crops, seed, return_params=True)
        faces = inner_crop(perturbed, config.faces.context)
        for det in pending:
            frame_scores = predict_frames(models[det], faces, config.batch_size)
            rows.append({**_base_row(item, det, lvl), "score": repr(aggregate_video_score(frame_scores, config.aggregate)),
                         "n_frames": len(frame_scores), "status": "ok", "message": "",
                         "frame_scores": " ".join(f"{s:.6g}" for s in frame_scores),
                         "frame_indices": " ".join(map(str, level_crops.frame_indices)),
                         "params": json.dumps(_drop_empty(params), sort_keys=True, default=str)})
    return rows


def _drop_empty(params: dict) -> dict:
    """Keep only stages that drew something, so `none` rows stay short."""
    return {k: v for k, v in params.items() if not (isinstance(v, dict) and not v.get("steps"))}


def run(config: RunConfig, fresh: bool = False, progress: bool = True, runs_dir: Path | None = None) -> RunResult:
    """Run the benchmark described by `config`; resumes an unfinished identical run unless `fresh`."""
    from reports import write_report  # reports reads result files only; imported here to keep `list` fast

    for levels_file in config.levels_files:
        perturbations.load_levels_file(levels_file)
    config.levels = perturbations.expand(",".join(config.levels))
    levels = {name: perturbations.get(name) for name in config.levels}
    dataset = datasets.open(config.dataset, config.data_root, split=config.split, **config.dataset_options)
    items = list(dataset)[: config.max_videos] if config.max_videos else list(dataset)
    if not items:
        raise RunError(f"dataset {config.dataset!r} (split {config.split!r}) has no videos")
    models = load_detectors(config)
    device = resolve_device(config.device)
    for model in models.values():
        model.model.to(device)
    run_dir = resolve_run_dir(config, fresh=fresh, runs_dir=runs_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = FaceCache((Path(config.cache_dir) if config.cache_dir else default_cache_dir()).absolute())
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
    face_detector = make_detector(config.faces) if pending and _redetects(levels, config) else None
    executor = make_executor(config.executor, config.workers, config.faces, config.ray_address, face_detector)
    bar = _progress(len(items), len(items) - len(pending), progress, run_dir)
    try:
        for index, crops in executor.map(face_jobs(pending, config, cache.root)):
            item, todo = pending[index]
            with tempfile.TemporaryDirectory(prefix="dfbench-") as workdir:
                writer.write(score_video(item, crops, todo, models, config, levels, cache, face_detector,
                                         Path(workdir)))
            bar.update(1)
    except KeyboardInterrupt:
        executor.close()
        writer.close()
        print(f"\ninterrupted: finished videos are saved in {run_dir}; run the same command again to resume",
              file=sys.stderr)
        raise
    finally:
        executor.close()
        bar.close()
    face_detector = face_detector or getattr(executor, "detector", None)
    writer.close()
    rows = results.read_scores(run_dir)
    metrics = all_metrics(rows, config.detectors, config.levels)
    results.write_json(run_dir / results.METRICS_FILE, metrics_document(rows, config))
    manifest.update(status="complete", finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    seconds_this_session=round(time.perf_counter() - started, 1),
                    execution={**executor.describe(), "device": str(device), "peak_rss_mb": peak_rss_mb()})
    results.write_json(run_dir / results.MANIFEST_FILE, manifest)
    write_gallery(run_dir, items, config, cache, face_detector)
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


def face_jobs(pending: list, config: RunConfig, cache_root: Path) -> Iterator[FaceJob]:
    """The face stage of each pending video, as plain data for any executor (index into `pending`)."""
    for index, (item, _) in enumerate(pending):
        yield FaceJob(index, os.path.abspath(item.path), config.num_frames,
                      config.faces, str(cache_root))


def _redetects(levels: dict[str, perturbations.Level], config: RunConfig) -> bool:
    """Whether some level rewrites the video or full frames, so the main process must detect faces again."""
    stages = [level.split_by_stage(config.apply_at) for level in levels.values()]
    return any(not (s["video"].is_identity and s["frame"].is_identity) for s in stages)


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
