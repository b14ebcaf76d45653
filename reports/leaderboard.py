"""Leaderboard entries (one JSON object per detector and run, the schema below) and the board's rendering.

An entry carries what a board needs to rank detectors and to test them against each other without the run folder:
the detector, its weights' sha256, the protocol text and dataset fingerprint (entries are only comparable when these
agree), per-level metrics with bootstrap intervals, the robustness and breaking-point summaries, and the per-video
scores of every level (for the paired bootstrap between entries made on different machines). The ranking and the
tests are computed by `benchmarks.metrics.leaderboard`; this module reads run folders and writes boards.
"""
# No `from __future__ import annotations`: TypedDict and NotRequired (see run_files).
import json
from pathlib import Path
from typing import Any, NotRequired, Sequence, TypedDict

import markdown
import pandas as pd

from .analysis import frame_table
from .run_files import LoadedRun, load_run, read_json
from .tables import fmt, fmt_ci, fmt_signed

ENTRY_SCHEMA = 1
CLEAN = "none"
BOARD_METRICS = ("auc", "ap", "accuracy", "log_loss")  # metrics with intervals in metrics.json (bootstrap)
COMPARED = ("protocol", "dataset_fingerprint")  # entries on one board must agree on these


class LevelValue(TypedDict):
    value: float | None
    lo: float | None
    hi: float | None


class LeaderboardEntry(TypedDict):
    """One detector of one run. `levels[level][metric]` = value with its 95% bootstrap interval; `videos[level]` =
    {video_id: [label, score]} of the scored videos; `breaking` = per graded type the median breaking severity
    (None: beyond every severity) and the share of clean-correct videos never broken."""

    schema: int
    detector: str
    weights_sha256: str | None
    weights: str | None
    protocol: str
    dataset: str
    dataset_fingerprint: str
    source: str
    levels: dict[str, dict[str, LevelValue]]
    clean_auc: float | None
    mce: float | None
    mce_reference: str | None
    breaking: dict[str, dict[str, float | None]]
    videos: dict[str, dict[str, list]]
    seed: NotRequired[int]


def run_entries(run: LoadedRun) -> list[LeaderboardEntry]:
    """The entries of every detector of a finished run (its files as `run_files.load_run` reads them)."""
    manifest, doc = run["manifest"], run["doc"]
    robustness = (doc.get("robustness") or {}).get("detectors") or {}
    breaking = (doc.get("breaking_points") or {}).get("detectors") or {}
    out = []
    for det, info in (manifest.get("detectors") or {}).items():
        levels = {}
        for e in doc["video"]:
            if e["detector"] == det:
                ci = e.get("ci") or {}
                levels[e["level"]] = {m: {"value": e.get(m), "lo": (ci.get(m) or [None, None])[0],
                                          "hi": (ci.get(m) or [None, None])[1]} for m in BOARD_METRICS}
        videos: dict[str, dict[str, list]] = {}
        for r in run["scores"]:
            if r["detector"] == det and r["status"] == "ok":
                videos.setdefault(r["level"], {})[r["video_id"]] = [int(r["label"]), float(r["score"])]
        summary = robustness.get(det) or {}
        out.append({"schema": ENTRY_SCHEMA, "detector": det, "weights_sha256": info.get("sha256"),
                    "weights": info.get("path"), "protocol": manifest.get("protocol", ""),
                    "dataset": (manifest.get("dataset") or {}).get("name", ""),
                    "dataset_fingerprint": (manifest.get("dataset") or {}).get("fingerprint", ""),
                    "source": run["name"], "seed": manifest.get("seed"), "levels": levels,
                    "clean_auc": summary.get("clean"), "mce": summary.get("mce"),
                    "mce_reference": (doc.get("robustness") or {}).get("reference"),
                    "breaking": {k: {"median": t["median"], "never_broken": t["never_broken"]}
                                 for k, t in ((breaking.get(det) or {}).get("types") or {}).items()},
                    "videos": videos})
    return out


def read_entries(path: Path) -> list[LeaderboardEntry]:
    """Entries from a run folder, or from a JSON file holding one entry, a list of them, or a board (`entries`);
    ValueError naming the file when it holds none of these."""
    path = Path(path)
    if path.is_dir():
        return run_entries(load_run(path))
    data = read_json(path)
    items = data.get("entries") if isinstance(data, dict) and "entries" in data else data
    items = [items] if isinstance(items, dict) else items
    required = set(LeaderboardEntry.__required_keys__) - {"seed"}
    if not isinstance(items, list) or not items or not all(isinstance(e, dict) and required <= e.keys()
                                                            for e in items):
        raise ValueError(f"{path}: not a leaderboard entry, list of entries or board (needs the keys "
                         f"{', '.join(sorted(required))})")
    bad = [e.get("schema") for e in items if e.get("schema") != ENTRY_SCHEMA]
    if bad:
        raise ValueError(f"{path}: leaderboard entry schema {bad[0]}, this version reads schema {ENTRY_SCHEMA}")
    return [{**e, "source": e.get("source") or path.name} for e in items]


# ---------------------------------------------------------------- rendering

def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _breaking_cell(breaking: dict) -> str:
    return ", ".join(f"{k} {'>' if t['median'] is None else fmt(t['median'], 1)} ({_pct(t['never_broken'])})"
                     for k, t in breaking.items()) or "–"


def render_markdown(board: dict[str, Any]) -> str:
    """The board (from `benchmarks.metrics.leaderboard.build_board`) as markdown: ranking, per-level metrics with
    intervals, pairwise tests."""
    metric, rows = board["metric"], board["ranking"]
    ranking = pd.DataFrame([{
        "rank": r["rank"], "detector": f"`{r['label']}`",
        f"mean perturbed {metric}": fmt(r["mean_perturbed"]), f"clean {metric}": fmt(r["clean"]),
        "drop": fmt_signed(None if r["clean"] is None or r["mean_perturbed"] is None
                           else r["mean_perturbed"] - r["clean"]),
        "mCE": fmt(r["mce"]), "median breaking severity (never broken)": _breaking_cell(r["breaking"]),
        "significantly better than": ", ".join(f"#{k}" for k in r["better_than"]) or "–",
        "weights sha256": f"`{(r['weights_sha256'] or 'none')[:12]}`", "source": f"`{r['source']}`"}
        for r in rows])
    levels = board["levels"]
    per_level = pd.DataFrame([{"detector": f"`{r['label']}`",
                               **{f"`{lv}`": fmt_ci((r["levels"].get(lv) or {}).get("value"),
                                                    [(r["levels"].get(lv) or {}).get("lo"),
                                                     (r["levels"].get(lv) or {}).get("hi")]) for lv in levels}}
                              for r in rows])
    pairs = pd.DataFrame([{"pair": f"`{p['a']}` − `{p['b']}`", "videos": p["n_videos"],
                           f"Δ mean perturbed {metric}": fmt_ci(p["difference"], [p["lo"], p["hi"]]),
                           "p": fmt(p["p"]), "Holm p": fmt(p["p_holm"]),
                           "significant": "yes" if p["significant"] else "no"} for p in board["pairs"]])
    text = (f"# Leaderboard ({metric})\n\nDataset `{board['dataset']}` (fingerprint `{board['dataset_fingerprint'][:12]}`); "
            f"ranked by the mean {metric} over the perturbed levels every entry has ({', '.join(f'`{lv}`' for lv in board['ranked_levels']) or 'none'}). "
            f"drop = mean perturbed − clean; mCE as in each run's metrics.json (reference `{board.get('mce_reference')}`); "
            "breaking severities per graded type (median, and the share of clean-correct videos never broken).\n\n"
            + ("" if board["ranked_levels"] else f"**Nothing is ranked**: no perturbed level has a {metric} for every "
               "entry (an entry without both classes, or without perturbed levels); the order is by name.\n\n")
            + frame_table(ranking) + "\n\n## Per level\n\n"
            f"{metric} with its 95% bootstrap interval over videos.\n\n" + frame_table(per_level) + "\n\n")
    if len(pairs):
        text += (f"## Pairwise tests\n\nPaired bootstrap over the videos both entries scored ({board['resamples']} "
                 f"resamples, seed {board['seed']}): the difference of the mean perturbed {metric}, its 95% "
                 f"interval, the two-sided bootstrap p-value and the Holm-corrected one over all {len(board['pairs'])} "
                 f"pairs; significant = Holm p < {board['alpha']}.\n\n" + frame_table(pairs) + "\n")
    return text


def write_board(board: dict[str, Any], out: Path | None) -> str:
    """Write the board to `out` (.md, .html or .json by suffix) and return the markdown; nothing written for None."""
    text = render_markdown(board)
    if out is None:
        return text
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".md", ".html", ".json"):
        raise ValueError(f"--out {out}: the leaderboard is written as .md, .html or .json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        out.write_text(json.dumps(board, indent=1) + "\n", encoding="utf-8")
    elif suffix == ".html":
        body = markdown.markdown(text, extensions=["tables"])
        out.write_text(f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Leaderboard</title></head>"
                       f"<body>\n{body}\n</body></html>\n", encoding="utf-8")
    else:
        out.write_text(text, encoding="utf-8")
    return text


def check_compatible(entries: Sequence[LeaderboardEntry]) -> None:
    """ValueError (one line naming the fields and entries) when entries differ in protocol or dataset fingerprint."""
    first = entries[0]
    for e in entries[1:]:
        differ = [f for f in COMPARED if e.get(f) != first.get(f)]
        if differ:
            raise ValueError(f"leaderboard entry {e['detector']!r} from {e['source']} differs from "
                             f"{first['detector']!r} from {first['source']} in {' and '.join(differ)}: "
                             "only entries of one protocol on one dataset can be ranked together")
