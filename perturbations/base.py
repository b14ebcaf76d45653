"""What a perturbation level is, and how its seed is derived.

A level is a named, ordered list of steps (see `steps.py`). Each step runs at a *stage*:
`video` (the file, before decoding), `frame` (full decoded frames, before face detection) or
`face` (the cached face crops with context: the default protocol). The level routes randomness
so that every step's parameters depend only on (seed, step position): applying a level whole or
split by stage draws the same parameters.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, Sequence

import numpy as np

SeedLike = int | np.random.Generator

STAGES = ("video", "frame", "face")  # pipeline order


def seed_for(run_seed: int, video_id: str, level: str) -> int:
    """A 63-bit seed from (run seed, video, level): stable across machines, processes and runs.

    Every detector sees the same pixels because the seed depends on nothing detector-specific.
    """
    digest = hashlib.sha256(f"{run_seed}\x1f{video_id}\x1f{level}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def as_generator(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def step_generators(seed: SeedLike, positions: tuple[int, ...], n_total: int) -> list[np.random.Generator]:
    """One generator per step, keyed by the step's position in the full level.

    A one-step level uses the seed's generator itself (so a one-step level's draws are those of its
    step function called with `default_rng(seed)`); longer levels draw one 63-bit base and derive
    `default_rng([base, position])`, so a part of a split level gets the same draws as the whole.
    """
    root = as_generator(seed)
    if n_total <= 1:
        return [root for _ in positions]
    base = int(root.integers(0, 2**63 - 1))
    return [np.random.default_rng([base, p]) for p in positions]


class StepKind(Protocol):
    """What stage resolution needs of a step type (`steps.StepType`): the stages it may run at."""

    stages: tuple[str, ...]


class StagedStep(Protocol):
    """What stage resolution needs of a configured step (`steps.Step`). A Protocol rather than an import of
    `steps`, so a level never depends on the step catalogue (which imports the implementations' names)."""

    type: StepKind
    stage: str | None

    def label(self) -> str: ...


def resolve_stages(ops: Sequence[StagedStep], apply_at: str, level_name: str = "") -> tuple[str, ...]:
    """Stage per step: pinned, else the latest allowed (`face` protocol) or earliest allowed (`frame`/`video`),
    never earlier than the previous step's stage."""
    if apply_at not in STAGES:
        raise ValueError(f"apply_at must be one of {', '.join(STAGES)}, got {apply_at!r}")
    current, out = 0, []
    for op in ops:
        allowed = [STAGES.index(s) for s in op.type.stages if STAGES.index(s) >= current]
        if op.stage is not None:
            pinned = STAGES.index(op.stage)
            if pinned < current:
                raise ValueError(f"level {level_name!r}: step {op.label()} (stage {op.stage}) cannot follow a "
                                 f"{STAGES[current]}-stage step")
            choice = pinned
        elif not allowed:
            raise ValueError(f"level {level_name!r}: step {op.label()} (stages {', '.join(op.type.stages)}) cannot "
                             f"follow a {STAGES[current]}-stage step")
        else:
            choice = max(allowed) if apply_at == "face" else min(allowed)
        out.append(STAGES[choice])
        current = choice
    return tuple(out)


@dataclass(frozen=True)
class Level:
    """A named perturbation applied to all frames (face crops with context, by default) of one video.

    Legacy form: `transform(frames, rng)`. Data form: `ops`, a tuple of `steps.Step`. Parameters are
    drawn once per video (unless a step says per-frame), so every frame gets the same transform.
    Frames are uint8 RGB, N x H x W x 3. Temporal steps may change N.
    """

    name: str
    description: str
    transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
    steps: tuple[str, ...] = field(default=())  # human-readable, stored in the manifest
    ops: tuple[Any, ...] = field(default=())  # steps.Step
    in_all: bool = True
    positions: tuple[int, ...] = field(default=())  # of `ops` in the full level (set by split_by_stage)
    n_total: int = -1  # step count of the full level (-1: len(ops))
    apply_at: str = "face"  # protocol the stages were resolved for (set by split_by_stage)
    write_back: str = "none"  # DeeperForensics write-back mode (`steps.WRITE_BACK_MODES`; set by with_write_back)

    # --- structure -------------------------------------------------------------------------

    @property
    def is_identity(self) -> bool:
        return self.transform is None and not self.ops

    def _positions(self) -> tuple[int, ...]:
        return self.positions or tuple(range(len(self.ops)))

    def _total(self) -> int:
        return self.n_total if self.n_total >= 0 else len(self.ops)

    def stages(self, apply_at: str | None = None) -> tuple[str, ...]:
        """The stage of every step under protocol `apply_at` ("face": as late as allowed; "frame"/"video": as early)."""
        if self.transform is not None:
            return ("face",)
        return resolve_stages(self.ops, apply_at or self.apply_at, self.name)

    @property
    def stage(self) -> str:
        """Earliest stage this level needs under the default `face` protocol ("face" for `none`)."""
        stages = self.stages("face")
        return min(stages, key=STAGES.index) if stages else "face"

    def allowed_stages(self) -> tuple[str, ...]:
        """Protocols that keep every step of this level at one stage (empty when it must be split)."""
        if self.transform is not None:
            return ("face",)
        return tuple(s for s in ("frame", "face") if all(s in op.type.stages for op in self.ops))

    def with_write_back(self, mode: str) -> "Level":
        """This level with its DeeperForensics steps written back as the dataset's videos were (`mode`
        `xvid+h264`: XVID .avi, then H.264 CRF 23, after each DF step but VC); `none` leaves the level as it is."""
        return replace(self, write_back=mode)

    def split_by_stage(self, apply_at: str = "face") -> dict[str, "Level"]:
        """{"video": Level, "frame": Level, "face": Level}; parts without steps are identity levels.

        Apply `video` with `apply_video` to the file, `frame` to decoded frames before face detection,
        `face` to the cached crops; pass each part the same seed.
        """
        if self.transform is not None:
            empty = Level(self.name, self.description, in_all=self.in_all)
            return {"video": empty, "frame": empty, "face": self}
        stages = self.stages(apply_at)
        positions = self._positions()
        parts = {}
        for stage in STAGES:
            idx = [i for i, s in enumerate(stages) if s == stage]
            ops = tuple(self.ops[i] for i in idx)
            parts[stage] = Level(self.name, self.description, None, tuple(op.label() for op in ops), ops,
                                 self.in_all, tuple(positions[i] for i in idx), self._total(), apply_at,
                                 self.write_back)
        return parts

    # --- application -----------------------------------------------------------------------

    def apply(self, frames: np.ndarray, seed: SeedLike, return_params: bool = False):
        """Perturb one video's frames; with `return_params` also return the drawn parameters (JSON-able)."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"level {self.name!r} expects uint8 frames N x H x W x 3, got {frames.dtype} {frames.shape}")
        params: dict[str, Any] = {"level": self.name, "steps": []}
        if len(frames) == 0:
            out = frames.copy()
        elif self.transform is not None:
            out = self.transform(frames, as_generator(seed))
        elif not self.ops:
            out = frames.copy()
        else:
            out = frames
            rngs = step_generators(seed, self._positions(), self._total())
            for op, rng in zip(self.ops, rngs):
                out, drawn = op.apply(out, rng, write_back=self.write_back) if self.write_back != "none" \
                    else op.apply(out, rng)
                params["steps"].append({"step": op.label(), **drawn})
                if len(out) == 0:
                    break
            if out is frames:
                out = frames.copy()
        out = np.ascontiguousarray(out, dtype=np.uint8)
        return (out, params) if return_params else out

    def apply_video(self, src: str | os.PathLike, dst: str | os.PathLike, seed: SeedLike,
                    apply_at: str | None = None) -> dict[str, Any]:
        """Write `dst`: `src` with this level's video-stage steps applied (codec re-encodes, temporal edits).

        Returns the settings for the manifest: {"level", "steps": [{step, encoder, crf, ...}], "src", "dst"}.
        Without video-stage steps the file is copied unchanged.
        """
        part = self.split_by_stage(apply_at or self.apply_at)["video"]
        settings: dict[str, Any] = {"level": self.name, "src": str(src), "dst": str(dst), "steps": []}
        if not part.ops:
            shutil.copyfile(src, dst)
            return settings
        rngs = step_generators(seed, part._positions(), part._total())
        current = str(src)
        for i, (op, rng) in enumerate(zip(part.ops, rngs)):
            last = i == len(part.ops) - 1
            target = str(dst) if last else f"{dst}.step{i}{os.path.splitext(str(dst))[1] or '.mp4'}"
            settings["steps"].append({"step": op.label(), **op.apply_video(current, target, rng)})
            if current != str(src):
                os.remove(current)
            current = target
        return settings


def identity(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return frames.copy()
