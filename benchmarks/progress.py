"""What a run is doing, on stderr, for every phase that can take more than a few seconds.

Why: a new user saw two minutes of silence before the first bar (imports, then the demo generation) and 21 s after
it (metrics, bootstrap, figures) and could not tell that from a hang (issue 17). Every phase now says what it does:
one line per stage, a bar where the work is counted (demo clips, videos). All of it goes to stderr, so stdout keeps
only the results table (machine-readable); `Progress(enabled=False)` (`-q`) prints nothing.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from tqdm import tqdm

__all__ = ["Progress"]


@dataclass
class Progress:
    """Stage lines and bars on `stream` (stderr), or nothing when not `enabled`."""

    enabled: bool = True
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    _bar: tqdm | None = field(default=None, init=False, repr=False)
    _stage_started: float | None = field(default=None, init=False, repr=False)

    def stage(self, text: str) -> None:
        """One line saying what starts now (ended by the next stage or `done`, which add the seconds it took)."""
        self._end_stage()
        if self.enabled:
            print(f"{text} ...", file=self.stream, flush=True)
            self._stage_started = time.perf_counter()

    def done(self) -> None:
        """The last stage is over."""
        self._end_stage()

    def _end_stage(self) -> None:
        if self._stage_started is not None:
            seconds = time.perf_counter() - self._stage_started
            if seconds >= 1:
                print(f"  ({seconds:.1f} s)", file=self.stream, flush=True)
            self._stage_started = None

    def bar(self, total: int, desc: str, unit: str, initial: int = 0) -> tqdm:
        """A bar over `total` units (disabled, but still usable, when not `enabled`)."""
        self._end_stage()
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream, disable=not self.enabled)

    def callback(self, desc: str, unit: str):
        """A `datasets.Progress` callback, `(done, total)`, drawing one bar that closes when done reaches total: for
        readers that prepare data (the demo generator), which must not import this package."""

        def update(done: int, total: int) -> None:
            if self._bar is None:
                self._bar = self.bar(total, desc, unit)
            self._bar.update(done - self._bar.n)
            if done >= total:
                self._bar.close()
                self._bar = None

        return update
