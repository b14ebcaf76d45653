"""The one results-table writer: the published layout (rows AUC, AP, accuracy, loss; a column per detector x level).

Changes are printed signed, level minus clean, everywhere: `−0.145` (U+2212) for a drop, `+0.023` for a gain.
The published layout's loss is the reference code base's (mean frame BCE with logits, `frame_bce`); the video
log loss is shown beside it under its own name.
"""
from __future__ import annotations

from typing import Sequence

ROWS = (("AUC", "auc"), ("AP", "ap"), ("accuracy", "accuracy"), ("loss (frame BCE with logits)", "frame_bce"),
        ("video log loss", "log_loss"))
MINUS = "\u2212"
OPERATING_ROWS = (("balanced accuracy", "balanced_accuracy"), ("EER", "eer"), ("TPR @ FPR 1%", "tpr_at_fpr_1"),
                  ("TPR @ FPR 5%", "tpr_at_fpr_5"), ("precision", "precision"), ("recall", "recall"),
                  ("F1", "f1"), ("accuracy @ clean threshold", "accuracy_at_clean"),
                  ("balanced accuracy @ clean threshold", "balanced_accuracy_at_clean"))


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_signed(value, digits: int = 3) -> str:
    """A change with its sign: `+0.023`, `−0.145` (a true minus), `0.000` when it rounds to zero."""
    if value is None:
        return "n/a"
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else MINUS) + text


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


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A markdown table; the first `left` columns (names, text) left-aligned, the rest (numbers) right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * left + ["---:"] * (len(header) - left)) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main_table(entries: Sequence[dict], labels: Sequence[str]) -> str:
    """`entries` are metrics dicts (as in metrics.json), `labels` their column headings; intervals when present."""
    rows = [[name] + [fmt_ci(e.get(key), (e.get("ci") or {}).get(key)) for e in entries] for name, key in ROWS
            if key != "frame_bce" or any(key in e for e in entries)]  # metrics.json before frame_bce: no row
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
    text = fmt_signed(c["estimate"])
    if c.get("lo") is not None:
        text += f" [{fmt_signed(c['lo'], 2)}, {fmt_signed(c['hi'], 2)}]" + (" *" if c.get("excludes_zero") else "")
    return text


def _delta(now, before) -> str:
    return "n/a" if now is None or before is None else fmt_signed(now - before)


def robustness_tables(summary: dict) -> list[str]:
    """Per-level AUC table; the DeeperForensics table Clean | per-type mean | Avg | Avg − Clean (| mCE); other graded
    types apart; CE and relative CE per type. A type missing severities is marked † and left out of Avg/mCE."""
    dets = summary.get("detectors") or {}
    if not dets:
        return []
    out = []
    levels = list(dict.fromkeys(lv for d in dets.values() for lv in d["levels"]))
    rows = [[f"`{det}`", fmt(d["clean"])] + [_level_cell(d["levels"].get(lv)) for lv in levels]
            for det, d in dets.items()]
    out.append(markdown_table(["detector", "clean AUC", *[f"{lv} AUC (change, AUC ratio)" for lv in levels]], rows))
    info = {det: _type_info(d) for det, d in dets.items()}
    df_types = list(dict.fromkeys(t for i in info.values() for t, k in i.items() if k["family"] == "df"))
    other = list(dict.fromkeys(t for i in info.values() for t, k in i.items() if k["family"] != "df"))
    with_ce = any("mce" in d for d in dets.values())
    if df_types:
        header = ["detector", "Clean", *df_types, "Avg", "Avg − Clean"] + (["mCE", "relative mCE"] if with_ce else [])
        rows = [[f"`{det}`", fmt(d["clean"]), *[_type_cell(info[det].get(t)) for t in df_types], _avg_cell(d, len(summary.get("df_types") or df_types)),
                 fmt_signed(None if d["avg"] is None or d["clean"] is None else d["avg"] - d["clean"])]
                + ([fmt(d.get("mce")), fmt(d.get("relative_mce"))] if with_ce else []) for det, d in dets.items()]
        out.append(markdown_table(header, rows))
    if other:
        rows = [[f"`{det}`", fmt(d["clean"]), *[_type_cell(info[det].get(t)) for t in other]] for det, d in dets.items()]
        out.append(markdown_table(["detector (other graded types)", "Clean", *other], rows))
    if with_ce:
        kinds = df_types + other
        rows = [[f"`{det}`", *[fmt((d.get("ce") or {}).get(t)) for t in kinds], fmt(d.get("mce")),
                 *[fmt((d.get("relative_ce") or {}).get(t)) for t in kinds], fmt(d.get("relative_mce"))]
                for det, d in dets.items()]
        out.append(markdown_table(["detector", *[f"CE {t}" for t in kinds], "mCE",
                                   *[f"rel. CE {t}" for t in kinds], "relative mCE"], rows))
    return out


def _type_info(d: dict) -> dict[str, dict]:
    """Per type: family, completeness and mean; a metrics.json from before `type_info` counts every type as a
    complete DF type, as it was computed then."""
    if "type_info" in d:
        return d["type_info"]
    return {t: {"family": "df", "complete": True, "mean": m} for t, m in (d.get("types") or {}).items()}


def _level_cell(level: dict | None) -> str:
    if not level or level.get("auc") is None or level.get("drop") is None:
        return "n/a"
    change = level.get("change", -level["drop"])
    return f"{fmt(level['auc'])} ({fmt_signed(change)}, {fmt(level.get('auc_ratio', level.get('relative')), 2)}x)"


def _type_cell(kind: dict | None) -> str:
    if kind is None:
        return "n/a"
    if kind.get("complete", True):
        return fmt(kind["mean"])
    return f"{fmt(kind['mean'])} † (severities {','.join(map(str, kind['severities']))} of {kind['expected']})"


def _avg_cell(d: dict, n_types: int) -> str:
    if "avg_types" not in d or d.get("avg_complete") or d["avg"] is None:
        return fmt(d["avg"])
    return f"{fmt(d['avg'])} † ({len(d['avg_types'])} of {n_types} types)"


GROUP_SHARED = (("run", "run"), ("detector", "detector"), ("level", "level"), ("reals used", "reals"))
FOLDED_SHOWN = 4  # folded values named in an `other` cell; the rest are counted


def group_table(groups: Sequence[dict]) -> tuple[str, str] | None:
    """(what every row shares, the table): a run, detector, level or reals-used column with one value in every row
    is said once instead (`run `x`, detector `meso`.`); AUC and accuracy with their intervals when metrics.json has
    them; the `other` value names what was folded into it."""
    if not groups:
        return None
    constant = {name for name, key in GROUP_SHARED if len({str(g.get(key)) for g in groups}) == 1}
    shared = ", ".join(f"{name} `{groups[0].get(key)}`" for name, key in GROUP_SHARED if name in constant)
    varying = [(name, key) for name, key in GROUP_SHARED if name not in constant]
    header = [name for name, _ in varying if name != "reals used"] + ["group", "value"] + \
        (["reals used"] if "reals used" not in constant else []) + ["real/fake", "AUC", "AP", "accuracy"]
    rows = []
    for g in groups:
        ci = g.get("ci") or {}
        rows.append([str(g.get(key)) for name, key in varying if name != "reals used"] + [g["column"], _value(g)]
                    + ([g["reals"]] if "reals used" not in constant else [])
                    + [f"{g['n_real']}/{g['n_fake']}", fmt_ci(g["auc"], ci.get("auc")), fmt(g["ap"]),
                       fmt_ci(g["accuracy"], ci.get("accuracy"))])
    return (f"Every row: {shared}." if shared else ""), markdown_table(header, rows, left=len(header) - 4)


def _value(group: dict) -> str:
    folded = group.get("folded")
    if not folded:
        return group["value"]
    named = ", ".join(folded[:FOLDED_SHOWN]) + (f" +{len(folded) - FOLDED_SHOWN} more" if len(folded) > FOLDED_SHOWN else "")
    return f"{group['value']} ({named})"


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
