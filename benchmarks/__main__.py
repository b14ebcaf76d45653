"""Command line: `python -m benchmarks run|list|report|train` (see README)."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .arguments import add_data_args as _add_data_args, detector_options as _detector_options, face_settings

EPILOG = "Examples:\n  python -m benchmarks run --detector meso --level heavy\n" \
         "  python -m benchmarks run --dataset folder --data-root DIR --weights MesoInception_DF.h5 --level all\n" \
         "  python -m benchmarks report runs/RUN_A runs/RUN_B --out comparison.md"


def command_modules() -> list[str]:
    """Further subcommands live in modules `benchmarks/cli_*.py`, each with `add_parser(subparsers)` setting `handler`."""
    import pkgutil
    package = Path(__file__).resolve().parent
    return sorted(f"benchmarks.{m.name}" for m in pkgutil.iter_modules([str(package)]) if m.name.startswith("cli_"))


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _add_metric_args(p: argparse.ArgumentParser, defaults: bool) -> None:
    """Metric options; for `report` they default to what the run used (from its manifest)."""
    note = "" if defaults else "; default: as in the run"
    p.add_argument("--aggregate", choices=["mean", "median", "max", "logit-mean"], default="mean" if defaults else None,
                   help=f"video score from frame P(fake) (default mean{note})")
    p.add_argument("--bootstrap", type=int, default=1000 if defaults else None, metavar="N",
                   help=f"bootstrap resamples for 95%% intervals, 0 for none (default 1000{note})")
    p.add_argument("--reference", default="meso" if defaults else None,
                   help=f"reference detector for the corruption error CE/mCE (default meso{note})")


def build_parser() -> argparse.ArgumentParser:
    from .cli_datasets import add_dataset_option_args

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Robustness benchmark for deepfake "
                                     "video detectors: AUC, AP and accuracy under perturbations.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="benchmark detectors under perturbation levels",
                         description="Benchmark detectors on a dataset at perturbation levels; the clean level "
                         "`none` is always included. Writes scores.csv, metrics.json, manifest.json and report.md "
                         "to the run folder; an interrupted run resumes when the same command is run again.")
    run.add_argument("--detector", default="meso", type=_csv, help="detector name or comma list (default meso)")
    run.add_argument("--level", default="heavy",
                     help="level spec or comma list (default heavy; `none` is always added): named levels none, "
                     "flip, heavy, df-mix, df-mild, df-severe; one step at a severity 1-5 such as GB:3 or JPEG:5; "
                     "steps joined with + (JPEG:5+GNC:2); groups all, df:3 (seven DeeperForensics types at "
                     "severity 3), df:all (35 levels), df:mix (random DeeperForensics mixtures)")
    run.add_argument("--levels-file", action="append", default=[], metavar="TOML",
                     help="add the levels defined in a TOML file (see perturbations/README.md); repeatable")
    run.add_argument("--apply-at", choices=["face", "frame"], default="face",
                     help="face (default): perturb the cached face crops, isolating the detector; frame: perturb "
                     "full frames before face detection (end to end; slower, no face cache for perturbed levels)")
    run.add_argument("--weights", action="append", default=[], metavar="[NAME=]PATH",
                     help="weight file (.h5 Keras MesoNet, deepfake_detector .pth, or .safetensors); "
                     "NAME=PATH per detector when several; default: the shipped demo weights on `--dataset demo`")
    run.add_argument("--random-init", action="store_true", help="allow untrained detectors (marked in the report)")
    run.add_argument("--backbone-weights", action="append", default=[], metavar="[NAME=]PATH",
                     help="local ImageNet weights for a zoo detector's backbone (never downloaded); without them "
                     "a random backbone is used and the report says so")
    run.add_argument("--detector-option", action="append", default=[], metavar="[NAME:]KEY=VALUE",
                     help="adapter option, e.g. variant=b1 for efficientnet, clip_frames=16 for clip models")
    _add_data_args(run, "test")
    add_dataset_option_args(run)
    run.add_argument("--seed", type=int, default=0, help="run seed for perturbation parameters (default 0)")
    run.add_argument("--batch-size", type=int, default=None, metavar="N",
                     help="frames per forward pass, filled across consecutive videos for frame models; clip models "
                     "get one video per call (default: 8 on CPU, where small batches are faster, 64 on a GPU)")
    _add_metric_args(run, defaults=True)
    run.add_argument("--max-videos", type=int, help="use only the first N videos of the split")
    run.add_argument("--out", help="run folder (default: runs/<timestamp>-<detector>, or the unfinished run of the "
                     "same configuration, which is resumed)")
    run.add_argument("--fresh", action="store_true", help="start a new run folder instead of resuming")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="processes decoding videos and detecting faces while the main process scores "
                     "(default: the number of cores; 1 = all in the main process). With --executor ray: the "
                     "CPUs of the local Ray instance")
    run.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="local (default): a process pool on this machine; ray: face extraction as Ray tasks "
                     '(pip install -e ".[ray]"); data and --cache-dir must be on storage every node sees')
    run.add_argument("--ray-address", metavar="HOST:PORT",
                     help="connect to a running Ray cluster (e.g. the head node's 10.0.0.1:6379, or 'auto'); "
                     "default: start a local Ray instance")
    run.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                     help="inference device (default auto: cuda if available, else mps, else cpu)")
    run.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                     help="inference arithmetic: fp32 (default), or mixed precision with torch.autocast in float16 "
                     "(for GPUs) or bfloat16 (GPUs, CPUs with bf16 units). Mixed precision changes the scores "
                     "slightly, so it is part of the run's identity and of the score-cache key")
    run.add_argument("--score-in", choices=["auto", "main", "workers", "actors"], default="auto",
                     help="where videos are perturbed and scored: workers (each worker process or Ray task does whole "
                     "videos with its own copy of the detectors, on the CPU), main (the main process, fed by the "
                     "face workers; batches span videos), actors (with --executor ray: Ray tasks perturb, Ray actors "
                     "holding the detectors score, one per GPU of the cluster), auto (default: workers on the CPU "
                     "with --workers > 1 or Ray, actors with Ray on cuda, main on a local GPU). Scores are the same "
                     "either way")
    run.add_argument("--actors", type=int, default=0, metavar="N",
                     help="inference actors for --score-in actors (default: one per GPU of the Ray cluster with "
                     "--device cuda, one on the CPU)")
    run.add_argument("--cache-perturbed", action="store_true",
                     help="store each video's perturbed crops per level in the cache directory and load them in later "
                     "runs instead of perturbing again (a run that adds a detector then skips re-encoding, "
                     "re-detection and imgaug); about 4 MB per video and level on disk, so off by default")
    run.add_argument("--no-score-cache", dest="score_cache", action="store_false",
                     help="score everything again instead of reusing rows that earlier runs computed from identical "
                     "inputs (same face crops, level, seed, detector weights and options, code and library versions)")

    sub.add_parser("list", help="show registered detectors, datasets and perturbation levels")

    report = sub.add_parser("report", help="rebuild a run's report from its scores.csv, or merge several runs",
                            description="Recompute metrics.json from scores.csv and write report.md. With one "
                            "RUN_DIR the report goes into it; with several, a merged comparison goes to --out.")
    report.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    report.add_argument("--out", type=Path, help="report file or folder (default RUN_DIR/report.md, or "
                        "runs/comparison/ for several runs)")
    report.add_argument("--format", choices=["md", "html", "csv", "json"],
                        help="md (default, or from the --out suffix), html (one self-contained file), csv, json")
    _add_metric_args(report, defaults=False)
    report.add_argument("--seed", type=int, help="bootstrap seed (default: the run's seed)")

    for module_name in command_modules():
        importlib.import_module(module_name).add_parser(sub)
    return parser


def _weights_map(values: list[str], names: list[str]) -> dict[str, str | None]:
    mapping: dict[str, str | None] = {}
    for value in values:
        matches = [n for n in names if value.startswith(n + "=")]  # names may contain ':' (timm:x, pkg.mod:Class)
        if matches:
            name = max(matches, key=len)
            mapping[name] = value[len(name) + 1:]
        elif len(names) == 1:
            mapping[names[0]] = value
        else:
            raise ValueError(f"--weights {value!r}: with several detectors give NAME=PATH (names: {', '.join(names)})")
    return mapping


def _start_workers_early(args) -> None:
    """Start the local pool's forkserver before this process imports torch, so both imports (about 1 s each) run
    at once; `run` starts it too, and a running server is kept."""
    from .executors import default_workers, start_forkserver
    if args.executor != "local" or (args.workers or default_workers()) < 2:
        return
    scoring_workers = args.score_in in ("auto", "workers") and args.device in ("auto", "cpu")
    start_forkserver(("benchmarks.runner",) if scoring_workers else ())


def _workers(args) -> int:
    from .executors import default_workers
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.ray_address and args.executor != "ray":
        raise ValueError("--ray-address needs --executor ray")
    return args.workers or default_workers()


def cmd_run(args) -> int:
    _start_workers_early(args)
    import perturbations
    from .config import RunConfig
    from .runner import run
    from reports.tables import column_label, main_table

    from .cli_datasets import dataset_options
    for levels_file in args.levels_file:
        perturbations.load_levels_file(levels_file)
    config = RunConfig(detectors=args.detector, levels=perturbations.expand(args.level), dataset=args.dataset,
                       apply_at=args.apply_at, levels_files=[str(Path(f).resolve()) for f in args.levels_file],
                       data_root=args.data_root, split=args.split, dataset_options=dataset_options(args), weights=_weights_map(args.weights, args.detector),
                       random_init=args.random_init, num_frames=args.frames, seed=args.seed,
                       batch_size=args.batch_size, max_videos=args.max_videos, cache_dir=args.cache_dir,
                       aggregate=args.aggregate, bootstrap=args.bootstrap, reference=args.reference,
                       backbone_weights={k: v for k, v in _weights_map(args.backbone_weights, args.detector).items() if v},
                       detector_options=_detector_options(args.detector_option, args.detector),
                       out=args.out, faces=face_settings(args), workers=_workers(args), executor=args.executor,
                       ray_address=args.ray_address, device=args.device, score_cache=args.score_cache, score_in=args.score_in,
                       actors=args.actors, precision=args.precision,
                       cache_perturbed=args.cache_perturbed)
    result = run(config, fresh=args.fresh, progress=not args.quiet)
    entries = [m.to_dict() for m in result.metrics]
    several = len(config.detectors) > 1
    print(main_table(entries, [column_label(e, several) for e in entries]))
    print(f"\nrun folder: {result.run_dir}  (report.md, scores.csv, metrics.json, manifest.json)")
    return 0


def cmd_list(args) -> int:
    import datasets
    import detectors
    import perturbations
    print("detectors:")
    for name in detectors.available():
        print(f"  {name:18s} {detectors.describe(name)}")
    print(f"  {'timm:<model>':18s} any timm backbone with a binary head (pool, dense 256-128-64, sigmoid)")
    print(f"  {'pkg.module:Class':18s} your own detector implementing the adapter protocol (README)")
    print("datasets:")
    for name in datasets.available():
        print(f"  {name:18s} {datasets.describe(name).removeprefix(name + ': ')}")
    print("perturbation levels (--level; 'all' = none, flip, heavy):")
    for name in perturbations.available():
        print(f"  {name:18s} {perturbations.describe(name)}")
    print("perturbation step types (--level TYPE:SEVERITY, joined with +; see perturbations/README.md):")
    print("  " + ", ".join(perturbations.step_types()))
    return 0


def cmd_report(args) -> int:
    from reports import write_report
    from .config import RunConfig
    from .runner import metrics_document
    from . import results

    for run_dir in args.run_dirs:
        manifest = results.read_json(run_dir / results.MANIFEST_FILE)
        config = RunConfig.from_dict(manifest["config"])
        config.levels = list(manifest["levels"])
        for name in ("aggregate", "bootstrap", "reference", "seed"):
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
        results.write_json(run_dir / results.METRICS_FILE, metrics_document(results.read_scores(run_dir), config))
    out = args.out or (args.run_dirs[0] / results.REPORT_FILE if len(args.run_dirs) == 1
                       else Path("runs") / "comparison")
    print(f"report: {write_report(args.run_dirs, out, args.format)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": cmd_run, "list": cmd_list, "report": cmd_report}
    try:
        handler = handlers.get(args.command) or args.handler
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
