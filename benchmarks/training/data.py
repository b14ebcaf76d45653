"""Training inputs: cached face crops per video, the per-epoch augmentation, and the samples of one epoch.

Faces come from the same face stage and cache as `run` (so a trained detector sees crops exactly like the ones
it is evaluated on). Augmentation is a perturbation level applied to a whole video's crops with a seed drawn
from (training seed, video, epoch): video-consistent, reproducible, and identical after a resume.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import perturbations

from ..config import FaceSettings
from ..execution.face_jobs import FaceJob
from ..execution.local import make_executor
from ..inference.models import fit_to_input  # the same resize evaluation applies
from ..pipeline.faces import inner_crop


@dataclass
class TrainVideo:
    """One usable training video. `crops` are uint8 N x S x S x 3: context crops (S = input * context) when
    an augmentation level needs the room around the face, else the face crops at the detector's input size."""

    video_id: str
    label: int
    crops: np.ndarray


def load_videos(items: list, num_frames: int, settings: FaceSettings, cache_root: Path, input_size: int,
                keep_context: bool, workers: int = 1, log=print) -> tuple[list[TrainVideo], list[dict]]:
    """Face crops of every item (cached; extracted in `workers` processes on a miss) and the skipped videos.

    Skips (no face, unreadable video, ...) are returned as records so the training log lists them.
    """
    from tqdm import tqdm

    executor = make_executor("local", workers, settings)
    jobs = (FaceJob(i, os.path.abspath(item.path), num_frames, settings, str(cache_root)) for i, item in enumerate(items))
    found: dict[int, TrainVideo] = {}
    skipped: list[dict] = []
    context_size = int(round(input_size * settings.context))
    try:
        for index, crops in tqdm(executor.map(jobs), total=len(items), desc="faces", unit="video", file=sys.stderr):
            item = items[index]
            if crops.status != "ok":
                skipped.append({"video_id": item.video_id, "status": crops.status, "message": crops.message})
                log(f"skipped {item.video_id}: {crops.status} ({crops.message})")
                continue
            data = fit_to_input(crops.crops, context_size) if keep_context else \
                fit_to_input(inner_crop(crops.crops, settings.context), input_size)
            found[index] = TrainVideo(item.video_id, int(item.label), data)
    finally:
        executor.close()
    return [found[i] for i in sorted(found)], skipped


@dataclass(frozen=True)
class Augmentation:
    """What training does to a video's crops each epoch, before they reach the detector."""

    level: str = "none"      # perturbation level name or spec; "none" = clean
    probability: float = 0.5  # chance that a video is perturbed in a given epoch
    mirror: bool = True       # horizontal mirror of the whole video with probability 0.5

    def resolve(self) -> perturbations.Level | None:
        """The face-stage level, or None; levels that rewrite the video file cannot run per epoch."""
        if self.level == "none":
            return None
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"--augment-p must be in [0, 1], got {self.probability}")
        level = perturbations.get(self.level)
        parts = level.split_by_stage("face")
        if not parts["video"].is_identity:
            raise ValueError(f"--augment {self.level}: steps {', '.join(parts['video'].steps)} re-encode the video "
                             "file and cannot be applied per training epoch; use face-stage levels")
        return level


def epoch_inputs(video: TrainVideo, level: perturbations.Level | None, augmentation: Augmentation, seed: int,
                 epoch: int, input_size: int, context: float) -> tuple[torch.Tensor, dict]:
    """uint8 N x 3 x S x S face crops of one video for one epoch, and what was applied."""
    rng = np.random.default_rng(perturbations.seed_for(seed, f"{video.video_id}#epoch{epoch}", augmentation.level))
    crops, applied = video.crops, {}
    if level is not None and rng.random() < augmentation.probability:
        crops = level.apply(crops, int(rng.integers(2**62)))
        applied["level"] = augmentation.level
    if crops.shape[1] != input_size:   # context crops: the face crop inside, as evaluation cuts it
        crops = fit_to_input(inner_crop(crops, context), input_size)
    if augmentation.mirror and rng.random() < 0.5:
        crops = crops[:, :, ::-1]
        applied["mirror"] = True
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).contiguous(), applied


def epoch_samples(videos: list[torch.Tensor], labels: list[int], clips) -> tuple[list[tuple[int, slice]], np.ndarray]:
    """(video index, frame slice) per training sample: one frame for frame models, one clip for clip models.

    `clips(n)` returns the clip slices of an n-frame video (clip models) or None (frame models).
    """
    samples, y = [], []
    for v, (faces, label) in enumerate(zip(videos, labels)):
        slices = clips(len(faces)) or [slice(i, i + 1) for i in range(len(faces))]
        samples += [(v, s) for s in slices]
        y += [label] * len(slices)
    return samples, np.asarray(y, dtype=np.float32)


def sample_order(y: np.ndarray, balance: str, generator: torch.Generator) -> torch.Tensor:
    """Sample indices for one epoch: a permutation, or (balance='sampler') a class-balanced draw of equal length."""
    if balance != "sampler":
        return torch.randperm(len(y), generator=generator)
    counts = np.bincount(y.astype(int), minlength=2).astype(np.float64)
    weights = torch.from_numpy(1.0 / np.maximum(counts, 1))[torch.from_numpy(y.astype(np.int64))]
    return torch.multinomial(weights, len(y), replacement=True, generator=generator)
