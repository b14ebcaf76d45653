"""timing.json: where a run's time went, kept across resumed sessions."""
from __future__ import annotations

import time
from pathlib import Path

from reports.run_files import read_json, write_json

__all__ = ["RunTiming", "TIMING_SCHEMA"]

TIMING_SCHEMA = 1


class RunTiming:
    """Where a run's time went, in `timing.json` of the run folder; a resumed run adds to what is there.

    `wall_seconds`: whole sessions; `loop_seconds`: their scoring loops (faces, perturbation, inference, rows
    written), without the metrics and gallery after it (`finish_seconds`); `first_video_seconds`: from the start
    of the loop to the first video's rows (worker start-up, model loading, the first video), so
    (loop - first) / (videos - 1) is the steady cost per video of a long run.
    `faces`: the face stage (decode + detect + crop + cache write) summed over the videos extracted, cache loads
    summed over cache hits, the main process's wait for face results and the wall time until the last one arrived.
    `levels`: per level the videos perturbed and the seconds spent perturbing (re-encoding and re-detecting
    included for video- and frame-stage levels), and per detector the frames scored and the inference seconds
    (input resizing included; a batch spanning several videos or levels is shared by frame count).
    `cache_discarded`: per cache (faces, perturbed, scores) the entries found damaged, swapped or implausible,
    discarded and computed again.
    """

    def __init__(self, path: Path | None, levels: list[str], detector_names: list[str]) -> None:
        """`path` None: an accumulator for one worker's video, merged into the run's timing with `add_levels`."""
        self.path = Path(path) if path is not None else None
        self.base = self._previous() if path is not None else {}
        self.session = {"wall_seconds": 0.0, "loop_seconds": 0.0, "finish_seconds": 0.0, "first_video_seconds": 0.0,
                        "faces": {"jobs": 0, "extracted": 0, "cache_hits": 0, "extract_seconds": 0.0,
                                  "cache_seconds": 0.0, "wait_seconds": 0.0, "wall_seconds": 0.0},
                        "levels": {lvl: {"videos": 0, "perturb_seconds": 0.0, "from_perturbed_cache": 0,
                                         "detectors": {d: {"frames": 0, "seconds": 0.0, "reused": 0}
                                                       for d in detector_names}}
                                   for lvl in levels},
                        "cache_discarded": {"faces": 0, "perturbed": 0, "scores": 0}}
        self.info: dict = {}
        self.started = time.perf_counter()
        self._saved = 0.0

    def _previous(self) -> dict:
        try:
            data = read_json(self.path)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("schema") == TIMING_SCHEMA else {}

    def perturbed(self, level: str, seconds: float, cached: bool = False) -> None:
        """One video's perturbation at `level` (`cached`: loaded from the perturbed-crop cache in `seconds`)."""
        entry = self.session["levels"][level]
        entry["videos"] += 1
        entry["perturb_seconds"] += seconds
        entry["from_perturbed_cache"] += int(cached)

    def inferred(self, level: str, detector: str, frames: int, seconds: float) -> None:
        entry = self.session["levels"][level]["detectors"][detector]
        entry["frames"] += frames
        entry["seconds"] += seconds

    def video_written(self) -> None:
        if not self.session["first_video_seconds"]:
            self.session["first_video_seconds"] = time.perf_counter() - self.started

    def add_levels(self, levels: dict) -> None:
        """Per-level numbers of a video scored elsewhere (a worker's `session["levels"]`)."""
        self.session["levels"] = _add_numbers(self.session["levels"], levels)

    def reused(self, level: str, detector: str) -> None:
        self.session["levels"][level]["detectors"][detector]["reused"] += 1

    def faces_waited(self, seconds: float) -> None:
        self.session["faces"]["wait_seconds"] += seconds
        self.session["faces"]["wall_seconds"] = time.perf_counter() - self.started

    def face_stage(self, stats) -> None:
        """Totals of this session's executor (`FaceStageStats`)."""
        self.session["faces"].update(jobs=stats.jobs, extracted=stats.jobs - stats.cache_hits,
                                     cache_hits=stats.cache_hits, extract_seconds=stats.extract_seconds,
                                     cache_seconds=stats.cache_seconds)

    def cache_discarded(self, counts: dict[str, int]) -> None:
        """This session's discarded cache entries per cache kind (`CacheLog.counts`)."""
        self.session["cache_discarded"].update(counts)

    def to_dict(self) -> dict:
        self.session["wall_seconds"] = time.perf_counter() - self.started
        merged = _add_numbers(self.base, {k: v for k, v in self.session.items()})
        sessions = [*self.base.get("sessions", []),
                    {**self.info, "wall_seconds": round(self.session["wall_seconds"], 3)}]
        return {"schema": TIMING_SCHEMA, **_round(merged), "sessions": sessions}

    def save(self, every: float = 0.0) -> None:
        """Write timing.json (atomically); with `every`, only if the last write is older than that many seconds."""
        now = time.perf_counter()
        if every and now - self._saved < every:
            return
        write_json(self.path, self.to_dict())
        self._saved = now


def _add_numbers(a: dict, b: dict) -> dict:
    """Numbers summed key by key, nested dicts merged (keys of `a` first); other values of `b` win."""
    out = {k: v for k, v in a.items() if k not in ("schema", "sessions")}
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = _add_numbers(out.get(key) if isinstance(out.get(key), dict) else {}, value)
        elif isinstance(value, (int, float)) and isinstance(out.get(key), (int, float)):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def _round(data):
    if isinstance(data, dict):
        return {k: _round(v) for k, v in data.items()}
    return round(data, 4) if isinstance(data, float) else data
