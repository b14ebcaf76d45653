"""report.md from a run folder's files (manifest.json, metrics.json, scores.csv); never touches models or videos."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

from .tables import column_label, drop_table, main_table, markdown_table


def load_run(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    missing = [n for n in ("manifest.json", "metrics.json", "scores.csv") if not (run_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: not a finished run folder (missing {', '.join(missing)})")
    with (run_dir / "scores.csv").open(newline="", encoding="utf-8") as handle:
        scores = list(csv.DictReader(handle))
    return {"dir": run_dir, "name": run_dir.name,
            "manifest": json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")),
            "metrics": json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["video"],
            "scores": scores}


def render(runs: Sequence[dict]) -> str:
    several_runs = len(runs) > 1
    entries, labels = [], []
    for run in runs:
        several_detectors = len({m["detector"] for m in run["metrics"]}) > 1
        for entry in run["metrics"]:
            entries.append({**entry, "run": run["name"]})
            labels.append(column_label(entry, several_detectors, run["name"] if several_runs else None))
    parts = ["# Deepfake detector robustness report", ""]
    for run in runs:
        parts += _summary(run, several_runs)
    parts += ["## Results (video level)", "",
              "Rows are metrics, columns are " + ("run / " if several_runs else "")
              + "detector / perturbation level. AUC and AP need both classes; accuracy is at threshold 0.5; "
              "loss is the binary cross-entropy of the video P(fake).", "", main_table(entries, labels), ""]
    drops = drop_table(entries, labels)
    if drops:
        parts += ["### Change against the clean level", "", drops, ""]
    undefined = [(label, name, reason) for entry, label in zip(entries, labels)
                 for name, reason in (entry.get("undefined") or {}).items()]
    if undefined:
        parts += ["### Metrics reported as n/a", "",
                  markdown_table(["column", "metric", "reason"], undefined), ""]
    for run in runs:
        parts += _skipped(run, several_runs)
    parts += ["---", "Per-video scores (one row per video, detector and level, skipped videos included) are in "
              "`scores.csv` of each run folder; every table here can be rebuilt from it with "
              "`python -m benchmarks report RUN_DIR`.", ""]
    return "\n".join(parts)


def _summary(run: dict, several_runs: bool) -> list[str]:
    m = run["manifest"]
    ds = m["dataset"]
    title = f"## Run `{run['name']}`" if several_runs else "## Run"
    lines = [title, "",
             f"- dataset: **{ds['name']}** (split `{ds['split']}`, root `{ds['root']}`), "
             f"{ds.get('n_selected', ds.get('n_total'))} videos selected of {ds.get('n_total')} "
             f"({ds.get('n_real')} real / {ds.get('n_fake')} fake in the split), fingerprint `{ds['fingerprint'][:12]}`",
             f"- seed {m['seed']}, frames per video {m['config']['num_frames']}, status {m['status']}, "
             f"commit `{m.get('git_commit', 'unknown')}`, started {m.get('started')}",
             "- protocol: " + m["protocol"], "", "Detectors:", ""]
    for name, info in m["detectors"].items():
        sha = (info.get("sha256") or "")[:12]
        weights = "**random initialisation (untrained): scores are meaningless for robustness**" \
            if info.get("format") == "random-init" else f"`{info.get('path')}` ({info.get('format')}, sha256 {sha})"
        lines.append(f"- `{name}`: {info.get('architecture')}, input {info.get('input_size')} px, weights {weights}"
                     + (f"; {info['provenance']}" if info.get("provenance") else ""))
    lines += ["", "Perturbation levels:", ""]
    for name, info in m["levels"].items():
        steps = ", ".join(f"`{s}`" for s in info.get("steps", [])) or "none"
        lines.append(f"- `{name}`: {info['description']}. Steps: {steps}")
    return lines + [""]


def _skipped(run: dict, several_runs: bool) -> list[str]:
    seen: dict[str, dict] = {}
    for row in run["scores"]:
        if row["status"] != "ok":
            seen.setdefault(row["video_id"], row)
    heading = "### Skipped videos" + (f" (`{run['name']}`)" if several_runs else "")
    if not seen:
        return [heading, "", "None: every video was scored.", ""]
    rows = [[f"`{vid}`", "fake" if row["label"] == "1" else "real", row["status"], row["message"]]
            for vid, row in sorted(seen.items())]
    return [heading, "", f"{len(seen)} videos could not be scored and are excluded from the metrics:", "",
            markdown_table(["video", "label", "status", "reason"], rows), ""]


def write_report(run_dirs: Sequence[Path], out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render([load_run(d) for d in run_dirs]), encoding="utf-8")
    return out
