"""PNG figures from metrics.json contents (ROC points, histograms, AUC with intervals): matplotlib, Agg backend.

Sized to be read at a glance: at DPI 80 a ROC figure is 672 x 640 px, a histogram panel 416 px high, text 12-15 pt
(legends 12 pt), and every colour drawn is named in a legend (the histogram draws the overlap of the real and fake
counts in its own colour instead of leaving a blend of two translucent fills unexplained). Each figure is built by a
`*_plot` function returning the matplotlib Figure (what the tests inspect) and written by its `*_figure` wrapper.
"""
from __future__ import annotations

import functools
import math
import re
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

DPI = 80
STYLE = {"font.size": 13, "axes.titlesize": 15, "axes.labelsize": 14, "xtick.labelsize": 12, "ytick.labelsize": 12,
         "legend.fontsize": 12, "figure.titlesize": 15, "lines.linewidth": 2.0}
LEGEND_MIN_PT = 9  # smallest legend text any figure may use (tests check every legend against it)
ROC_SIZE = (8.4, 8.0)  # inches: 672 x 640 px at DPI
SEVERITY_SIZE = (10.0, 7.0)
PANEL = 5.2  # histogram panel side, inches
PANELS_PER_ROW = 4
LEGEND_INSIDE_MAX = 8  # more curves than this: the ROC legend goes beside the axes, not over the curves
REAL_COLOUR, FAKE_COLOUR, OVERLAP_COLOUR = "tab:blue", "tab:orange", "tab:purple"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def styled(make):
    """Build the figure under STYLE (font sizes are fixed when text is created, so the whole build is inside)."""
    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return make(*args, **kwargs)
    return wrapper


def save_figure(fig, path: Path) -> Path:
    """Lay out, write and close a figure (closing matters: pyplot keeps every open figure alive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        with plt.rc_context(STYLE):
            fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _saved(fig, path: Path) -> Path | None:
    return None if fig is None else save_figure(fig, path)


@styled
def roc_plot(entries: list[dict], title: str):
    """ROC curves of one detector, one curve per level; None without ROC points."""
    curves = [e for e in entries if e.get("roc")]
    if not curves:
        return None
    outside = len(curves) > LEGEND_INSIDE_MAX
    columns = math.ceil(len(curves) / 24) if outside else 1
    fig, ax = plt.subplots(figsize=(ROC_SIZE[0] + (3.2 * columns if outside else 0), ROC_SIZE[1]))
    for e in curves:
        ax.plot(e["roc"]["fpr"], e["roc"]["tpr"], label=f"{e['level']} (AUC {e['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance (AUC 0.5)")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    if outside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=columns, borderaxespad=0)
    else:
        ax.legend(loc="lower right")
    return fig


def roc_figure(entries: list[dict], title: str, path: Path) -> Path | None:
    return _saved(roc_plot(entries, title), path)


@styled
def histogram_plot(entries: list[dict], title: str):
    """Video-score histograms, one panel per level: the overlap of the real and fake counts (min of the two per
    bin) in its own colour, and above it whichever class has more videos in the bin; None without histograms."""
    panels = [e for e in entries if e.get("hist")]
    if not panels:
        return None
    cols = min(len(panels), PANELS_PER_ROW)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL * cols + 0.6, PANEL * rows + 0.8), squeeze=False,
                             layout="constrained")
    for ax, e in zip(axes.flat, panels):
        edges, real, fake = e["hist"]["edges"], e["hist"]["real"], e["hist"]["fake"]
        both = [min(r, f) for r, f in zip(real, fake)]
        ax.stairs(both, edges, fill=True, color=OVERLAP_COLOUR, label="real and fake (overlap)")
        ax.stairs(real, edges, baseline=both, fill=True, color=REAL_COLOUR, label="real")
        ax.stairs(fake, edges, baseline=both, fill=True, color=FAKE_COLOUR, label="fake")
        ax.set(title=e["level"], xlabel="video P(fake)", xlim=(0, 1))
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("videos")
    handles, labels = axes[0][0].get_legend_handles_labels()
    order = [labels.index(name) for name in ("real", "fake", "real and fake (overlap)")]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center", ncol=3)
    fig.suptitle(title)
    return fig


def histogram_figure(entries: list[dict], title: str, path: Path) -> Path | None:
    return _saved(histogram_plot(entries, title), path)


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


@styled
def severity_plot(entries: list[dict], title: str, graded: dict[str, tuple[str, int]] | None = None):
    """AUC against severity per graded type (`graded`: level -> (type, severity)), with the interval band; None
    without graded levels."""
    series: dict[str, list[tuple[int, dict]]] = {}
    for e in entries:
        kind_sev = graded.get(e["level"]) if graded is not None else _legacy_graded(e["level"])
        if kind_sev and e.get("auc") is not None:
            series.setdefault(kind_sev[0], []).append((kind_sev[1], e))
    if not series:
        return None
    clean = next((e for e in entries if e["level"] == "none"), None)
    fig, ax = plt.subplots(figsize=SEVERITY_SIZE)
    banded = False
    for kind, points in sorted(series.items()):
        points.sort(key=lambda t: t[0])
        if clean and clean.get("auc") is not None:
            points = [(0, clean)] + points
        xs = [s for s, _ in points]
        line, = ax.plot(xs, [e["auc"] for _, e in points], marker="o", label=kind)
        ci = [(e.get("ci") or {}).get("auc") for _, e in points]
        if all(c and c[0] is not None for c in ci):
            ax.fill_between(xs, [c[0] for c in ci], [c[1] for c in ci], color=line.get_color(), alpha=0.15)
            banded = True
    ax.set(xlabel="severity (0 = clean)", ylabel="video AUC", title=title, ylim=(0, 1.02))
    handles, labels = ax.get_legend_handles_labels()
    if banded:  # the bands are each line's colour, lighter: one legend entry explains them all
        handles.append(Patch(color="grey", alpha=0.3))
        labels.append("shaded: bootstrap interval")
    ax.legend(handles, labels, ncol=2, loc="lower left")
    return fig


def severity_figure(entries: list[dict], title: str, path: Path,
                    graded: dict[str, tuple[str, int]] | None = None) -> Path | None:
    return _saved(severity_plot(entries, title, graded), path)


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
