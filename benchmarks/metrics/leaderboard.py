"""The leaderboard's judgement: detectors ranked by their mean perturbed metric, and which ranks differ
significantly (paired bootstrap over the videos two entries share, Holm's correction over all pairs).

Entries (`reports.leaderboard.LeaderboardEntry`) come from run folders or JSON files made on other machines; they
are ranked together only when their protocol and dataset fingerprint agree. The mean is over the perturbed levels
every entry has, so no detector is ranked on levels another lacks.
"""
from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np

from reports.leaderboard import CLEAN, ENTRY_SCHEMA, LeaderboardEntry, check_compatible, read_entries, write_board

from . import bootstrap as boot
from .binary import binary_metrics
from .names import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, LOWER_IS_BETTER

ALPHA = 0.05  # family-wise error rate of the pairwise tests (after Holm's correction)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = round(running, 12)
    return adjusted


def _labels(entries: Sequence[LeaderboardEntry]) -> list[str]:
    """Detector names, with the weights' sha256 prefix (then the source) where a name repeats."""
    names = [e["detector"] for e in entries]
    labels = [f"{e['detector']}@{(e['weights_sha256'] or 'none')[:8]}" if names.count(e["detector"]) > 1
              else e["detector"] for e in entries]
    return [f"{label} ({e['source']})" if labels.count(label) > 1 else label for label, e in zip(labels, entries)]


def mean_metric(entry: LeaderboardEntry, levels: Sequence[str], metric: str) -> float | None:
    values = [(entry["levels"].get(lv) or {}).get(metric, {}).get("value") for lv in levels]
    return float(np.mean(values)) if values and all(v is not None for v in values) else None


def paired_test(a: LeaderboardEntry, b: LeaderboardEntry, levels: Sequence[str], metric: str, n_boot: int,
                seed: int) -> dict:
    """Mean-over-levels metric of a minus b on the videos both scored at every level: the difference, its
    percentile interval and the two-sided bootstrap p-value (add-one, so never 0)."""
    shared = sorted(set.intersection(*[set(e["videos"].get(lv, {})) for e in (a, b) for lv in levels])) \
        if levels else []
    out = {"n_videos": len(shared), "difference": None, "lo": None, "hi": None, "p": 1.0}
    if not shared:
        return out
    y = np.array([a["videos"][levels[0]][v][0] for v in shared], dtype=int)
    idx = boot.resample_indices(len(shared), n_boot, seed)
    point, reps = [], []
    for e in (a, b):
        scores = [np.array([e["videos"][lv][v][1] for v in shared]) for lv in levels]
        values = [binary_metrics(y, p)[metric] for p in scores]
        point.append(None if any(v is None for v in values) else float(np.mean(values)))
        reps.append(np.mean([boot.replicates(y, p, idx, (metric,))[0][metric] for p in scores], axis=0))
    diff = reps[0] - reps[1]
    valid = diff[np.isfinite(diff)]
    if point[0] is None or point[1] is None or not len(valid):
        return out
    lo, hi = boot.percentile_interval(diff, DEFAULT_CONFIDENCE)
    tail = min(np.sum(valid <= 0), np.sum(valid >= 0))
    out.update(difference=point[0] - point[1], lo=lo, hi=hi, p=min(1.0, 2 * (tail + 1) / (len(valid) + 1)))
    return out


def build_board(entries: Sequence[LeaderboardEntry], *, metric: str = "auc", n_boot: int = DEFAULT_RESAMPLES,
                seed: int = 0, alpha: float = ALPHA) -> dict:
    """The board: entries ranked by mean perturbed `metric` (higher first; lower first for log loss), with clean
    value, mCE, breaking summaries, per-level values with intervals, and the Holm-corrected pairwise tests.
    ValueError when there are no entries or they differ in protocol or dataset fingerprint."""
    if not entries:
        raise ValueError("leaderboard: no entries (give run folders or entry JSON files)")
    if metric not in boot.BOOT_METRICS:
        raise ValueError(f"leaderboard: --metric {metric!r} has no intervals (choose from {', '.join(boot.BOOT_METRICS)})")
    check_compatible(entries)
    labels = _labels(entries)
    levels = list(dict.fromkeys(lv for e in entries for lv in e["levels"]))
    ranked_levels = [lv for lv in levels if lv != CLEAN and all(
        (e["levels"].get(lv) or {}).get(metric, {}).get("value") is not None for e in entries)]
    lower = metric in LOWER_IS_BETTER
    rows = [{"label": label, "detector": e["detector"], "weights_sha256": e["weights_sha256"], "source": e["source"],
             "mean_perturbed": mean_metric(e, ranked_levels, metric),
             "clean": (e["levels"].get(CLEAN) or {}).get(metric, {}).get("value"), "mce": e.get("mce"),
             "breaking": e.get("breaking") or {},
             "levels": {lv: (e["levels"].get(lv) or {}).get(metric) for lv in levels}, "entry": i}
            for i, (label, e) in enumerate(zip(labels, entries))]
    rows.sort(key=lambda r: (r["mean_perturbed"] is None,
                             0 if r["mean_perturbed"] is None else (r["mean_perturbed"] if lower else -r["mean_perturbed"]),
                             r["label"]))
    for rank, r in enumerate(rows, 1):
        r["rank"], r["better_than"] = rank, []
    pairs = []
    for ra, rb in combinations(rows, 2):
        test = paired_test(entries[ra["entry"]], entries[rb["entry"]], ranked_levels, metric, n_boot, seed)
        pairs.append({"a": ra["label"], "b": rb["label"], "rank_a": ra["rank"], "rank_b": rb["rank"], **test})
    for pair, adjusted in zip(pairs, holm([p["p"] for p in pairs])):
        pair["p_holm"] = adjusted
        pair["significant"] = bool(adjusted < alpha and pair["difference"] is not None)
        if pair["significant"]:
            winner, loser = (pair["rank_a"], pair["rank_b"]) if (pair["difference"] < 0) == lower \
                else (pair["rank_b"], pair["rank_a"])
            rows[winner - 1]["better_than"].append(loser)
    refs = {e.get("mce_reference") for e in entries}
    return {"schema": ENTRY_SCHEMA, "metric": metric, "dataset": entries[0]["dataset"],
            "dataset_fingerprint": entries[0]["dataset_fingerprint"], "protocol": entries[0]["protocol"],
            "levels": levels, "ranked_levels": ranked_levels, "resamples": n_boot, "seed": seed, "alpha": alpha,
            "mce_reference": refs.pop() if len(refs) == 1 else None,
            "ranking": [{k: v for k, v in r.items() if k != "entry"} for r in rows], "pairs": pairs,
            "entries": list(entries)}


def leaderboard(sources: Sequence, *, out=None, metric: str = "auc", n_boot: int = DEFAULT_RESAMPLES, seed: int = 0,
                alpha: float = ALPHA) -> tuple[dict, str]:
    """The board of the entries in `sources` (run folders, entry or board JSON files), written to `out` (.md,
    .html, .json) when given: (board, its markdown)."""
    entries = [e for source in sources for e in read_entries(source)]
    board = build_board(entries, metric=metric, n_boot=n_boot, seed=seed, alpha=alpha)
    return board, write_board(board, out)
