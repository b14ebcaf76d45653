"""The one results-table writer: the published layout (rows AUC, AP, accuracy, loss; a column per detector x level)."""
from __future__ import annotations

from typing import Sequence

ROWS = (("AUC", "auc"), ("AP", "ap"), ("accuracy", "accuracy"), ("loss", "log_loss"))


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


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
    """`entries` are metrics dicts (as in metrics.json), `labels` their column headings."""
    rows = [[name] + [fmt(e.get(key)) for e in entries] for name, key in ROWS]
    rows.append(["videos scored (real/fake)"] + [f"{e['n_scored']} ({e['n_real']}/{e['n_fake']})" for e in entries])
    rows.append(["videos skipped"] + [str(e["n_skipped"]) for e in entries])
    return markdown_table(["metric", *labels], rows)


def drop_table(entries: Sequence[dict], labels: Sequence[str]) -> str | None:
    """AUC and accuracy change of each level against the clean level of the same detector (and run)."""
    clean = {(e.get("run"), e["detector"]): e for e in entries if e["level"] == "none"}
    rows = []
    for entry, label in zip(entries, labels):
        base = clean.get((entry.get("run"), entry["detector"]))
        if entry["level"] == "none" or base is None:
            continue
        rows.append([label] + [_delta(entry.get(k), base.get(k)) for k in ("auc", "ap", "accuracy")])
    return markdown_table(["level", "ΔAUC", "ΔAP", "Δaccuracy"], rows) if rows else None


def _delta(now, before) -> str:
    return "n/a" if now is None or before is None else f"{now - before:+.3f}"
