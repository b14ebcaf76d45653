"""The run folders the web app knows: those named on the command line and those found under `--runs-root`.

Each run gets a short id for its URLs (the folder name; `name~2` for a second folder of the same name). A folder
under the runs root counts when it holds a manifest.json; one whose files do not parse is still listed, with the
error, so the home page shows it and the run page explains it instead of raising.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reports.run_files import MANIFEST_FILE, METRICS_FILE, SCORES_FILE, read_json

__all__ = ["RunSummary", "RunCatalog", "summarise"]


@dataclass(frozen=True)
class RunSummary:
    """One run folder as the home page lists it; `error` says why it cannot be shown (None when it can)."""

    id: str
    dir: Path
    dataset: str = ""
    detectors: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    status: str = ""
    date: str = ""
    n_videos: int | None = None
    error: str | None = None
    manifest: dict = field(default_factory=dict, compare=False, repr=False)


def summarise(run_id: str, run_dir: Path) -> RunSummary:
    """The summary of `run_dir`; a missing or unparsable file gives a summary with `error` set."""
    missing = [name for name in (MANIFEST_FILE, METRICS_FILE, SCORES_FILE) if not (run_dir / name).is_file()]
    if not run_dir.is_dir():
        return RunSummary(run_id, run_dir, error=f"{run_dir}: not a folder")
    try:
        manifest = read_json(run_dir / MANIFEST_FILE) if (run_dir / MANIFEST_FILE).is_file() else {}
    except (OSError, ValueError) as error:
        return RunSummary(run_id, run_dir, error=str(error))
    if not isinstance(manifest, dict):
        return RunSummary(run_id, run_dir, error=f"{run_dir / MANIFEST_FILE}: not a run manifest (not a JSON object)")
    dataset = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    detectors = manifest.get("detectors") if isinstance(manifest.get("detectors"), dict) else {}
    levels = manifest.get("levels") if isinstance(manifest.get("levels"), dict) else {}
    status = str(manifest.get("status", "")) or ("incomplete" if missing else "")
    error = f"{run_dir}: not a finished run folder (missing {', '.join(missing)})" if missing else None
    return RunSummary(run_id, run_dir, dataset=str(dataset.get("name", "")), detectors=tuple(detectors),
                      levels=tuple(levels), status=status,
                      date=str(manifest.get("finished") or manifest.get("started") or ""),
                      n_videos=dataset.get("n_selected"), error=error, manifest=manifest)


class RunCatalog:
    """Run folders by id. `dirs` are always listed (a bad one with its error); `runs_root` is scanned on each
    `refresh` for sub-folders holding a manifest.json, so a run finished while the app is up appears."""

    def __init__(self, dirs: list[Path], runs_root: Path | None = None) -> None:
        self.dirs = [Path(d).absolute() for d in dirs]
        self.runs_root = Path(runs_root).absolute() if runs_root is not None else None
        self._ids: dict[Path, str] = {}
        self._runs: dict[str, RunSummary] = {}
        self.refresh()

    def candidates(self) -> list[Path]:
        found = list(self.dirs)
        if self.runs_root is not None and self.runs_root.is_dir():
            found += sorted((p for p in self.runs_root.iterdir() if (p / MANIFEST_FILE).is_file()),
                            key=lambda p: p.name, reverse=True)
        return list(dict.fromkeys(found))

    def id_for(self, run_dir: Path) -> str:
        """A stable id per folder for the app's lifetime: its name, made unique with `~N`."""
        if run_dir not in self._ids:
            taken = set(self._ids.values())
            name = run_dir.name or "run"
            candidate, n = name, 1
            while candidate in taken:
                n += 1
                candidate = f"{name}~{n}"
            self._ids[run_dir] = candidate
        return self._ids[run_dir]

    def refresh(self) -> list[RunSummary]:
        self._runs = {}
        for run_dir in self.candidates():
            run_id = self.id_for(run_dir)
            self._runs[run_id] = summarise(run_id, run_dir)
        return list(self._runs.values())

    def get(self, run_id: str) -> RunSummary | None:
        """The run of `run_id` (summary re-read, so a run that finished since shows as such), or None."""
        run = self._runs.get(run_id)
        if run is None:
            self.refresh()
            run = self._runs.get(run_id)
        return summarise(run_id, run.dir) if run is not None else None
