"""The attack stage: the detector-dependent steps (`PGD`, `PGD-EOT`, parsed by `perturbations`' grammar) applied
to the face crops a detector is fed, after every other step of the level.

L-inf projected gradient descent (Madry et al., ICLR 2018) through the Adversarial Robustness Toolbox
(`ProjectedGradientDescentPyTorch` on a `PyTorchClassifier`): targeted towards the wrong class (a fake video
towards "real", a real one towards "fake"), `steps` iterations of size `step_ratio x eps / steps` (10 and
2.5 x eps / 10 by default: Madry et al.'s ratio), one random start in the eps-ball. ART draws that start from
numpy's legacy global state, so it is drawn inside `perturbations.legacy_seed` with a seed from the video's
level generator (restored afterwards): the same per video, run and level, different across videos. The crops are
resized to the detector's input first, attacked in [0, 1] and rounded back to uint8 (eps is a whole number of
pixel levels, so rounding never leaves the ball): the detector then scores exactly these pixels.

A frame model is attacked frame by frame (each frame is one sample); a clip model (`temporal`) through the whole
clip: the video's crops are one sample whose logit is the mean of its clip logits. `PGD-EOT` averages the logits
over `samples` JPEG re-saves per step (quality drawn uniformly in `quality_min`-`quality_max` from the video's
generator, a straight-through gradient through the non-differentiable codec: BPDA, Athalye et al. 2018), so
the perturbation survives compression. Transfer (`PGD:S@DETECTOR`): the caller computes the crops once on the
surrogate and feeds the same pixels to every detector (each resizes them to its own input as usual).
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

import perturbations

from ..config import RunError
from ..inference.models import fit_to_input, to_tensor

__all__ = ["attack_faces", "check_attacks"]

TARGET_NAMES = ("real", "fake")  # label 0 / 1 (datasets' convention)


def check_attacks(levels: dict[str, perturbations.Level], detector_names: list[str], score_in: str) -> None:
    """Before anything loads: every attack is its level's last step, a transfer surrogate is one of the run's
    detectors, and videos are scored where the detectors are (not by inference actors, which get crops only)."""
    for name, level in levels.items():
        try:
            step = perturbations.attack_step(level)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        if step is None:
            continue
        surrogate = dict(step.params)["surrogate"]
        if surrogate and surrogate not in detector_names:
            raise RunError(f"level {name!r}: the surrogate {surrogate!r} must be one of the run's detectors "
                           f"({', '.join(detector_names)})")
        if score_in == "actors":
            raise RunError(f"level {name!r}: attack levels need the detectors where videos are perturbed; "
                           "use --score-in main or workers, not actors")


class _TwoClass(torch.nn.Module):
    """The detector's P(fake) logit as two-class logits (0, l), so softmax(.)[1] = sigmoid(l); a clip model sees
    each sample as a whole clip (logit: the mean of its clips'); `jpeg` re-saves the input first (EOT)."""

    def __init__(self, detector, clip: bool, jpeg: tuple[int, np.random.Generator, int, int] | None) -> None:
        super().__init__()
        self.net = detector.model  # registered, so ART sees (and puts in eval mode) the detector's weights
        self.detector, self.clip, self.jpeg = detector, clip, jpeg

    def logit(self, x: torch.Tensor) -> torch.Tensor:
        if self.clip:
            return torch.stack([self.detector.fake_logits(sample).mean() for sample in x])
        return self.detector.fake_logits(x).reshape(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.jpeg is None:
            logit = self.logit(x)
        else:
            samples, rng, low, high = self.jpeg
            logit = torch.stack([self.logit(_jpeg_straight_through(x, int(rng.integers(low, high + 1))))
                                 for _ in range(samples)]).mean(0)
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


def _jpeg_straight_through(x: torch.Tensor, quality: int) -> torch.Tensor:
    """x re-saved as JPEG at `quality` in the forward pass, identity in the backward pass."""
    images = (x.detach().reshape(-1, *x.shape[-3:]).permute(0, 2, 3, 1).clamp(0, 1) * 255).round()
    images = images.to(torch.uint8).cpu().numpy()
    saved = np.stack([cv2.imdecode(cv2.imencode(".jpg", im[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                                   cv2.IMREAD_COLOR)[..., ::-1] for im in images])
    y = to_tensor(np.ascontiguousarray(saved)).to(x.device).reshape(x.shape)
    return x + (y - x).detach()


def attack_faces(detector, faces: np.ndarray, label: int, step, rng: np.random.Generator,
                 *, batch_size: int = 64) -> tuple[np.ndarray, dict[str, Any]]:
    """Adversarial crops of one video for `detector`: uint8 N x S x S x 3 at its input size, and what was drawn.

    `faces` are the level's crops before the attack (any square size), `label` the video's true label (1 fake),
    `step` the attack step (`perturbations.split_attack`), `rng` the video's level generator.
    """
    from art.attacks.evasion import ProjectedGradientDescentPyTorch  # heavy: imported by attack levels only
    from art.estimators.classification import PyTorchClassifier

    params = dict(step.params)
    clean = fit_to_input(faces, detector.input_size)
    x = to_tensor(clean).numpy()
    clip = bool(detector.temporal)
    start_seed = int(rng.integers(0, 2**32 - 1))
    jpeg = None
    if step.type.name == "PGD-EOT":
        if params["quality_min"] > params["quality_max"]:
            raise ValueError(f"{step.label()}: quality_min {params['quality_min']} > quality_max {params['quality_max']}")
        jpeg = (params["samples"], np.random.default_rng(int(rng.integers(0, 2**63 - 1))),
                params["quality_min"], params["quality_max"])
    device = next(detector.model.parameters()).device
    model = _TwoClass(detector, clip, jpeg)
    samples = x[None] if clip else x
    target = 1 - int(label)
    classifier = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=samples.shape[1:],
                                   nb_classes=2, clip_values=(0.0, 1.0),
                                   device_type="gpu" if device.type == "cuda" else "cpu")
    eps = params["eps"] / 255.0
    pgd = ProjectedGradientDescentPyTorch(classifier, norm=np.inf, eps=eps,
                                          eps_step=params["step_ratio"] * eps / params["steps"],
                                          max_iter=params["steps"], targeted=True, num_random_init=1,
                                          batch_size=1 if clip else batch_size, verbose=False)
    labels = np.zeros((len(samples), 2), np.float32)
    labels[:, target] = 1.0
    detector.model.eval()
    with perturbations.legacy_seed(start_seed):  # ART's random start comes from np.random.*
        adversarial = pgd.generate(samples, y=labels)
    adversarial = adversarial[0] if clip else adversarial
    out = np.ascontiguousarray((np.clip(adversarial, 0, 1) * 255).round().astype(np.uint8).transpose(0, 2, 3, 1))
    linf = int(np.abs(out.astype(np.int16) - clean.astype(np.int16)).max()) if len(out) else 0
    drawn = {"step": step.label(), "detector": detector.name, "target": TARGET_NAMES[target],
             "start_seed": start_seed, "linf_255": linf, "size": int(detector.input_size)}
    return out, drawn
