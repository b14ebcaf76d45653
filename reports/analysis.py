"""Report sections of the per-video analyses in metrics.json: breaking points (with the survival figure and the
hardest videos), temporal stability, and image quality per level (AUC against SSIM, AUC at equal quality).

Tables are built with pandas (pivot, groupby) from the metrics.json documents; a run without these keys (written
before them) renders none of the sections.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from .figures import save_figure
from .run_files import BREAKING_FILE, LoadedRun
from .tables import fmt, fmt_signed, markdown_table

__all__ = ["analysis_sections", "frame_table", "survival_figure", "quality_figure"]


def frame_table(df: pd.DataFrame) -> str:
    """A DataFrame as a markdown table (index dropped; cells as they are)."""
    return markdown_table([str(c) for c in df.columns], df.astype(str).values.tolist())


def _section(title: str, body: str, intro: str = "") -> str:
    return f"### {title}\n\n" + (f"{intro}\n\n" if intro else "") + f"{body}\n\n" if body else ""


def slug(text: str) -> str:
    """A file-name-safe form of a run or detector name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _num(value, digits: int = 3, signed: bool = False) -> str | None:
    """A formatted number; None for None or NaN (what pandas makes of a missing value)."""
    if value is None or pd.isna(value):
        return None
    return fmt_signed(value, digits) if signed else fmt(value, digits)


def _never(value) -> str:
    return "never" if value is None else str(value)


# ---------------------------------------------------------------- figures

def survival_figure(types: dict, title: str, path: Path) -> Path | None:
    """Share of clean-correct videos still correct against severity, one step line per graded type."""
    curves = {k: t["survival"] for k, t in types.items() if t.get("survival")}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, points in curves.items():
        ax.step([s for s, _ in points], [v for _, v in points], where="post", marker="o", label=kind)
    ax.set(xlabel="severity (0 = clean)", ylabel="share still correct", title=title, ylim=(-0.02, 1.02))
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def quality_figure(curves: dict, title: str, path: Path) -> Path | None:
    """AUC against mean SSIM of the level, one curve per graded type (clean = SSIM 1); SSIM falls to the right."""
    series = {k: [(s, a) for s, a in c["points"] if s is not None and a is not None] for k, c in curves.items()}
    series = {k: v for k, v in series.items() if len(v) > 1}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, points in series.items():
        points.sort(reverse=True)
        ax.plot([s for s, _ in points], [a for _, a in points], marker="o", label=kind)
    ax.invert_xaxis()
    ax.set(xlabel="SSIM of the perturbed face crops (1 = clean)", ylabel="video AUC", title=title, ylim=(0, 1.02))
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


# ---------------------------------------------------------------- sections

def _breaking(run: LoadedRun, label: str, fig_dir: Path | None, link: str) -> str:
    doc = run["doc"].get("breaking_points") or {}
    dets = doc.get("detectors") or {}
    records = [{"detector": f"`{d}`", "type": k, "clean-correct videos": t["n_clean_correct"],
                "median breaking severity": "> all" if t["median"] is None and t["n_clean_correct"] else fmt(t["median"], 1),
                "never broken": "n/a" if t["never_broken"] is None else f"{t['never_broken']:.0%}",
                **{f"still correct at {s}": f"{v:.0%}" for s, v in t["survival"][1:]}}
               for d, e in dets.items() for k, t in e["types"].items()]
    if not records:
        return ""
    body = frame_table(pd.DataFrame(records).fillna("–"))
    figures = []
    for det, entry in dets.items():
        name = f"{label}{det}: survival"
        path = survival_figure(entry["types"], name, fig_dir / f"{slug(label + det)}-survival.png") if fig_dir else None
        if path:
            figures.append(f"![{name}]({link}/{path.name})\n")
    hardest = pd.DataFrame([{"detector": f"`{d}`", "video": f"`{h['video_id']}`",
                             "label": "fake" if h["label"] else "real", "mean breaking severity": fmt(h["mean_breaking"], 2),
                             **{k: _never(s) for k, s in h["breaks"].items()}}
                            for d, e in dets.items() for h in e.get("hardest", [])])
    hard = ""
    if len(hardest):
        faces = Path(run["dir"]) / BREAKING_FILE
        if fig_dir is not None and faces.is_file():
            fig_dir.mkdir(parents=True, exist_ok=True)
            copy = f"breaking-{slug(run['name'])}.png" if label else BREAKING_FILE
            shutil.copyfile(faces, fig_dir / copy)
            pictures = (f"Their faces, clean and at each type's breaking level, as the detector saw them "
                        f"(first sampled frame):\n\n![hardest videos]({link}/{copy})\n")
        else:
            pictures = (f"Their faces are not shown: the run folder has no `{BREAKING_FILE}` (written by `run` from "
                        "the face cache; `python -m benchmarks gallery --video N --level LEVEL` draws one).\n")
        hard = ("\n\nHardest videos (lowest mean breaking severity over the types; never broken counts as the "
                "type's top severity + 1; per type the breaking severity):\n\n"
                + frame_table(hardest.fillna("–")) + "\n\n" + pictures)
    intro = ("Per detector and graded type, over the videos whose clean decision is correct at the clean operating "
             "point (threshold_clean; score >= threshold = fake): the lowest severity at which the decision is "
             "wrong. A severity without a score (face lost) is no break. `still correct at S` = share not broken "
             "at any severity up to S (the survival curve).")
    return _section(f"Breaking points{' (' + label.rstrip(' /') + ')' if label else ''}",
                    body + "\n\n" + "\n".join(figures) + hard, intro)


def _stability(run: LoadedRun, label: str) -> str:
    entries = (run["doc"].get("temporal_stability") or {}).get("entries") or []
    if not entries:
        return ""
    df = pd.DataFrame(entries)
    def cells(value: str, change: str | None = None) -> list[str]:
        changes = df[change] if change in df else [None] * len(df)
        return [(_num(v) or "n/a") + (f" ({_num(c, signed=True)})" if _num(c) else "")
                for v, c in zip(df[value], changes)]
    df["flip rate"], df["mean abs ΔP"] = cells("flip_rate", "flip_rate_change"), \
        cells("mean_abs_change", "mean_abs_change_change")
    columns = ["flip rate", "mean abs ΔP"]
    if "clip_agreement" in df:
        df["clip agreement"] = cells("clip_agreement")
        columns.append("clip agreement")
    df["level"] = pd.Categorical(df["level"], categories=list(dict.fromkeys(df["level"])), ordered=True)
    df["detector"] = df["detector"] + " (" + df["unit"] + "s)"
    wide = df.pivot(index="level", columns="detector", values=columns).sort_index()
    wide.columns = [f"{det}: {what}" for what, det in wide.columns]
    wide = wide[sorted(wide.columns)].reset_index()
    wide["level"] = "`" + wide["level"].astype(str) + "`"
    intro = ("Between consecutive sampled frames (clips for clip models), per video, then the mean over videos "
             "with at least two: the share of pairs whose decision differs at the clean operating point (flip rate, "
             "as ImageNet-P), and the mean absolute change of P(fake); in brackets the change against `none` on the "
             "same videos. Clip agreement: share of a video's clips with the video's decision.")
    return _section(f"Temporal stability{' (' + label.rstrip(' /') + ')' if label else ''}", frame_table(wide), intro)


def _quality(run: LoadedRun, label: str, fig_dir: Path | None, link: str) -> str:
    doc = run["doc"].get("quality") or {}
    levels = doc.get("levels") or {}
    if not any(q.get("n_videos") for q in levels.values()):
        return ""
    per_level = pd.DataFrame([{"level": f"`{lv}`", "PSNR (dB)": fmt(q["psnr"], 2), "SSIM": fmt(q["ssim"]),
                               "videos": "–" if q["n_videos"] is None else q["n_videos"]} for lv, q in levels.items()])
    equal = pd.DataFrame([{"detector": f"`{d}`", "type": k, **{f"AUC at SSIM {t}": fmt(v) for t, v in
                                                              c["auc_at_ssim"].items()}}
                          for d, curves in (doc.get("detectors") or {}).items() for k, c in curves.items()])
    body = frame_table(per_level)
    if len(equal):
        body += ("\n\nAUC at equal quality (linear interpolation of AUC against SSIM between the clean level and the "
                 "type's severities; n/a outside the SSIM range a type covers):\n\n" + frame_table(equal))
    for det, curves in (doc.get("detectors") or {}).items():
        name = f"{label}{det}: AUC against SSIM"
        path = quality_figure(curves, name, fig_dir / f"{slug(label + det)}-quality.png") if fig_dir else None
        if path:
            body += f"\n\n![{name}]({link}/{path.name})"
    intro = (f"{doc.get('measure', '')}. Severities of different types are not on one scale; SSIM puts them on one. "
             "PSNR is averaged over videos whose crops differ (identical crops have no finite PSNR).")
    return _section(f"Image quality per level{' (' + label.rstrip(' /') + ')' if label else ''}", body, intro)


def analysis_sections(runs: Sequence[LoadedRun], fig_dir: Path | None, link: str) -> str:
    """The three sections for every run (figures written to `fig_dir`, linked as `link/NAME`)."""
    out = ""
    for run in runs:
        label = f"{run['name']} / " if len(runs) > 1 else ""
        out += _breaking(run, label, fig_dir, link) + _stability(run, label) + _quality(run, label, fig_dir, link)
    return out
