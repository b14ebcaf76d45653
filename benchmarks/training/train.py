"""Training and fine-tuning with the evaluation pipeline (it produced the shipped demo weights).

Same frame/face pipeline and cache as `run`; the validation videos are split off by identity where the dataset
knows identities (else by video), so no frame or person of a validation video is trained on. Adam, BCE with
logits, class weights or balanced sampling, cosine schedule with warm-up, an optional frozen-backbone phase,
perturbation-level augmentation, early stopping on validation AUC. Each epoch is reproducible from (seed, epoch)
alone, so a resumed run ends with exactly the weights of an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import datasets
import detectors
from reports.training import plot_history, write_history_csv

from ..config import (
    FRACTION,
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    FaceSettings,
    default_cache_dir,
)
from ..metrics.binary import binary_metrics
from ..run_folder.manifest import git_commit
from .data import Augmentation, TrainVideo, epoch_inputs, epoch_samples, load_videos, sample_order
from .split import split_videos

BALANCE_MODES = ("weights", "sampler", "none")
SCHEDULES = ("cosine", "constant")
STATE_VERSION = 1


@dataclass
class TrainConfig:
    detector: str = "meso"
    dataset: str = "demo"
    data_root: str | None = None
    split: str = "train"
    val_split: str | None = None          # a dataset split to validate on instead of holding out training videos
    dataset_options: dict = field(default_factory=dict)
    num_frames: int = 16
    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.01            # cosine floor as a fraction of lr
    seed: int = 0
    val_fraction: float = 0.2
    split_by: str = "auto"                # auto | identity | video
    balance: str = "weights"              # weights | sampler | none
    freeze_backbone_epochs: int = 0
    backbone_lr_mult: float = 1.0
    patience: int = 0                     # epochs without a better validation AUC before stopping; 0 = never
    augment: str = "none"
    augment_p: float = 0.5
    mirror: bool = True
    weights: str | None = None            # start from these weights (fine-tuning); default random initialisation
    detector_options: dict = field(default_factory=dict)
    cache_dir: str | None = None
    workers: int = 1
    faces: FaceSettings = field(default_factory=FaceSettings)
    follow_symlinks: bool = False         # read files that symlinks point to outside the data root (RunConfig's)

    def validate(self) -> None:
        if self.balance not in BALANCE_MODES:
            raise ValueError(f"unknown --class-balance {self.balance!r}; use {', '.join(BALANCE_MODES)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown --schedule {self.schedule!r}; use {', '.join(SCHEDULES)}")
        for allowed, names in ((POSITIVE_INT, ("num_frames", "epochs", "batch_size", "workers")),
                               (NON_NEGATIVE_INT, ("freeze_backbone_epochs", "patience")), (SEED, ("seed",)),
                               (POSITIVE_FLOAT, ("lr",)), (FRACTION, ("min_lr_ratio", "augment_p")),
                               (NON_NEGATIVE_FLOAT, ("weight_decay", "warmup_epochs", "backbone_lr_mult")),
                               (OPEN_FRACTION, ("val_fraction",))):
            for name in names:  # the CLI's ranges (cli/arguments.py), for Python callers
                allowed.check(name, getattr(self, name))

    def fingerprint(self) -> str:
        """What determines the trained weights (not where files go or how many workers extract faces)."""
        data = {k: v for k, v in asdict(self).items() if k not in ("cache_dir", "workers", "follow_symlinks")}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- model pieces ------------------------------------------------------------------------------------------

def backbone_parameters(detector) -> list[torch.nn.Parameter]:
    """Parameters of the feature extractor (without any classifier it carries); the rest is the head."""
    get_backbone = getattr(detector.model, "backbone_modules", None)
    if get_backbone is None:
        raise ValueError(f"detector {detector.name!r} does not declare a backbone (backbone_modules), so "
                         "--freeze-backbone-epochs and --backbone-lr-mult cannot apply to it")
    backbone = get_backbone()
    get_classifier = getattr(backbone, "get_classifier", None)
    classifier = {id(p) for p in get_classifier().parameters()} if callable(get_classifier) else set()
    return [p for p in backbone.parameters() if id(p) not in classifier]


def set_backbone_frozen(detector, backbone: list[torch.nn.Parameter], frozen: bool) -> None:
    """Frozen: no gradients, and batch-norm statistics of the backbone stay as loaded."""
    for p in backbone:
        p.requires_grad_(not frozen)
    if frozen:
        owned = {id(p) for p in backbone}
        for module in detector.model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and \
                    any(id(p) in owned for p in module.parameters(recurse=False)):
                module.eval()


def lr_factor(step: int, total: int, warmup: int, schedule: str, floor: float) -> float:
    """Linear warm-up over `warmup` steps, then constant or cosine decay to `floor` at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def clip_slices(detector):
    """clips(n) for clip models (a sample is one clip), None for frame models (a sample is one frame)."""
    if detector.temporal:
        return detector.clips
    return lambda n: None


def sample_logits(detector, x: torch.Tensor, temporal: bool, lengths: list[int]) -> torch.Tensor:
    """One logit per sample: frames in one forward pass; clips one by one (each its own sequence)."""
    if not temporal:
        return detector.fake_logits(x)
    out, start = [], 0
    for n in lengths:
        out.append(detector.clip_logits(x[start:start + n]).reshape(-1)[:1])
        start += n
    return torch.cat(out)


@torch.inference_mode()
def video_scores(detector, videos: list[TrainVideo], input_size: int, context: float) -> list[float]:
    """Video P(fake) on clean crops: the mean over frames (clip models: their clips), as `run` aggregates."""
    no_aug = Augmentation(mirror=False)
    scores = []
    for v in videos:
        faces, _ = epoch_inputs(v, None, no_aug, 0, 0, input_size, context)
        scores.append(float(detector.predict(faces.float().div_(255)).mean()))
    return scores


# --- state -------------------------------------------------------------------------------------------------

def state_path(out: Path) -> Path:
    return out.with_suffix(".train-state.pt")


def save_state(path: Path, state: dict) -> None:
    """Atomic: an interrupted save never leaves a half-written state behind."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path, fingerprint: str) -> dict | None:
    if not path.is_file():
        return None
    with warnings.catch_warnings():  # torch warns about pickle protocols before it refuses: one line is enough
        warnings.simplefilter("ignore")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)   # never unpickles code
        except pickle.UnpicklingError:  # torch's message suggests weights_only=False: exactly what not to do
            raise ValueError(f"{path}: refused: not a training state of plain tensors and data (a pickle with code "
                             "or other objects in it, or a damaged file); delete it or pass --fresh") from None
        except (RuntimeError, EOFError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"{path}: not a training state this tool can read ({reason}); delete it or pass "
                             "--fresh") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a training state of this tool (not a dict); delete it or pass --fresh")
    if state.get("version") != STATE_VERSION or state.get("fingerprint") != fingerprint:
        raise ValueError(f"{path} belongs to a different training configuration; pass --fresh to start over "
                         "or choose another --out")
    return state


# --- the loop ----------------------------------------------------------------------------------------------

def train(config: TrainConfig, out: Path | None = None, log=None, fresh: bool = False,
          stop_after_epoch: int | None = None) -> Path:
    """Train, keep the epoch with the best validation AUC, write weights + card + log; resumes unless `fresh`.

    `stop_after_epoch` ends the session after that epoch as an interruption would (tests use it).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    config.validate()
    fingerprint = config.fingerprint()
    out = Path(out) if out else Path("runs") / f"train-{datetime.now():%Y%m%d-%H%M%S}" / f"{config.detector}.safetensors"
    state = None if fresh else load_state(state_path(out), fingerprint)

    def open_split(split: str) -> list:
        dataset = datasets.open(config.dataset, config.data_root, split=split, **config.dataset_options)
        datasets.check_inside_root(dataset, dataset.root, follow_symlinks=config.follow_symlinks)
        return list(dataset)

    items = open_split(config.split)  # bad manifests and paths are refused before the detector is built
    detector = detectors.create(config.detector, weights=config.weights, random_init=config.weights is None,
                                seed=config.seed, **config.detector_options)
    augmentation = Augmentation(config.augment, config.augment_p, config.mirror)
    level = augmentation.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)  # only now: a run refused above leaves no empty folder behind
    input_size, context = detector.input_size, config.faces.context
    cache_root = (Path(config.cache_dir) if config.cache_dir else default_cache_dir()).absolute()
    videos, skipped = load_videos(items, config.num_frames, config.faces, cache_root, input_size,
                                  keep_context=level is not None, workers=config.workers, log=log)
    labels = np.array([v.label for v in videos])
    if len(set(labels.tolist())) < 2:
        raise ValueError(f"training needs real and fake videos; {config.dataset}/{config.split} gave "
                         f"{len(videos)} usable ({len(skipped)} skipped)")
    if config.val_split:
        fit_videos = videos
        val_videos, val_skipped = load_videos(open_split(config.val_split), config.num_frames, config.faces,
                                              cache_root, input_size, False, config.workers, log)
        skipped += val_skipped
        split_info = {"mode": f"dataset split {config.val_split!r}", "fit_videos": len(fit_videos),
                      "val_videos": len(val_videos)}
    else:
        by_id = {item.video_id: item for item in items}
        split = split_videos([by_id[v.video_id] for v in videos], labels, config.val_fraction,
                             np.random.default_rng(config.seed), config.split_by)
        fit_videos, val_videos = [videos[i] for i in split.fit], [videos[i] for i in split.val]
        split_info = split.describe()
        log(f"split by {split.mode} ({split.reason}): {len(fit_videos)} fit / {len(val_videos)} validation videos"
            + (f"; {len(split.shared_identities)} identities appear in both" if split.shared_identities else ""))
    val_labels = np.array([v.label for v in val_videos])

    backbone = backbone_parameters(detector) if (config.freeze_backbone_epochs or config.backbone_lr_mult != 1) else []
    backbone_ids = {id(p) for p in backbone}
    head = [p for p in detector.model.parameters() if id(p) not in backbone_ids]
    groups = [{"params": head, "lr": config.lr, "base_lr": config.lr}]
    if backbone:
        groups.append({"params": backbone, "lr": config.lr * config.backbone_lr_mult,
                       "base_lr": config.lr * config.backbone_lr_mult})
    optimizer = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)

    temporal = detector.temporal
    clips = clip_slices(detector)
    fit_labels = [v.label for v in fit_videos]
    clean_lengths = [len(v.crops) for v in fit_videos]
    n_samples = len(epoch_samples([range(n) for n in clean_lengths], fit_labels, clips)[0])
    steps_per_epoch = math.ceil(n_samples / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))

    history: list[dict] = []
    best = {"epoch": 0, "rank": None, "state": None}
    best_auc, best_auc_epoch = -1.0, 0     # early stopping watches AUC alone (the kept epoch also uses the loss)
    start_epoch, step, stopped = 0, 0, ""
    if state is not None:
        detector.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, step, stopped = json.loads(state["history"]), state["step"], state["stopped"]
        best = {"epoch": state["best_epoch"], "rank": tuple(state["best_rank"]) if state["best_rank"] else None,
                "state": state["best_state"]}
        best_auc, best_auc_epoch = state["best_auc"], state["best_auc_epoch"]
        start_epoch = state["epoch"]
        log(f"resuming {state_path(out)} after epoch {start_epoch}")

    for epoch in range(start_epoch, config.epochs):
        if stopped:
            break
        epoch_started = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)   # dropout etc.: a function of (seed, epoch) only
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        frozen = epoch < config.freeze_backbone_epochs
        detector.model.train()
        if backbone:
            set_backbone_frozen(detector, backbone, frozen)
        inputs = [epoch_inputs(v, level, augmentation, config.seed, epoch, input_size, context)[0] for v in fit_videos]
        samples, y = epoch_samples(inputs, fit_labels, clips)
        n_fake = float(y.sum())
        pos_weight = torch.tensor((len(y) - n_fake) / max(n_fake, 1.0)) if config.balance == "weights" else None
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        order = sample_order(y, config.balance, generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size].tolist()
            parts = [inputs[samples[i][0]][samples[i][1]] for i in batch]
            x = torch.cat(parts).float().div_(255)
            factor = lr_factor(step, total_steps, warmup_steps, config.schedule, config.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor
            loss = loss_fn(sample_logits(detector, x, temporal, [len(p) for p in parts]), torch.from_numpy(y[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            step += 1
        scores = video_scores(detector, val_videos, input_size, context)
        val = binary_metrics(val_labels, scores)
        auc, val_loss = val["auc"], val["log_loss"]
        row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "frozen_backbone": frozen,
               "train_loss": total / max(1, len(order)), "val_auc": auc, "val_ap": val["ap"],
               "val_accuracy": val["accuracy"], "val_loss": val_loss,
               "seconds": round(time.perf_counter() - epoch_started, 2)}
        history.append(row)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.4f}, validation AUC "
            f"{'n/a' if auc is None else f'{auc:.4f}'}, validation loss {val_loss:.4f}"
            + (" (backbone frozen)" if frozen else ""))
        rank = (auc if auc is not None else -1.0, -val_loss)  # best AUC; among equal AUCs the lowest loss
        if best["rank"] is None or rank > best["rank"]:
            best = {"epoch": epoch + 1, "rank": rank,
                    "state": {k: v.detach().clone() for k, v in detector.model.state_dict().items()}}
        if rank[0] > best_auc:
            best_auc, best_auc_epoch = rank[0], epoch + 1
        elif config.patience and epoch + 1 - best_auc_epoch >= config.patience:
            stopped = f"early stop after epoch {epoch + 1}: no better validation AUC for {config.patience} epochs"
            log(stopped)
        save_state(state_path(out), {
            "version": STATE_VERSION, "fingerprint": fingerprint, "epoch": epoch + 1, "step": step,
            "model": detector.model.state_dict(), "optimizer": optimizer.state_dict(),
            "history": json.dumps(history), "stopped": stopped, "best_epoch": best["epoch"],
            "best_rank": list(best["rank"]), "best_state": best["state"], "best_auc": best_auc,
            "best_auc_epoch": best_auc_epoch})
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < config.epochs:
            raise KeyboardInterrupt(f"stopped after epoch {epoch + 1} as asked")

    detector.model.load_state_dict(best["state"])
    detector.model.eval()
    return write_outputs(detector, config, out, history, best, stopped, split_info, skipped,
                         n_fit=len(fit_videos), n_val=len(val_videos))


def write_outputs(detector, config: TrainConfig, out: Path, history: list[dict], best: dict, stopped: str,
                  split_info: dict, skipped: list[dict], n_fit: int, n_val: int) -> Path:
    """Weights + card (with provenance), `<out>.log.json`, `<out>.log.csv` and the `<out>.log.png` curves."""
    auc, loss = best["rank"]
    start = f"fine-tuned from {Path(config.weights).name}" if config.weights else "trained from random initialisation"
    provenance = (f"{start} by `python -m benchmarks train` on {config.dataset} split '{config.split}' "
                  f"({n_fit} fit / {n_val} validation videos, split by {split_info['mode']}), seed {config.seed}, "
                  f"{len(history)} of {config.epochs} epochs, kept epoch {best['epoch']} (validation video AUC "
                  f"{auc:.3f}, loss {-loss:.4f}), commit {git_commit()}")
    summary = {"config": asdict(config), "split": split_info, "skipped": skipped, "history": history,
               "best_epoch": best["epoch"], "stopped": stopped or "completed all epochs",
               "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    detectors.export(detector, out, provenance=provenance,
                     extra={"training": {k: summary[k] for k in ("config", "split", "history", "best_epoch")}})
    out.with_suffix(".log.json").write_text(json.dumps(summary, indent=1, default=str))
    write_history_csv(history, out.with_suffix(".log.csv"))
    plot_history(history, out.with_suffix(".log.png"), title=f"{config.detector} on {config.dataset}",
                 best_epoch=best["epoch"])
    return out
