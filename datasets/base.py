"""The one record every dataset reader yields, and the error readers raise."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REAL, FAKE = 0, 1


class DatasetError(ValueError):
    """A dataset that cannot be read as asked: the message names the file (and line) at fault."""


@dataclass(frozen=True)
class VideoItem:
    """One labelled video. `label` is 1 for fake, 0 for real, whatever the source's convention.

    `video_id` is unique within the dataset and stable across machines (POSIX-style relative
    path without extension), so it can seed perturbations and key results.
    """

    video_id: str
    path: Path
    label: int
    split: str = "test"
    groups: dict[str, str] = field(default_factory=dict)
