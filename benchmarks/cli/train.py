"""`python -m benchmarks train`: train or fine-tune a detector with the evaluation pipeline (see README, Training)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import benchmarks
import perturbations

from ..preflight import check_dataset, check_detectors, check_file
from .arguments import (
    add_data_args,
    detector_options,
    face_settings,
    fraction,
    non_negative_float,
    non_negative_int,
    open_fraction,
    positive_float,
    positive_int,
    seed_int,
)
from .datasets import add_dataset_option_args, dataset_options


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train or fine-tune a detector (produces the demo weights)",
        description="Train or fine-tune a detector on a dataset split with the same frame/face pipeline and cache as "
        "`run`. Validation videos are held out by identity when the dataset knows identities (else by video), "
        "the epoch with the best validation video AUC is kept, and the weights are saved as safetensors + card "
        "with <out>.log.json/.log.csv/.log.png. Each epoch saves <out>.train-state.pt; running the same command "
        "again resumes after the last finished epoch.",
        epilog="Examples:\n  python -m benchmarks train --detector meso --dataset demo --out meso.safetensors\n"
        "  python -m benchmarks train --detector resnet-lstm --backbone-weights resnet50.pth "
        "--freeze-backbone-epochs 2 --dataset celebdf --data-root DIR --augment heavy --out rl.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detector", default="meso", help="detector name (see `list`; timm:<name> and pkg.mod:Class work)")
    add_data_args(p, "train", default_frames=16)
    add_dataset_option_args(p)
    p.add_argument("--out", type=Path, help="weight file to write (default runs/train-<timestamp>/<detector>.safetensors)")
    p.add_argument("--weights", help="start from these weights (fine-tuning; any format the detector loads); "
                   "default: random initialisation")
    p.add_argument("--backbone-weights", help="local ImageNet weights for a zoo detector's backbone (never downloaded)")
    p.add_argument("--detector-option", action="append", default=[], metavar="KEY=VALUE",
                   help="adapter option, e.g. variant=b1 for efficientnet, clip_frames=8 for clip models, ela=true "
                   "(error-level-analysis input, recorded in the weights' card)")
    p.add_argument("--epochs", type=positive_int, default=6, help="maximum epochs (default 6)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="frames (frame models) or clips per step (default 32)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0, help="Adam weight decay (default 0)")
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                   help="learning-rate schedule per step after warm-up (default cosine, down to --min-lr-ratio)")
    p.add_argument("--warmup-epochs", type=non_negative_float, default=0.0, help="linear warm-up length in epochs (default 0)")
    p.add_argument("--min-lr-ratio", type=fraction, default=0.01, help="cosine floor as a fraction of --lr (default 0.01)")
    p.add_argument("--class-balance", choices=["weights", "sampler", "none"], default="weights",
                   help="real/fake imbalance: weights (default; BCE pos_weight = real/fake count), sampler "
                   "(class-balanced draws each epoch) or none")
    p.add_argument("--freeze-backbone-epochs", type=non_negative_int, default=0, metavar="K",
                   help="train only the head for the first K epochs (backbone weights and batch-norm statistics "
                   "frozen), then everything (default 0)")
    p.add_argument("--backbone-lr-mult", type=non_negative_float, default=1.0,
                   help="learning rate of the backbone relative to the head once unfrozen (default 1)")
    p.add_argument("--patience", type=non_negative_int, default=0, metavar="P",
                   help="early stopping: end after P epochs without a better validation AUC (default 0: never)")
    p.add_argument("--augment", default="none", metavar="LEVEL",
                   help="perturb training videos with a level: none (default), flip, heavy, or any level/spec "
                   "of `run --level` that works on frames (GB:3, df:mix, ...); validation stays clean")
    p.add_argument("--augment-p", type=fraction, default=0.5,
                   help="probability that a video is perturbed in an epoch (default 0.5)")
    p.add_argument("--no-mirror", action="store_true", help="no random horizontal mirroring (default: mirror half)")
    p.add_argument("--val-fraction", type=open_fraction, default=0.2,
                   help="share of training videos held out, between 0 and 1 exclusive (default 0.2)")
    p.add_argument("--val-split", help="validate on this dataset split instead (e.g. val for FaceForensics++)")
    p.add_argument("--split-by", choices=["auto", "identity", "video"], default="auto",
                   help="hold out whole identities (identity), single videos (video), or identities when the "
                   "dataset has enough of them (auto, default)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for initialisation, split, order and augmentation, >= 0 (default 0)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N", help="processes extracting faces (default 1)")
    p.add_argument("--fresh", action="store_true", help="ignore a saved training state and start again")
    p.set_defaults(handler=cmd_train)
    return p


def cmd_train(args) -> int:
    """Names and files are checked before torch is imported (`benchmarks.TrainConfig` imports the training code)."""
    check_detectors([args.detector])
    check_dataset(args.dataset, dataset_options(args), args.data_root)
    for what, path in (("--weights", args.weights), ("--backbone-weights", args.backbone_weights),
                       ("--face-model", args.face_model)):
        check_file(what, path)
    perturbations.expand(args.augment)
    if args.out is not None and args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give the weight file to write (NAME.safetensors)")
    print("loading torch and the training code ...", file=sys.stderr, flush=True)
    options = detector_options(args.detector_option, [args.detector]).get(args.detector, {})
    if args.backbone_weights:
        options["backbone_weights"] = args.backbone_weights
    config = benchmarks.TrainConfig(
        detector=args.detector, dataset=args.dataset, data_root=args.data_root, split=args.split,
        val_split=args.val_split, dataset_options=dataset_options(args), num_frames=args.frames, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, min_lr_ratio=args.min_lr_ratio, seed=args.seed,
        val_fraction=args.val_fraction, split_by=args.split_by, balance=args.class_balance,
        freeze_backbone_epochs=args.freeze_backbone_epochs, backbone_lr_mult=args.backbone_lr_mult,
        patience=args.patience, augment=args.augment, augment_p=args.augment_p, mirror=not args.no_mirror,
        weights=args.weights, detector_options=options, cache_dir=args.cache_dir, workers=args.workers,
        faces=face_settings(args), follow_symlinks=args.follow_symlinks)
    try:
        out = benchmarks.train(config, args.out, fresh=args.fresh)
    except KeyboardInterrupt:
        print("\ninterrupted: finished epochs are saved; run the same command again to resume", file=sys.stderr)
        raise
    print(f"weights: {out}")
    print(f"log: {out.with_suffix('.log.json')} (curves: {out.with_suffix('.log.png')})")
    return 0
