"""Where a run's videos are perturbed and scored, and on which device: decided once from the run's settings."""
from __future__ import annotations

import torch

from ..config import RunConfig, RunError
from ..inference.device import resolve_device

__all__ = ["scoring_place", "run_device"]

def scoring_place(config: RunConfig, device: torch.device) -> str:
    """Where videos are perturbed and scored: "workers" (each worker a whole video, on the CPU), "actors" (Ray
    tasks perturb, Ray actors that own the devices score: `execution.ray_cluster`) or "main".

    auto: workers when inference is on the CPU and faces run in other processes (`--workers` > 1, or Ray),
    since one main process scoring for all of them is then the bottleneck; actors with Ray on cuda (one per GPU
    of the cluster); main on a local GPU, which one process owns.
    """
    several = config.executor == "ray" or config.workers > 1
    if config.score_in == "auto":
        if config.executor == "ray" and device.type == "cuda":
            return "actors"
        return "workers" if device.type == "cpu" and several else "main"
    if config.score_in == "main":
        return "main"
    if config.score_in == "actors":
        if config.executor != "ray":
            raise RunError("--score-in actors needs --executor ray (Ray actors hold the detectors)")
        return "actors"
    if config.score_in != "workers":
        raise RunError(f"unknown --score-in {config.score_in!r}; use auto, main, workers or actors")
    if device.type != "cpu":
        raise RunError(f"--score-in workers scores on the CPU; with --device {device.type} use --score-in main")
    return "workers" if several else "main"


def run_device(config: RunConfig) -> torch.device:
    """The inference device. With Ray and `--device cuda`, the GPUs may sit on other nodes than this driver:
    the inference actors then check for them where they run."""
    if config.executor == "ray" and config.device == "cuda" and config.score_in in ("auto", "actors"):
        return torch.device("cuda")
    return resolve_device(config.device)
