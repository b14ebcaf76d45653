"""The one results-table writer: the published layout (rows AUC, AP, accuracy, loss; a column per detector x level)."""
from __future__ import annotations

from typing import Sequence

ROWS = (("AUC", "auc"), ("AP", "ap"), ("accuracy", "accuracy"), ("loss", "log_loss"))
OPERATING_ROWS = (("balanced accuracy", "balanced_accuracy"), ("EER", "eer"), ("TPR @ FPR 1%", "tpr_at_fpr_1"),
                  ("TPR @ FPR 5%", "tpr_at_fpr_5"), ("precision", "precision"), ("recall", "recall"),
                  ("F1", "f1"), ("accuracy @ clean threshold", "accuracy_at_clean"),
                  ("balanced accuracy @ clean threshold", "balanced_accuracy_at_clean"))


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_ci(value, interval, digits: int = 3) -> str:
    """`0.912 [0.85, 0.96]` when an interval is known, else the value alone."""
    if value is None or not interval or interval[0] is None:
        return fmt(value, digits)
    return f"{value:.{digits}f} [{interval[0]:.{digits - 1}f}, {interval[1]:.{digits - 1}f}]"


def column_label(entry: dict, several_detectors: bool, run: str | None = None) -> str:
    parts = [run] if run else []
    if several_detectors:
        parts.append(entry["detector"])
    parts.append(entry["level"])
    return " / ".join(parts)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main_table(entries: Sequence[dict], labels: Sequence[str]) -> str:
    """`entries` are metrics dicts (as in metrics.json), `labels` their column headings; intervals when present."""
    rows = [[name] + [fmt_ci(e.get(key), (e.get("ci") or {}).get(key)) for e in entries] for name, key in ROWS]
    rows.append(["videos scored (real/fake)"] + [f"{e['n_scored']} ({e['n_real']}/{e['n_fake']})" for e in entries])
    rows.append(["videos skipped"] + [str(e["n_skipped"]) for e in entries])
    return markdown_table(["metric", *labels], rows)


def operating_table(entries: Sequence[dict], labels: Sequence[str]) -> str | None:
    """Threshold and ROC operating-point metrics (schema-2 metrics.json only)."""
    if not entries or "eer" not in entries[0]:
        return None
    rows = [[name] + [fmt(e.get(key)) for e in entries] for name, key in OPERATING_ROWS]
    rows.append(["clean threshold"] + [fmt(e.get("threshold_clean")) for e in entries])
    rows.append(["confusion @ 0.5 (TN/FP/FN/TP)"] + [
        "/".join(str(e["confusion"][k]) for k in ("tn", "fp", "fn", "tp")) if e.get("confusion") else "n/a"
        for e in entries])
    return markdown_table(["metric", *labels], rows)


def drop_table(entries: Sequence[dict], labels: Sequence[str]) -> str | None:
    """Change of each level against the clean level of the same detector (and run); with the paired bootstrap
    interval on the common videos when metrics.json has it (* = the interval excludes zero)."""
    clean = {(e.get("run"), e["detector"]): e for e in entries if e["level"] == "none"}
    rows = []
    for entry, label in zip(entries, labels):
        base = clean.get((entry.get("run"), entry["detector"]))
        if entry["level"] == "none" or base is None:
            continue
        change = entry.get("change") or {}
        rows.append([label] + [_change(change.get(k)) if k in change else _delta(entry.get(k), base.get(k))
                               for k in ("auc", "ap", "accuracy")])
    return markdown_table(["level", "ΔAUC", "ΔAP", "Δaccuracy"], rows) if rows else None


def _change(c: dict) -> str:
    if c.get("estimate") is None:
        return "n/a"
    text = f"{c['estimate']:+.3f}"
    if c.get("lo") is not None:
        text += f" [{c['lo']:+.2f}, {c['hi']:+.2f}]" + (" *" if c.get("excludes_zero") else "")
    return text


def _delta(now, before) -> str:
    return "n/a" if now is None or before is None else f"{now - before:+.3f}"


def robustness_tables(summary: dict) -> list[str]:
    """Per-level drop table, and for graded suites Clean | per-type mean | Avg | Drop (| mCE) plus CE per type."""
    dets = summary.get("detectors") or {}
    if not dets:
        return []
    out = []
    levels = list(dict.fromkeys(lv for d in dets.values() for lv in d["levels"]))
    rows = [[f"`{det}`", fmt(d["clean"])] + [
        f"{fmt(d['levels'][lv]['auc'])} (−{fmt(d['levels'][lv]['drop'])}, {fmt(d['levels'][lv]['relative'], 2)}x)"
        if lv in d["levels"] and d["levels"][lv]["drop"] is not None else "n/a" for lv in levels]
        for det, d in dets.items()]
    out.append(markdown_table(["detector", "clean AUC", *[f"{lv} AUC (drop, relative)" for lv in levels]], rows))
    types = list(dict.fromkeys(t for d in dets.values() for t in d.get("types", {})))
    if types:
        with_ce = any("mce" in d for d in dets.values())
        header = ["detector", "Clean", *types, "Avg", "Drop"] + (["mCE"] if with_ce else [])
        rows = [[f"`{det}`", fmt(d["clean"]), *[fmt(d["types"].get(t)) for t in types], fmt(d["avg"]),
                 fmt(d["drop"])] + ([fmt(d.get("mce"))] if with_ce else []) for det, d in dets.items()]
        out.append(markdown_table(header, rows))
        if with_ce:
            rows = [[f"`{det}`", *[fmt((d.get("ce") or {}).get(t)) for t in types], fmt(d.get("mce"))]
                    for det, d in dets.items()]
            out.append(markdown_table(["detector", *[f"CE {t}" for t in types], "mCE"], rows))
    return out


def group_table(groups: Sequence[dict]) -> str | None:
    if not groups:
        return None
    rows = [[g.get("run", ""), g["detector"], g["level"], g["column"], g["value"], g["reals"],
             f"{g['n_real']}/{g['n_fake']}", fmt(g["auc"]), fmt(g["ap"]), fmt(g["accuracy"])] for g in groups]
    return markdown_table(["run", "detector", "level", "group", "value", "reals used", "real/fake", "AUC", "AP",
                           "accuracy"], rows)


def cost_table(timing: dict, levels: Sequence[str] | None = None) -> str | None:
    """Per level (timing.json): videos perturbed, perturbation seconds, inference seconds (per detector when
    several) and milliseconds per video for both; a total row. None when the run recorded no level timing."""
    per_level = timing.get("levels") or {}
    names = [lv for lv in (levels or per_level) if lv in per_level] or list(per_level)
    detectors = list(dict.fromkeys(d for lv in names for d in (per_level[lv].get("detectors") or {})))
    if not names or not detectors:
        return None
    several = len(detectors) > 1
    header = ["level", "videos", "perturb s"] + ([f"inference s ({d})" for d in detectors] if several
                                                  else ["inference s"]) + ["frames scored", "per video ms"]
    rows, totals = [], [0, 0.0, [0.0] * len(detectors), 0]
    for lv in names:
        entry = per_level[lv]
        videos, perturb = int(entry.get("videos", 0)), float(entry.get("perturb_seconds", 0.0))
        det = entry.get("detectors") or {}
        infer = [float((det.get(d) or {}).get("seconds", 0.0)) for d in detectors]
        frames = sum(int((det.get(d) or {}).get("frames", 0)) for d in detectors)
        rows.append(_cost_row(lv, videos, perturb, infer, frames, several))
        totals = [max(totals[0], videos), totals[1] + perturb, [a + b for a, b in zip(totals[2], infer)],
                  totals[3] + frames]
    if len(names) > 1:  # per video: all levels of one video
        rows.append(_cost_row(f"all {len(names)} levels", *totals, several))
    return markdown_table(header, rows)


def _cost_row(name: str, videos: int, perturb: float, infer: list[float], frames: int, several: bool) -> list[str]:
    per_video = f"{1000 * (perturb + sum(infer)) / videos:.0f}" if videos else "n/a"
    inference = [f"{s:.2f}" for s in infer] if several else [f"{sum(infer):.2f}"]
    return [name, str(videos), f"{perturb:.2f}", *inference, str(frames), per_video]
