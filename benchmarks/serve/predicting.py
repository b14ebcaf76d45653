"""What the check page scores with: `benchmarks.predict` with the weights the app was started with (`serve
--weights`, or the bundled demo weights with `--demo-weights`) and run's defaults for everything else."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import detectors

from ..config import RunConfig
from ..prediction.api import predict
from ..prediction.rows import Prediction, PredictProgress

__all__ = ["Checker"]


@dataclasses.dataclass(frozen=True)
class Checker:
    """`predict` for one uploaded file with one of `detector_names`. `weights` {detector: file}; `demo_weights`
    lets a detector without one use the project's demo weights (meaningful on the demo videos only); `config`
    holds every other setting (run's defaults)."""

    detector_names: tuple[str, ...] = ("meso",)
    weights: dict[str, str | None] = dataclasses.field(default_factory=dict)
    demo_weights: bool = False
    config: RunConfig = dataclasses.field(default_factory=RunConfig)

    def detectors(self) -> list[str]:
        """The detectors a check can use: those with weights, and with `demo_weights` those shipping demo weights."""
        return [n for n in self.detector_names
                if self.weights.get(n) or (self.demo_weights and detectors.default_weights(n) is not None)]

    def __call__(self, path: Path, *, detectors: list[str], levels: list[str],
                 progress: Callable[[int, int, str], None]) -> list[Prediction]:
        def report(step: PredictProgress) -> None:
            progress(step.done, step.total, step.level)

        return predict([path], detectors=detectors, levels=levels, weights={k: v for k, v in self.weights.items() if v},
                       demo_weights=self.demo_weights, config=self.config, progress=report)
