"""`predict(paths, ...)`: P(fake) and a verdict for each given video, detector and level, with `run`'s pipeline.

Nothing here is a second pipeline: each video goes through the run's own stages (`execution.face_jobs.face_jobs`
and `extract_job` for the face cache and extraction, `pipeline.video_rows.score_video` for perturbation, scoring,
aggregation and the score cache) with a `RunConfig` holding the settings, so `predict`'s defaults are `run`'s and
a video's score at `none` equals its score in a run over a folder that contains it (same frames, faces, crops,
weights, aggregation). Perturbed levels draw their parameters from (seed, video id, level) as in a run; the video
id is the file name without extension unless `video_ids` gives the run's ids, and then a video's perturbed scores
equal the run's too.

Stable signature (the web app's "check a video" page calls it):

    predict(paths, *, detectors=None, levels=("none",), weights=None, demo_weights=False, threshold=None,
            threshold_from=None, config=None, progress=False, video_ids=None) -> list[Prediction]
"""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

import datasets
import perturbations

from ..config import FRACTION, RunConfig
from ..execution.face_jobs import extract_job, face_jobs
from ..execution.placement import run_device
from ..hashing import CACHE_LOG
from ..inference.device import batch_size_for, check_precision
from ..inference.guard import check_timeout
from ..inference.models import load_detectors
from ..inference.score_cache import ScoreReuse
from ..pipeline.face_cache import FaceCache
from ..pipeline.face_detectors import make_detector
from ..pipeline.perturb import redetects
from ..pipeline.video_rows import score_video
from .rows import DEFAULT_THRESHOLD, Prediction, PredictProgress, verdict_for
from .thresholds import read_run_thresholds, setting_notes

__all__ = ["predict", "default_video_id"]

Progress = bool | Callable[[PredictProgress], None]


def predict(paths: Iterable[str | os.PathLike], *, detectors: Sequence[str] | None = None,
            levels: Sequence[str] = ("none",), weights: Mapping[str, str | None] | None = None,
            demo_weights: bool = False, threshold: float | None = None, threshold_from: str | os.PathLike | None = None,
            config: RunConfig | None = None, progress: Progress = False,
            video_ids: Sequence[str] | None = None) -> list[Prediction]:
    """Score each video in `paths` with each detector at each level; one `Prediction` per (video, detector, level).

    Parameters
    ----------
    paths : video files (one path alone is accepted too). A missing, unreadable or corrupt file, a video too short to sample or without a face
        gives rows with that status and a message (the run's vocabulary), never an exception.
    detectors : detector names (as `run --detector`, a comma string too); default `config.detectors` (`meso`).
    levels : level specs (as `run --level`: `GB:3`, `df:all`, `heavy` ...); `none` is always included, first.
    weights : {detector: weight file}; merged over `config.weights`.
    demo_weights : a detector without weights gets the project's bundled demo weights (trained on the synthetic demo
        data: meaningful on demo videos only). Otherwise such a detector is an error unless `config.random_init`.
    threshold : the verdict's threshold, in [0, 1]; default 0.5. Not together with `threshold_from`.
    threshold_from : a finished run folder: each detector's verdict uses the clean-level threshold that run chose
        (Youden's J on its `none` scores); a line on stderr names each setting that differs from the run's.
    config : every other setting (frames, faces, aggregation, seed, stage, device, precision, batch size, caches,
        detector options, levels files), with `run`'s defaults when None. Its dataset fields are not used.
    progress : True for a progress bar on stderr, or a callable receiving a `PredictProgress` after each
        (video, level) step.
    video_ids : one id per path, seeding the perturbation draws (seed, video id, level) as a run's `video_id`
        does: a run's ids reproduce its perturbed scores. Default: each file name without extension.

    Raises ValueError (unknown detector or level, bad threshold, weights missing) and FileNotFoundError
    (`threshold_from` no run folder) before any video is read.

    Examples
    --------
    >>> rows = predict(["clip.mp4"], detectors=["meso"], weights={"meso": "MesoInception_DF.h5"})  # doctest: +SKIP
    >>> rows[0].p_fake, rows[0].verdict  # doctest: +SKIP
    (0.93..., 'fake')
    """
    config = config or RunConfig()
    if isinstance(paths, (str, os.PathLike)):  # one path, not the characters of one
        paths = [paths]
    if isinstance(detectors, str):
        detectors = [d.strip() for d in detectors.split(",") if d.strip()]
    if isinstance(levels, str):
        levels = [levels]
    names = list(detectors) if detectors is not None else list(config.detectors)
    if not names:
        raise ValueError("predict needs at least one detector")
    check_timeout(config.detector_timeout)
    for levels_file in config.levels_files:
        perturbations.load_levels_file(levels_file)
    expanded = perturbations.expand(",".join(levels) if levels else "none")
    config = dataclasses.replace(config, detectors=names, levels=expanded,
                                 weights={**config.weights, **dict(weights or {})})
    if threshold is not None and threshold_from is not None:
        raise ValueError("give threshold or threshold_from, not both")
    run_thresholds = read_run_thresholds(threshold_from, names) if threshold_from is not None else None
    if threshold is not None:
        FRACTION.check("threshold", threshold)
    thresholds = run_thresholds.thresholds if run_thresholds else \
        dict.fromkeys(names, DEFAULT_THRESHOLD if threshold is None else float(threshold))

    device = run_device(config)
    check_precision(device, config.precision)
    settings = dataclasses.replace(config.detector_settings(), demo_weights=demo_weights)
    models = load_detectors(settings)  # an unknown detector or missing weights fails here, before any video
    for model in models.values():
        model.model.to(device)
    if run_thresholds:
        for note in setting_notes(run_thresholds, config, {n: getattr(m.weights, "sha256", None)
                                                           for n, m in models.items()}):
            print(f"note: {note}", file=sys.stderr)
    level_objects = {name: perturbations.get(name).with_write_back(config.df_write_back) for name in expanded}
    cache = FaceCache(config.cache_root())
    reuse = ScoreReuse.for_run(settings, root=cache.root, models=models, levels=level_objects,
                               device_type=device.type, precision=config.precision, apply_at=config.apply_at,
                               aggregate=config.aggregate) if config.score_cache else None
    paths = [os.fspath(p) for p in paths]
    if video_ids is not None and len(video_ids) != len(paths):
        raise ValueError(f"video_ids: one per path ({len(paths)}), got {len(video_ids)}")
    ids = [str(i) for i in video_ids] if video_ids is not None else [default_video_id(p) for p in paths]
    if not all(ids):
        raise ValueError("video_ids: an id must not be empty")
    steps = Steps(progress, len(paths) * len(expanded))
    redetect = redetects(level_objects, config.apply_at)  # levels that find the face again in perturbed frames
    batch_size = batch_size_for(config.batch_size, device)
    face_detector = None
    rows: list[Prediction] = []
    CACHE_LOG.drain()  # report what this call finds
    try:
        with tempfile.TemporaryDirectory(prefix="dfbench-predict-") as workdir:
            for path, video_id in zip(paths, ids):
                item = datasets.VideoItem(video_id=video_id, path=Path(path), label=0)  # no label: never reported
                todo = [(d, lv) for lv in expanded for d in names]
                job = next(face_jobs([(item, todo)], num_frames=config.num_frames, faces=config.faces,
                                     cache_root=cache.root))
                if face_detector is None and (redetect or needs_detection(job.path, cache, config)):
                    face_detector = make_detector(config.faces)
                _, crops, _ = extract_job(job, face_detector)
                for level in expanded:
                    scored = score_video(item, crops, [(d, level) for d in names], models,
                                         config.video_settings(), level_objects,
                                         batch_size=batch_size, aggregate=config.aggregate,
                                         precision=config.precision, cache=cache, face_detector=face_detector,
                                         workdir=Path(workdir), reuse=reuse, detector_timeout=config.detector_timeout)
                    rows += [prediction(path, row, thresholds[row["detector"]]) for row in scored]
                    steps.advance(path, level)
    finally:
        steps.close()
        for line in CACHE_LOG.drain().warnings():
            print(line, file=sys.stderr)
    return rows


def default_video_id(path: str) -> str:
    """The file name without extension (what a folder run calls a file at the top of its data root)."""
    return Path(path).stem or Path(path).name or "video"


def needs_detection(path: str, cache: FaceCache, config: RunConfig) -> bool:
    """Whether the face stage will extract (a readable file whose crops are not cached): only then is a face
    detector built (CenterFace's network loads in about a second)."""
    if not os.path.isfile(path):
        return False
    key = cache.key(path, config.num_frames, config.faces)
    return not cache.path_for(key).is_file()


def prediction(path: str, row: dict, threshold: float) -> Prediction:
    """A scores.csv-shaped row of `score_video` as a typed `Prediction`."""
    ok = row["status"] == "ok"
    p_fake = float(row["score"]) if ok and row.get("score") != "" else None
    text = str(row.get("frame_scores") or "")
    return Prediction(video=path, detector=row["detector"], level=row["level"], p_fake=p_fake,
                      verdict=verdict_for(p_fake, threshold), threshold=threshold, n_frames=int(row["n_frames"] or 0),
                      status=row["status"], message=str(row.get("message") or ""),
                      frame_scores=[float(s) for s in text.split()], params=str(row.get("params") or ""))


class Steps:
    """Progress over (video, level) steps: a tqdm bar on stderr (shown once work takes over a second), or the
    caller's callback."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.total, self.done = total, 0
        self.callback = progress if callable(progress) else None
        self.bar = tqdm(total=total, desc="predict", unit="step", file=sys.stderr, delay=1.0,
                        disable=progress is not True)

    def advance(self, video: str, level: str) -> None:
        self.done += 1
        self.bar.update(1)
        if self.callback is not None:
            self.callback(PredictProgress(self.done, self.total, video, level))

    def close(self) -> None:
        self.bar.close()
