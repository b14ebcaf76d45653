"""PNG figures from metrics.json contents (ROC points, histograms, AUC with intervals): matplotlib, Agg backend."""
from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def save_figure(fig, path: Path) -> Path:
    """Lay out, write and close a figure (closing matters: pyplot keeps every open figure alive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def roc_figure(entries: list[dict], title: str, path: Path) -> Path | None:
    """ROC curves of one detector, one curve per level."""
    curves = [e for e in entries if e.get("roc")]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for e in curves:
        ax.plot(e["roc"]["fpr"], e["roc"]["tpr"], label=f"{e['level']} (AUC {e['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def histogram_figure(entries: list[dict], title: str, path: Path) -> Path | None:
    """Video-score histograms, real vs fake, one panel per level."""
    panels = [e for e in entries if e.get("hist")]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels) + 0.6, 2.6), squeeze=False)
    for ax, e in zip(axes[0], panels):
        edges = e["hist"]["edges"]
        ax.stairs(e["hist"]["real"], edges, label="real", fill=True, alpha=0.5)
        ax.stairs(e["hist"]["fake"], edges, label="fake", fill=True, alpha=0.5)
        ax.set(title=e["level"], xlabel="P(fake)")
    axes[0][0].set_ylabel("videos")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def graded_levels(robustness: dict | None, detector: str) -> dict[str, tuple[str, int]] | None:
    """{level: (type, severity)} of the graded levels as metrics.json's robustness summary classified them (the
    perturbations parser decided: a combined level is no severity); None for a file from before `type_info`."""
    d = ((robustness or {}).get("detectors") or {}).get(detector) or {}
    if "type_info" not in d:
        return None
    return {lv: (t, int(s)) for t, k in d["type_info"].items() for s, lv in k["levels"].items()}


def _legacy_graded(level: str) -> tuple[str, int] | None:
    kind, sep, sev = level.rpartition(":")
    return (kind, int(sev)) if sep and kind and sev.isdigit() else None


def severity_figure(entries: list[dict], title: str, path: Path,
                    graded: dict[str, tuple[str, int]] | None = None) -> Path | None:
    """AUC against severity per graded type (`graded`: level -> (type, severity)), with the interval band."""
    series: dict[str, list[tuple[int, dict]]] = {}
    for e in entries:
        kind_sev = graded.get(e["level"]) if graded is not None else _legacy_graded(e["level"])
        if kind_sev and e.get("auc") is not None:
            series.setdefault(kind_sev[0], []).append((kind_sev[1], e))
    if not series:
        return None
    clean = next((e for e in entries if e["level"] == "none"), None)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, points in sorted(series.items()):
        points.sort(key=lambda t: t[0])
        if clean and clean.get("auc") is not None:
            points = [(0, clean)] + points
        xs = [s for s, _ in points]
        line, = ax.plot(xs, [e["auc"] for _, e in points], marker="o", label=kind)
        ci = [(e.get("ci") or {}).get("auc") for _, e in points]
        if all(c and c[0] is not None for c in ci):
            ax.fill_between(xs, [c[0] for c in ci], [c[1] for c in ci], color=line.get_color(), alpha=0.15)
    ax.set(xlabel="severity (0 = clean)", ylabel="video AUC", title=title, ylim=(0, 1.02))
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def run_figures(run_name: str, entries: list[dict], fig_dir: Path, prefix: str = "",
                robustness: dict | None = None) -> list[tuple[str, Path]]:
    """All figures for one run: (caption, path) per figure written."""
    out = []
    for det in dict.fromkeys(e["detector"] for e in entries):
        mine = [e for e in entries if e["detector"] == det]
        stem = _slug(f"{prefix}{det}")
        graded = graded_levels(robustness, det)
        for caption, maker, name in (("AUC against severity", partial(severity_figure, graded=graded), "severity"),
                                     ("ROC curves per level", roc_figure, "roc"),
                                     ("Video scores, real vs fake", histogram_figure, "hist")):
            path = maker(mine, f"{det}: {caption}", fig_dir / f"{stem}-{name}.png")
            if path:
                out.append((f"{run_name + ' / ' if prefix else ''}{det}: {caption}", path))
    return out
