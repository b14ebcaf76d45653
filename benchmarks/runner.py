"""The one orchestrator: dataset -> frames -> faces -> perturbation -> detector -> scores -> metrics -> report.

`run()` is the loop over videos; it knows the stages by name only (`execution` runs the jobs, `pipeline` turns a
video into rows, `inference` scores them, `metrics` summarises, `run_folder` records) and `report()` rebuilds a
run's metrics and report from its files.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import torch

import datasets
import perturbations
from reports import write_report
from reports.run_files import (
    BREAKING_FILE,
    GALLERY_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    REPORT_FILE,
    SCORES_FILE,
    TIMING_FILE,
    ScoresWriter,
    read_json,
    read_scores,
    write_json,
)

from .config import RunConfig, RunError, default_runs_dir
from .execution.actors import InferenceActor, actor_count
from .execution.face_jobs import face_jobs, peak_rss_mb
from .execution.jobs import PrepareJob, video_jobs
from .execution.local import SCORING_MODULE, default_workers, make_executor, start_forkserver
from .execution.placement import run_device, scoring_place
from .hashing import CACHE_LOG, CacheLog
from .inference.batching import BatchScorer
from .inference.device import batch_size_for, check_precision
from .inference.guard import check_timeout
from .inference.models import load_detectors
from .inference.onnx_backend import apply_backend
from .inference.score_cache import ScoreReuse
from .metrics.binary import all_metrics
from .metrics.robustness import run_metrics
from .pipeline.attack import check_attacks
from .pipeline.breaking_faces import write_breaking_faces
from .pipeline.face_cache import FaceCache
from .pipeline.face_detectors import make_detector
from .pipeline.gallery import write_gallery
from .pipeline.held_frames import memory_warning
from .pipeline.perturb import redetects
from .pipeline.video_rows import queue_video
from .preflight import check_run
from .progress import Progress
from .run_folder.inputs import InputsLog, reconcile
from .run_folder.lock import RunFolderLock, holder
from .run_folder.manifest import build_manifest
from .run_folder.results import RunResult
from .run_folder.timing import RunTiming

__all__ = ["RunResult", "run", "report", "resolve_run_dir", "metrics_document", "report_caches"]

def resolve_run_dir(config: RunConfig, fresh: bool = False, runs_dir: Path | None = None) -> Path:
    """`out` if given; else the newest unfinished run of the same configuration (resume); else a new folder."""
    fingerprint = config.fingerprint()
    if config.out:
        run_dir = Path(config.out)
        manifest = run_dir / MANIFEST_FILE
        if manifest.exists() and (recorded := read_json(manifest)).get("config_fingerprint") != fingerprint:
            older = "runtime" not in recorded.get("config", {}).get("faces", {"runtime": None})
            hint = (" (it was made before --face-runtime, with OpenCV's runtime: add --face-runtime opencv to "
                    "continue it)") if older and config.faces.runtime != "opencv" else ""
            raise RunError(f"{run_dir} holds a run with a different configuration{hint}; choose another --out")
        return run_dir
    runs_dir = runs_dir or default_runs_dir()
    if not fresh and runs_dir.is_dir():
        for candidate in sorted(runs_dir.iterdir(), reverse=True):
            manifest = candidate / MANIFEST_FILE
            if not manifest.is_file():
                continue
            try:
                data = read_json(manifest)
            except (OSError, ValueError):
                continue
            if data.get("config_fingerprint") == fingerprint and data.get("status") != "complete" \
                    and holder(candidate) is None:  # one in use by a live run is not resumed: a new folder
                return candidate
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return runs_dir / f"{stamp}-{'+'.join(config.detectors)}"


class InferenceThreads:
    """One intra-op thread for scoring while face workers keep this machine's cores busy, all threads otherwise.

    With every core extracting faces, torch's OpenMP threads in the main process wait on one another behind the
    workers: on 2 cores with `--workers 2`, inference took 46 s with 2 threads and 35 s with 1 (8 real videos,
    3 levels). Once faces come from the cache the workers idle, and 2 threads score about twice as fast as 1.
    """

    def __init__(self, executor) -> None:
        self.default = torch.get_num_threads()
        self.shared = executor.local_cores >= default_workers()
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


def run(config: RunConfig, fresh: bool = False, progress: bool | Progress = True,
        runs_dir: Path | None = None) -> RunResult:
    """Run the benchmark described by `config`; resumes an unfinished identical run unless `fresh`.

    `config` is not changed: the run works on a copy with its level specs expanded. Every name, file and folder is
    checked first (`preflight.check_run`), before a worker or model starts. The run folder is locked
    (`RunFolderLock`) from before anything is written to it until this returns or raises. `progress`: stage lines
    and bars on stderr (a `Progress`, or True/False).
    """
    check_timeout(config.detector_timeout)
    check_run(config)
    shown = progress if isinstance(progress, Progress) else Progress(enabled=bool(progress))
    with contextlib.ExitStack() as folder_lock:
        return _run(config, fresh, shown, runs_dir, folder_lock)


def _run(config: RunConfig, fresh: bool, progress: Progress, runs_dir: Path | None,
         folder_lock: contextlib.ExitStack) -> RunResult:
    device = run_device(config)
    score_in = scoring_place(config, device)
    if score_in != "actors":  # actors check on their own devices
        check_precision(device, config.precision)
    for levels_file in config.levels_files:
        perturbations.load_levels_file(levels_file)
    config = dataclasses.replace(config, levels=perturbations.expand(",".join(config.levels)))
    levels = {name: perturbations.get(name).with_write_back(config.df_write_back) for name in config.levels}
    # Workers that score need torch and the levels' step modules (imgaug: about 0.7 s a worker otherwise)
    preload = (SCORING_MODULE, *perturbations.step_modules(levels.values())) if score_in == "workers" else ()
    if config.executor == "local" and config.workers > 1:
        start_forkserver(preload)  # its imports (about 1 s) overlap the setup below instead of delaying video 1
    check_attacks(levels, config.detectors, score_in)
    progress.stage(f"opening dataset {config.dataset}")
    dataset = datasets.open(config.dataset, config.data_root, split=config.split,
                            progress=progress.callback(f"generating dataset {config.dataset} (once, then cached)",
                                                       "clip"), **config.dataset_options)
    items = list(dataset)[: config.max_videos] if config.max_videos else list(dataset)
    if not items:
        raise RunError(f"dataset {config.dataset!r} (split {config.split!r}) has no videos")
    # Before any model loads: a file outside the root (through a symlink) or a NUL byte in a path is refused here.
    datasets.check_inside_root(items, dataset.root, follow_symlinks=config.follow_symlinks)
    run_dir = resolve_run_dir(config, fresh=fresh, runs_dir=runs_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    folder_lock.enter_context(RunFolderLock(run_dir))  # a second run on the folder fails here, before loading models
    detector_settings = config.detector_settings()
    progress.stage(f"loading {', '.join(config.detectors)}")
    models, backends = apply_backend(load_detectors(detector_settings), config.backend, settings=detector_settings,
                                     cache_root=config.cache_root(), device_type=device.type)
    batch_size = batch_size_for(config.batch_size, device)
    if score_in == "main":  # elsewhere the models here only identify the detectors (manifest, score cache)
        for model in models.values():
            model.model.to(device)
    cache = FaceCache(config.cache_root())
    manifest = build_manifest(config, dataset, items, models, cache.root)
    manifest["backend"] = {name: choice.to_dict() for name, choice in backends.items()}
    for note in reconcile(run_dir, items, dataset.root):  # rows of changed videos go before the manifest vouches
        print(note, file=sys.stderr)
    inputs = InputsLog(run_dir, items, dataset.root)
    previous = run_dir / MANIFEST_FILE
    if previous.exists():
        manifest["started"] = read_json(previous).get("started", manifest["started"])
    write_json(previous, manifest)

    started = time.perf_counter()
    CACHE_LOG.drain()  # report only what this run finds
    writer = ScoresWriter(run_dir / SCORES_FILE)
    done = writer.done_keys()
    if done and progress.enabled:
        progress.done()
        print(f"resuming {run_dir}: {len(done)} scores already recorded", file=sys.stderr)
    if (warning := memory_warning(config.num_frames, config.faces.crop_size)):
        print(warning, file=sys.stderr)
    pairs = [(d, lv) for lv in config.levels for d in config.detectors]
    pending = [(item, todo) for item in items
               if (todo := [(d, lv) for d, lv in pairs if (item.video_id, d, lv) not in done])]
    face_detector = make_detector(config.faces) if pending and redetects(levels, config.apply_at) else None
    executor = make_executor(config.executor, config.workers, config.faces, config.ray_address, face_detector,
                             preload=preload)
    timing = RunTiming(run_dir / TIMING_FILE, config.levels, config.detectors)
    timing.info = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "videos": len(pending),
                   "executor": config.executor, "workers": config.workers, "device": str(device),
                   "batch_size": batch_size, "score_in": score_in}
    reuse = ScoreReuse.for_run(detector_settings, root=cache.root, models=models, levels=levels,
                               device_type=device.type, precision=config.precision, apply_at=config.apply_at,
                               aggregate=config.aggregate) if config.score_cache else None
    bar = progress.bar(len(items), f"videos -> {run_dir}", "video", initial=len(items) - len(pending))
    threads = InferenceThreads(executor)

    def record(rows: list[dict], levels_timing: dict | None = None) -> None:
        """One video's finished rows: on disk at once (nothing finished is lost), then the bar and timing."""
        for video_id in dict.fromkeys(row["video_id"] for row in rows):
            inputs.record(video_id)  # what the rows come from, on disk before them
        writer.write(rows)
        timing.video_written()
        if levels_timing:
            timing.add_levels(levels_timing)  # perturbation and inference measured where the video was scored
        bar.update(1)
        timing.face_stage(executor.stats)
        timing.save(every=2.0)

    try:
        if score_in in ("workers", "actors"):  # whole videos elsewhere; here only rows are written
            jobs = video_jobs(pending, config, cache.root)
            if score_in == "actors":
                gpus = executor.cluster_gpus  # starts or joins Ray, which also counts the CPUs
                try:
                    count = actor_count(config.actors, device.type, gpus, executor.cluster_cpus)
                except ValueError as error:
                    raise RunError(str(error)) from None
                scored_videos = executor.map_to_actors((PrepareJob(job, reuse) for job in jobs), InferenceActor,
                                                       (config, reuse), count, gpus=device.type == "cuda")
            else:
                scored_videos = executor.map(jobs)
            for _, scored in scored_videos:
                record(scored.rows, scored.levels)
        else:
            scorer = BatchScorer(models, batch_size, config.aggregate, timing, config.precision,
                                 timeout=config.detector_timeout)
            for rows in _score_here(pending, executor, scorer, threads, config, levels, cache, face_detector,
                                    timing, reuse):
                record(rows)
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
        report_caches(executor.stats.cache, timing)
        timing.save()  # also on interrupt: the next session adds to it
    face_detector = face_detector or getattr(executor, "detector", None)  # the in-process executor's, if it made one
    writer.close()
    finish = time.perf_counter()
    progress.stage(f"metrics{bootstrap_note(config.bootstrap)}")
    # the gallery (face crops from the cache, perturbed, encoded: OpenCV, mostly outside the GIL) is drawn in a
    # thread while the metrics and their bootstrap are computed: the finish of a small run is not their sum
    gallery_pool = ThreadPoolExecutor(1, thread_name_prefix="gallery")
    gallery = gallery_pool.submit(write_gallery, run_dir / GALLERY_FILE, items, config.levels, config.video_settings(),
                                  cache, face_detector, models)
    rows = read_scores(run_dir)
    metrics = all_metrics(rows, config.detectors, config.levels)
    doc = metrics_document(rows, config, manifest)
    write_json(run_dir / METRICS_FILE, doc)
    manifest.update(status="complete", finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    seconds_this_session=round(time.perf_counter() - started, 1),
                    execution={**executor.describe(), "device": str(device), "batch_size": batch_size,
                               "score_in": score_in, "peak_rss_mb": peak_rss_mb()})
    write_json(run_dir / MANIFEST_FILE, manifest)
    progress.stage("gallery and the hardest videos' faces")
    with gallery_pool:  # the gallery's thread is done before the face detector is used here again
        gallery.result()
    write_breaking_faces(run_dir / BREAKING_FILE, doc, items, config.video_settings(), cache, face_detector)
    timing.session["finish_seconds"] = time.perf_counter() - finish  # metrics.json and the gallery
    timing.save()
    progress.stage("report and figures")
    write_report([run_dir], run_dir / REPORT_FILE)
    progress.done()
    return RunResult(run_dir, level_metrics=metrics, complete=True)


def _score_here(pending: list, executor, scorer: BatchScorer, threads: InferenceThreads, config: RunConfig,
                levels: dict, cache: FaceCache, face_detector, timing: RunTiming,
                reuse: ScoreReuse | None) -> Iterator[list[dict]]:
    """Scoring in this process: faces from the executor as they arrive, perturbed here, batched across videos;
    yields each video's rows once they are complete (stored in the score cache with `reuse`)."""

    def finished() -> Iterator[list[dict]]:
        for video in scorer.finished():
            if reuse is not None:
                reuse.store(video.rows, video.cache_keys)
            yield video.rows

    settings = config.video_settings()
    with tempfile.TemporaryDirectory(prefix="dfbench-") as workdir:
        faces = executor.map(face_jobs(pending, num_frames=config.num_frames, faces=config.faces,
                                       cache_root=cache.root))
        while True:
            wait = time.perf_counter()
            result = next(faces, None)
            if result is None:
                break
            timing.faces_waited(time.perf_counter() - wait)
            threads.update()
            item, todo = pending[result[0]]
            queue_video(item, result[1], todo, scorer, settings, levels, cache, face_detector, Path(workdir),
                        timing, reuse, attackers=scorer.models)
            yield from finished()
    threads.restore()  # the face stage is over
    scorer.flush()
    yield from finished()


def report_caches(workers: CacheLog, timing: RunTiming) -> None:
    """Cache entries discarded and caches found read-only, by this process and (`workers`) by worker processes:
    counted in timing.json and reported once, one stderr line each."""
    log = CacheLog()
    log.merge(workers)
    log.merge(CACHE_LOG.drain())
    timing.cache_discarded(log.counts())
    for line in log.warnings():
        print(line, file=sys.stderr)


def bootstrap_note(resamples: int) -> str:
    return f" with {resamples} bootstrap resamples per interval" if resamples else " (no bootstrap)"


def metrics_document(rows: list[dict], config: RunConfig, manifest: dict | None = None) -> dict:
    """metrics.json: point estimates, bootstrap intervals, paired changes, robustness summaries, groups, breaking
    points, temporal stability and quality (the manifest's input contracts name the clip models)."""
    return run_metrics(rows, config.detectors, config.levels, aggregate=config.aggregate, n_boot=config.bootstrap,
                       seed=config.seed, reference=config.reference, clip_frames=clip_models(manifest or {}))


def clip_models(manifest: dict) -> dict[str, int]:
    """{detector: frames per clip} of the clip models in a run manifest (0: the whole video is one clip)."""
    return {name: int(info.get("input", {}).get("clip_frames") or 0)
            for name, info in (manifest.get("detectors") or {}).items() if info.get("input", {}).get("input") == "clip"}


def report(run_dirs: Iterable[Path], *, out: Path | None = None, fmt: str | None = None, aggregate: str | None = None,
           bootstrap: int | None = None, reference: str | None = None, seed: int | None = None,
           progress: Progress | None = None) -> Path:
    """Recompute each run's metrics.json from its scores.csv (with the run's own settings unless overridden) and
    write the report: into the run folder for one run, a merged comparison (default `runs/comparison/`) for several.
    `progress`: a stage line per run and for the report, on stderr.
    """
    progress = progress or Progress(enabled=False)
    run_dirs = [Path(d) for d in run_dirs]
    overrides = {k: v for k, v in dict(aggregate=aggregate, bootstrap=bootstrap, reference=reference,
                                       seed=seed).items() if v is not None}
    for run_dir in run_dirs:
        manifest_path = run_dir / MANIFEST_FILE
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{run_dir}: not a run folder (no {MANIFEST_FILE})")
        manifest = read_json(manifest_path)
        if not isinstance(manifest, dict) or not {"config", "levels"} <= manifest.keys():
            raise ValueError(f"{manifest_path}: not a run manifest of this tool (no config or levels)")
        if busy := holder(run_dir):  # reading is safe (rows are appended whole, JSON replaced atomically)
            print(f"warning: {run_dir} is in use by a run that is still writing it ({busy}): this report covers "
                  "the rows recorded so far, and the run rewrites metrics.json and report.md when it ends",
                  file=sys.stderr)
        config = dataclasses.replace(RunConfig.from_dict(manifest["config"]), levels=list(manifest["levels"]),
                                     **overrides)
        rows = read_scores(run_dir)  # a damaged scores.csv is one error line, before any progress line
        progress.stage(f"metrics of {run_dir}{bootstrap_note(config.bootstrap)}")
        write_json(run_dir / METRICS_FILE, metrics_document(rows, config, manifest))
    if out is None:  # a folder: the report is `report.<format>` in it
        out = run_dirs[0] if len(run_dirs) == 1 else Path("runs") / "comparison"
    progress.stage("report and figures")
    written = write_report(run_dirs, out, fmt)
    progress.done()
    return written
