"""A minimal, reproducible training routine (it produced the shipped demo weights).

Same frame/face pipeline and cache as evaluation; videos (never frames) are split into fit and
validation parts, so no frame of a validation video is trained on; the epoch with the best
validation video AUC is kept.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import datasets
import detectors

from .cache import FaceCache, default_cache_dir
from .faces import FaceSettings, inner_crop, make_detector
from .manifest import git_commit
from .metrics import binary_metrics
from .runner import detector_input


@dataclass
class TrainConfig:
    detector: str = "meso"
    dataset: str = "demo"
    data_root: str | None = None
    split: str = "train"
    dataset_options: dict = field(default_factory=dict)
    num_frames: int = 16
    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    val_fraction: float = 0.2
    cache_dir: str | None = None
    faces: FaceSettings = field(default_factory=FaceSettings)


def split_videos(labels: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of video indices: each class contributes `val_fraction` of its videos to validation."""
    fit, val = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_val = max(1, int(round(len(idx) * val_fraction))) if len(idx) > 1 else 0
        val += idx[:n_val].tolist()
        fit += idx[n_val:].tolist()
    return np.array(sorted(fit)), np.array(sorted(val))


def load_faces(config: TrainConfig, items, input_size: int, log) -> tuple[list[np.ndarray], np.ndarray]:
    cache = FaceCache(Path(config.cache_dir) if config.cache_dir else default_cache_dir())
    face_detector = make_detector(config.faces)
    faces, labels = [], []
    from tqdm import tqdm
    for item in tqdm(items, desc="faces", unit="video", file=sys.stderr):
        crops = cache.get_or_extract(item.path, config.num_frames, config.faces, detector=face_detector)
        if crops.status != "ok":
            log(f"skipped {item.video_id}: {crops.status} ({crops.message})")
            continue
        inner = inner_crop(crops.crops, config.faces.context)
        faces.append((detector_input(inner, input_size) * 255).round().to(torch.uint8))
        labels.append(item.label)
    return faces, np.array(labels)


def validation_metrics(detector, faces: list[torch.Tensor], labels: np.ndarray) -> dict:
    scores = [float(detector.predict(f.float() / 255).mean()) for f in faces]
    return binary_metrics(labels, scores)


def train(config: TrainConfig, out: Path | None = None, log=None) -> Path:
    log = log or (lambda msg: print(msg, file=sys.stderr))
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    detector = detectors.create(config.detector, random_init=True, seed=config.seed)
    items = list(datasets.open(config.dataset, config.data_root, split=config.split, **config.dataset_options))
    faces, labels = load_faces(config, items, detector.input_size, log)
    if len(set(labels.tolist())) < 2:
        raise ValueError(f"training needs real and fake videos; {config.dataset}/{config.split} gave {len(labels)} usable")
    fit_idx, val_idx = split_videos(labels, config.val_fraction, rng)
    x_fit = torch.cat([faces[i] for i in fit_idx])
    y_fit = torch.cat([torch.full((len(faces[i]),), float(labels[i])) for i in fit_idx])
    pos_weight = torch.tensor((y_fit == 0).sum().item() / max(1, (y_fit == 1).sum().item()))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.Adam(detector.model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    history, best = [], ((-1.0, 0.0), None, -1)
    for epoch in range(config.epochs):
        detector.model.train()
        order = torch.randperm(len(x_fit), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            x = x_fit[batch].float() / 255
            flip = torch.rand(len(batch), generator=generator) < 0.5  # mirror only: no eval perturbation is trained on
            x[flip] = x[flip].flip(-1)
            loss = loss_fn(detector.fake_logits(x), y_fit[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        val = validation_metrics(detector, [faces[i] for i in val_idx], labels[val_idx])
        auc, val_loss = val["auc"], val["log_loss"]
        history.append({"epoch": epoch + 1, "train_loss": total / len(x_fit), "val_auc": auc, "val_loss": val_loss})
        log(f"epoch {epoch + 1}/{config.epochs}: loss {total / len(x_fit):.4f}, validation video AUC {auc}, "
            f"validation loss {val_loss:.4f}")
        rank = (auc if auc is not None else -1.0, -val_loss)  # best AUC; among equal AUCs the lowest loss
        if best[1] is None or rank > best[0]:
            best = (rank, {k: v.detach().clone() for k, v in detector.model.state_dict().items()}, epoch + 1)
    if best[1] is not None:
        detector.model.load_state_dict(best[1])
    out = Path(out) if out else Path("runs") / f"train-{datetime.now():%Y%m%d-%H%M%S}" / f"{config.detector}.safetensors"
    out.parent.mkdir(parents=True, exist_ok=True)
    provenance = (f"trained by `python -m benchmarks train` on {config.dataset} split '{config.split}' "
                  f"({len(fit_idx)} fit / {len(val_idx)} validation videos, {len(x_fit)} face crops), "
                  f"seed {config.seed}, {config.epochs} epochs, kept epoch {best[2]} (validation video AUC "
                  f"{best[0][0]:.3f}, loss {-best[0][1]:.4f}), commit {git_commit()}")
    detectors.export(detector, out, provenance=provenance,
                     extra={"training": {"config": asdict(config), "history": history}})
    out.with_suffix(".log.json").write_text(json.dumps({"config": asdict(config), "history": history,
                                                         "finished": datetime.now(timezone.utc).isoformat()},
                                                        indent=1, default=str))
    return out
