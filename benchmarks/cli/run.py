"""`python -m benchmarks run`: a detector x level benchmark on a dataset, written to a run folder."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import benchmarks
import perturbations
from reports.run_files import DETECTOR_ERROR, read_scores
from reports.tables import column_label, main_table

from .. import protocols
from ..config import BACKENDS, RunConfig
from ..execution.local import SCORING_MODULE, default_workers, start_forkserver
from ..preflight import check_run
from ..progress import Progress
from .arguments import (
    add_data_args,
    add_detector_args,
    add_metric_args,
    csv_list,
    detector_options,
    face_settings,
    non_negative_int,
    positive_int,
    seed_int,
    weights_map,
)
from .datasets import add_dataset_option_args, dataset_options
from .presets import command_argv, follow, typed_dests

DESCRIPTION = ("Benchmark detectors on a dataset at perturbation levels; the clean level `none` is always included. "
               "Writes scores.csv, metrics.json, manifest.json and report.md to the run folder; an interrupted run "
               "resumes when the same command is run again. Ctrl-C, SIGTERM and SIGHUP stop it cleanly: finished rows "
               "kept, exit 130, 143 or 129.")


def add_parser(subparsers) -> None:
    run = subparsers.add_parser("run", help="benchmark detectors under perturbation levels", description=DESCRIPTION)
    add_arguments(run)
    run.set_defaults(handler=main)


def build_run_parser() -> argparse.ArgumentParser:
    """The `run` arguments alone (`presets.typed_dests` parses a command line again with it)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks run", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def add_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--protocol", metavar="NAME",
                     help="follow a published evaluation's settings: " + ", ".join(protocols.names()) + " (`list "
                     "protocols` shows each preset's settings, source and known deviations); a flag given as well "
                     "overrides the preset's value, with a one-line note")
    run.add_argument("--detector", default="meso", type=csv_list, help="detector name or comma list (default meso)")
    run.add_argument("--level", default="heavy",
                     help="level spec or comma list (default heavy; `none` is always added): named levels none, "
                     "flip, heavy, df-mix, df-mild, df-severe; one step at a severity 1-5 such as GB:3 or JPEG:5; "
                     "steps joined with + (JPEG:5+GNC:2); groups all, df:3 (seven DeeperForensics types at "
                     "severity 3), df:all (35 levels), df:mix (random DeeperForensics mixtures); ImageNet-C "
                     "ic.NAME:S, ic:S, ic:all; attacks PGD:S, PGD-EOT:S, PGD:S@DETECTOR (transfer; `list`)")
    run.add_argument("--levels-file", action="append", default=[], metavar="TOML",
                     help="add the levels defined in a TOML file (see perturbations/README.md); repeatable")
    run.add_argument("--apply-at", choices=["face", "frame"], default="face",
                     help="face (default): perturb the cached face crops, isolating the detector; frame: perturb "
                     "full frames before face detection (end to end; slower, no face cache for perturbed levels)")
    run.add_argument("--df-write-back", choices=list(perturbations.WRITE_BACK_MODES), default="none",
                     help="none (default): DeeperForensics types (CS CC BW GNC GB PX, DFMIX) reach the detector as "
                     "distorted; xvid+h264: written back as the dataset's videos were (the reference's --via_xvid: "
                     "XVID .avi with OpenCV's settings, then H.264 CRF 23) after each DF step but VC, on the crops "
                     "or, with --apply-at frame, on the sampled frames. Changes DF scores: part of the run's identity")
    add_detector_args(run, "; default: the shipped demo weights on `--dataset demo`")
    add_data_args(run, "test")
    add_dataset_option_args(run)
    run.add_argument("--seed", type=seed_int, default=0, help="run seed for perturbation parameters, >= 0 (default 0)")
    run.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                     help="frames per forward pass, filled across consecutive videos for frame models; clip models "
                     "get one video per call (default: 8 on CPU, where small batches are faster, 64 on a GPU)")
    add_metric_args(run, defaults=True)
    run.add_argument("--max-videos", type=positive_int, metavar="N", help="use only the first N videos of the split (N >= 1)")
    run.add_argument("--out", help="run folder (default: runs/<timestamp>-<detector>, or the unfinished run of the "
                     "same configuration, which is resumed; videos whose label or file changed since are scored "
                     "again). One run writes a folder at a time: a second one fails at once")
    run.add_argument("--fresh", action="store_true", help="start a new run folder instead of resuming")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress output: without it, stage lines and bars (loading, demo generation, videos, "
                     "metrics, gallery, report) go to stderr; stdout holds only the results either way")
    run.add_argument("--workers", type=positive_int, default=None, metavar="N",
                     help="worker processes (default: the cores this process may use; 1 = everything in the main "
                     "process). On the CPU each worker takes whole videos: decoding, faces, perturbation and scoring "
                     "with its own copy of the detectors (--score-in auto); on a GPU, or with --score-in main, workers "
                     "decode and find faces while the main process perturbs and scores. With --executor ray: the CPUs "
                     "of the local Ray instance it starts (a cluster given by --ray-address uses its own)")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local (default): a pool of --workers processes on this machine (started with forkserver "
                     "while the main process loads torch; none with --workers 1); ray: Ray tasks on the cluster at "
                     "--ray-address or on a local Ray instance (pip install -e \".[ray]\"); data and --cache-dir must "
                     "then be on storage every node sees")
    run.add_argument("--ray-address", metavar="HOST:PORT",
                     help="connect to a running Ray cluster (e.g. the head node's 10.0.0.1:6379, or 'auto'); "
                     "default: start a local Ray instance")
    run.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                     help="inference device (default auto: cuda if available, else mps, else cpu)")
    run.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                     help="inference arithmetic: fp32 (default), or mixed precision with torch.autocast in float16 "
                     "(for GPUs) or bfloat16 (GPUs, CPUs with bf16 units). Mixed precision changes the scores "
                     "slightly, so it is part of the run's identity and of the score-cache key")
    run.add_argument("--backend", choices=list(BACKENDS), default="torch",
                     help="inference backend: torch (default), or onnxruntime: each detector exported to ONNX once "
                     "(cached in --cache-dir, checked against torch to 1e-4 in P(fake)) and run by ONNX Runtime on "
                     "the CPU (reported faster on an AVX2-only EPYC, measured slower for meso on the development Xeon: "
                     "measure yours, docs/throughput.md). Clip models and detectors that cannot "
                     "export keep torch, with a note in the manifest")
    run.add_argument("--score-in", choices=["auto", "main", "workers", "actors"], default="auto",
                     help="where videos are perturbed and scored: workers (each worker process or Ray task does whole "
                     "videos with its own copy of the detectors, on the CPU), main (the main process, fed by the "
                     "face workers; batches span videos), actors (with --executor ray: Ray tasks perturb, Ray actors "
                     "holding the detectors score, one per GPU of the cluster), auto (default: workers on the CPU "
                     "with --workers > 1 or Ray, actors with Ray on cuda, main on a local GPU). Scores are the same "
                     "either way")
    run.add_argument("--actors", type=non_negative_int, default=0, metavar="N",
                     help="inference actors for --score-in actors (default: one per GPU of the Ray cluster with "
                     "--device cuda, one on the CPU)")
    run.add_argument("--detector-timeout", type=timeout_seconds, default=None, metavar="SECONDS",
                     help="longest a detector call (a batch of frames, or a clip) may take; its rows then get status "
                     "detector_error, and as a hung call cannot be stopped the detector is skipped for the rest of "
                     "the run (in that process). Default: no limit")
    run.add_argument("--cache-perturbed", action="store_true",
                     help="store each video's perturbed crops per level in the cache directory and load them in later "
                     "runs instead of perturbing again (a run that adds a detector then skips re-encoding, "
                     "re-detection and imgaug); about 4 MB per video and level on disk, so off by default")
    run.add_argument("--no-score-cache", dest="score_cache", action="store_false",
                     help="score everything again instead of reusing rows that earlier runs computed from identical "
                     "inputs (same face crops, level, seed, detector weights and options, code and library versions)")


def start_workers_early(args: argparse.Namespace, levels: list[str]) -> None:
    """Start the local pool's forkserver before this process imports torch, so both imports (about 1 s each) run
    at once; `run` starts it too, and a running server is kept. Workers that score also get the modules of the
    `levels`' steps (`perturbations.step_modules`: imgaug's 0.7 s once, not once per worker)."""
    if args.executor != "local" or (args.workers or default_workers()) < 2:
        return
    scoring_workers = args.score_in in ("auto", "workers") and args.device in ("auto", "cpu")
    steps = perturbations.step_modules(perturbations.get(name) for name in levels)
    start_forkserver((SCORING_MODULE, *steps) if scoring_workers else ())


def timeout_seconds(text: str) -> float:
    """--detector-timeout: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def workers(args: argparse.Namespace) -> int:
    if args.ray_address and args.executor != "ray":
        raise ValueError("--ray-address needs --executor ray")
    return args.workers or default_workers()


def main(args: argparse.Namespace) -> int:
    """Every name, file and folder of the command is checked (`preflight.check_run`) before the forkserver starts
    or torch is imported, so a mistake costs well under a second; then the run, with progress on stderr."""
    protocol = protocols.get(args.protocol) if args.protocol else None  # an unknown name fails before any work
    config = RunConfig(detectors=args.detector, levels=csv_list(args.level), dataset=args.dataset,
                       apply_at=args.apply_at, df_write_back=args.df_write_back, levels_files=[str(Path(f).resolve()) for f in args.levels_file],
                       data_root=args.data_root, split=args.split, dataset_options=dataset_options(args),
                       weights=weights_map(args.weights, args.detector),
                       random_init=args.random_init, num_frames=args.frames, seed=args.seed,
                       batch_size=args.batch_size, max_videos=args.max_videos, cache_dir=args.cache_dir,
                       aggregate=args.aggregate, bootstrap=args.bootstrap, reference=args.reference,
                       backbone_weights={k: v for k, v in weights_map(args.backbone_weights, args.detector).items()
                                         if v},
                       detector_options=detector_options(args.detector_option, args.detector),
                       out=args.out, faces=face_settings(args), workers=workers(args), executor=args.executor,
                       ray_address=args.ray_address, device=args.device, score_cache=args.score_cache,
                       score_in=args.score_in, actors=args.actors, precision=args.precision, backend=args.backend,
                       cache_perturbed=args.cache_perturbed, detector_timeout=args.detector_timeout,
                       follow_symlinks=args.follow_symlinks)
    config = dataclasses.replace(config, levels=check_run(config))
    if protocol:
        config = follow(config, protocol, typed_dests(build_run_parser, command_argv(args)))
        config = dataclasses.replace(config, levels=check_run(config))
    start_workers_early(args, config.levels)
    progress = Progress(enabled=not args.quiet)
    progress.stage("loading torch and the pipeline")  # the first use of benchmarks.run imports them (seconds)
    result = benchmarks.run(config, fresh=args.fresh, progress=progress)
    entries = [m.to_dict() for m in result.level_metrics]
    several = len(config.detectors) > 1
    print(main_table(entries, [column_label(e, several) for e in entries]))
    print_detector_errors(result.run_dir)
    print(f"\nrun folder: {result.run_dir}  (report.md, scores.csv, metrics.json, manifest.json)")
    return 0


def print_detector_errors(run_dir: Path, limit: int = 10) -> None:
    """The rows a detector failed on (they count as skipped in the table above), so a fault is never silent."""
    failed = [r for r in read_scores(run_dir) if r["status"] == DETECTOR_ERROR]
    if not failed:
        return
    print(f"\n{len(failed)} row(s) with status {DETECTOR_ERROR} (no score, excluded from the metrics):")
    for row in failed[:limit]:
        print(f"  {row['video_id']} [{row['level']}]: {row['message']}")
    if len(failed) > limit:
        print(f"  ... and {len(failed) - limit} more (scores.csv, report.md)")
