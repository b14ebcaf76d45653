"""report.md from run folders' files (manifest.json, metrics.json, scores.csv); never touches models or videos.

The whole report is one `string.Template` (Jinja2 is not a project dependency); sections are rendered by small
functions into its placeholders. metrics.json of schema 1 (no intervals) still renders, without the extras.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from string import Template
from typing import Sequence

from .analysis import analysis_sections
from .figures import run_figures
from .run_files import FIGURES_DIR, GALLERY_FILE, LEVEL_KINDS, SCORES_FILE, TIMING_FILE, LoadedRun
from .tables import (
    column_label,
    cost_table,
    drop_table,
    group_table,
    main_table,
    markdown_table,
    operating_table,
    robustness_tables,
)

REPORT_TEMPLATE = Template("""\
# Deepfake detector robustness report

${glance}

## Results (video level)

${main_table}

${results_note}

${adversarial}${changes}${robustness}${analysis}${operating}${groups}${frame}${figures}${gallery}${undefined}${skipped}## Protocol

${definitions}

${protocol}${cost}---
Per-video scores (one row per video, detector and level, skipped videos included) are in `${scores_file}` of each
run folder; every table here can be rebuilt from it with `python -m benchmarks report RUN_DIR`.
""")
"""The answer first: the results table, the change against the clean level and the robustness summary, then the
details behind them (operating points, groups, frame level, figures, gallery, skipped videos); what was run (the
protocol, metric definitions) and what it cost come last (tests/test_report_layout.py checks the order)."""


def _section(title: str, body: str | None, intro: str = "") -> str:
    if not body:
        return ""
    return f"### {title}\n\n" + (f"{intro}\n\n" if intro else "") + f"{body}\n\n"


def _columns(runs: Sequence[LoadedRun], key: str = "metrics") -> tuple[list[dict], list[str]]:
    several_runs = len(runs) > 1
    entries, labels = [], []
    for run in runs:
        items = run[key] if key == "metrics" else run["doc"].get(key, [])
        several_detectors = len({m["detector"] for m in items}) > 1
        for entry in items:
            entries.append({**entry, "run": run["name"]})
            labels.append(column_label(entry, several_detectors, run["name"] if several_runs else None))
    return entries, labels


def render(runs: Sequence[LoadedRun], fig_dir: Path | None = None, fig_link: str = FIGURES_DIR) -> str:
    """The report markdown; figures are written to `fig_dir` (none when None) and linked as `fig_link/NAME`."""
    several_runs = len(runs) > 1
    entries, labels = _columns(runs)
    doc = runs[0]["doc"] if runs else {}
    threshold_rule = doc.get("threshold_rule")
    intro = ("Rows are metrics, columns are " + ("run / " if several_runs else "")
             + "detector / perturbation level. AUC and AP need both classes; accuracy is at threshold 0.5; "
             "loss is the reference code base's: mean binary cross-entropy with logits over all scored frames "
             "(logit = logit(P(fake)) clipped at 1e-7); video log loss is the binary cross-entropy of the video "
             "P(fake)"
             + f" (video score: `{doc.get('aggregate', 'mean')}` of frame scores).")
    boot = doc.get("bootstrap")
    if boot and boot.get("resamples"):
        intro += (f" Brackets: {boot['confidence']:.0%} percentile bootstrap interval over videos "
                  f"({boot['resamples']} resamples, seed {boot['seed']}; resamples without both classes skipped).")
    note = "Columns are " + ("run / " if several_runs else "") + "detector / perturbation level"
    if boot and boot.get("resamples"):
        note += f"; brackets: {boot['confidence']:.0%} bootstrap interval over videos"
    note += ". Every row is defined under Protocol below."
    groups = [{**g, "run": r["name"]} for r in runs for g in r["doc"].get("groups", [])]
    kinds = {lv: kind for run in runs for lv, kind in run["doc"].get("level_kinds", {}).items()}
    attacked = [kinds.get(e["level"]) == LEVEL_KINDS[2] for e in entries]
    corrupted = [(e, label) for (e, label), adv in zip(zip(entries, labels), attacked) if not adv]
    adversarial = [(e, label) for (e, label), adv in zip(zip(entries, labels), attacked)
                   if adv or kinds.get(e["level"]) == LEVEL_KINDS[0]] if any(attacked) else []
    fields = {
        "glance": "\n\n".join(_glance(run, several_runs) for run in runs),
        "results_note": note,
        "definitions": intro,
        "main_table": main_table([e for e, _ in corrupted], [label for _, label in corrupted]),
        "adversarial": _section("Adversarial attacks", main_table([e for e, _ in adversarial],
                                                                  [label for _, label in adversarial]),
                                "White-box and transfer attacks (`PGD`, `PGD-EOT`; configuration under each level "
                                "in the manifest's `levels`), apart from the common corruptions above; the clean "
                                "level is repeated for comparison.") if adversarial else "",
        "operating": _section("Operating points", operating_table(entries, labels),
                              f"Clean threshold: {threshold_rule}; kept for every level." if threshold_rule else ""),
        "changes": _section("Change against the clean level", drop_table(entries, labels),
                            "Paired bootstrap on the videos scored at both levels; * = the interval excludes zero."
                            if any(e.get("change") for e in entries) else ""),
        "robustness": _robustness(runs, several_runs),
        "analysis": analysis_sections(runs, fig_dir, fig_link),  # breaking points, temporal stability, quality
        "groups": _groups(runs, groups),
        "frame": _frame(runs),
        "figures": _figures(runs, fig_dir, fig_link) if fig_dir else "",
        "gallery": _gallery(runs, fig_dir, fig_link) if fig_dir else "",
        "undefined": _undefined(entries, labels),
        "skipped": "".join(_skipped(run, several_runs) for run in runs),
        "protocol": "".join(_summary(run, several_runs) for run in runs),
        "cost": "".join(_cost(run, several_runs) for run in runs),
        "scores_file": SCORES_FILE,
    }
    return REPORT_TEMPLATE.substitute(fields)


def _glance(run: LoadedRun, several_runs: bool) -> str:
    """One sentence per run naming what the numbers below are about; the full protocol comes at the end."""
    m = run["manifest"]
    counts: dict[str, str] = {}
    for row in run["scores"]:
        counts.setdefault(row["video_id"], row["label"])
    labels = list(counts.values())
    dets = ", ".join(f"`{d}`" for d in m.get("detectors", {}))
    levels = ", ".join(f"`{lv}`" for lv in m.get("levels", {}))
    ds = m.get("dataset", {})
    return (f"{'Run `' + run['name'] + '`: ' if several_runs else ''}{dets} on **{ds.get('name')}** "
            f"(split `{ds.get('split')}`): {len(counts)} videos ({labels.count('0')} real / {labels.count('1')} "
            f"fake), {m.get('config', {}).get('num_frames')} frames each, levels {levels}.")


def _groups(runs: Sequence[LoadedRun], groups: list[dict]) -> str:
    docs = [r["doc"] for r in runs]
    minimum = next((d["group_min_videos"] for d in docs if "group_min_videos" in d), None)
    small = {c: n for d in docs for c, n in (d.get("group_columns_small") or {}).items()}
    table = group_table(groups)
    if table is None and not small:
        return ""
    shared, body = table if table else ("", None)
    intro = ("A group column only fakes have (e.g. manipulation method) is scored as the group's fakes against all "
             "reals; a column both classes have uses the group's own videos.")
    if minimum:
        intro += (f" Values with fewer than {minimum} videos of their own are folded into `other` (listed in "
                  "brackets)")
        intro += ("; left out because every value is that small: "
                  + ", ".join(f"`{c}` ({n} values)" for c, n in small.items()) + "." if small else ".")
    return _section("Breakdown by group", body or "No group has enough videos.", intro + (f" {shared}" if shared else ""))


def _robustness(runs: Sequence[LoadedRun], several_runs: bool) -> str:
    out = ""
    for run in runs:
        summary = run["doc"].get("robustness")
        tables = robustness_tables(summary) if summary else []
        if not tables:
            continue
        ref = summary.get("reference")
        intro = ("Changes are level minus clean (−: a drop, +: a gain); AUC ratio = level AUC / clean AUC. Graded "
                 "levels (one step `TYPE:SEVERITY`; combined levels are not severities): per-type mean AUC over the "
                 "severities, Avg over the DeeperForensics types that have all their severities (the LipForensics "
                 "layout); † marks a type with severities missing (left out of Avg and mCE) or an Avg over fewer "
                 "than all seven types; other graded types are in their own table"
                 + (f". With E = 1 - AUC: CE = sum over severities of E / the same for `{ref}`; relative CE = sum "
                    f"of (E - E_clean) / the same for `{ref}` (ImageNet-C); mCE, relative mCE = means over the "
                    "complete DF types." if ref else "."))
        title = "Robustness summary" + (f" (`{run['name']}`)" if several_runs else "")
        out += _section(title, "\n\n".join(tables), intro)
    return out


def _frame(runs: Sequence[LoadedRun]) -> str:
    entries, labels = _columns(runs, "frame")
    if not entries:
        return ""
    rows = [[name] + [("n/a" if e.get(k) is None else f"{e[k]:.3f}") for e in entries]
            for name, k in (("AUC", "auc"), ("AP", "ap"), ("accuracy", "accuracy"), ("log loss", "log_loss"),
                            ("EER", "eer"))]
    rows.append(["frames scored"] + [str(e["n_scored"]) for e in entries])
    return _section("Frame level", markdown_table(["metric", *labels], rows),
                    "Every sampled frame carries its video's label (frames of a video are not independent).")


def _figures(runs: Sequence[LoadedRun], fig_dir: Path, link: str) -> str:
    lines = []
    for run in runs:
        prefix = f"{run['name']}-" if len(runs) > 1 else ""
        for caption, path in run_figures(run["name"], run["metrics"], fig_dir, prefix,
                                         run["doc"].get("robustness")):
            lines.append(f"![{caption}]({link}/{path.name})\n")
    return _section("Figures", "\n".join(lines))


def _gallery(runs: Sequence[LoadedRun], fig_dir: Path, link: str) -> str:
    lines = []
    for run in runs:
        src = Path(run["dir"]) / GALLERY_FILE
        if src.is_file() and fig_dir.parent.resolve() == src.parent.resolve():  # the run's own report: stored once
            lines.append(f"![perturbation gallery {run['name']}]({GALLERY_FILE})\n")
        elif src.is_file():
            fig_dir.mkdir(parents=True, exist_ok=True)
            name = f"gallery-{run['name']}.png" if len(runs) > 1 else GALLERY_FILE
            shutil.copyfile(src, fig_dir / name)
            lines.append(f"![perturbation gallery {run['name']}]({link}/{name})\n")
    return _section("Perturbation gallery", "\n".join(lines))


def _undefined(entries: Sequence[dict], labels: Sequence[str]) -> str:
    rows = [(label, name, reason) for entry, label in zip(entries, labels)
            for name, reason in (entry.get("undefined") or {}).items()]
    return _section("Metrics reported as n/a", markdown_table(["column", "metric", "reason"], rows) if rows else None)


def _summary(run: LoadedRun, several_runs: bool) -> str:
    m = run["manifest"]
    ds = m["dataset"]
    title = f"### Run `{run['name']}`" if several_runs else ""
    counts = {}
    for row in run["scores"]:
        counts.setdefault(row["video_id"], row["label"])
    lines = ([title, ""] if title else []) + [
             f"- dataset: **{ds['name']}** (split `{ds['split']}`, root `{ds['root']}`), "
             f"{ds.get('n_selected', ds.get('n_total'))} videos selected of {ds.get('n_total')} "
             f"({ds.get('n_real')} real / {ds.get('n_fake')} fake in the split), fingerprint `{ds['fingerprint'][:12]}`",
             f"- videos in {SCORES_FILE}: {len(counts)} ({list(counts.values()).count('0')} real / "
             f"{list(counts.values()).count('1')} fake)",
             f"- seed {m['seed']}, frames per video {m['config']['num_frames']}, status {m['status']}, "
             f"commit `{m.get('git_commit', 'unknown')}`, started {m.get('started')}",
             "- protocol: " + m["protocol"], *_preset_lines(m.get("protocol_preset")),
             *[f"- deviation from the reference ([{d['key']}]({d['doc']})): {d['text']}" for d in m.get("deviations", [])],
             "", "Detectors:", ""]
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
    return "\n".join(lines) + "\n\n"


def _preset_lines(preset: dict | None) -> list[str]:
    """The protocol preset the run followed (`run --protocol`): its source, the settings the run changed and what
    the suite still does differently from the source, so a reader knows how far the numbers compare."""
    if not preset:
        return []
    def shown(value: object) -> str:  # a level list of 36 names is summarised
        return f"{len(value)} levels" if isinstance(value, list) and len(value) > 6 else f"`{value}`"

    changed = "; ".join(f"`{key}` {shown(o['run'])} instead of {shown(o['preset'])}"
                        for key, o in preset["overrides"].items())
    lines = [f"- protocol preset: **{preset['name']}**: {preset['description']}. Source: {preset['source']}",
             f"  - settings changed from the preset: {changed or 'none'}"]
    if preset.get("headline"):  # runs before issue 18 have no headline or detector inputs
        lines.append(f"  - the source reports {preset['headline']}-level AUC (metrics.json has video and frame AUC)")
    lines += [f"  - detector `{name}` is fed otherwise than the source fed it: "
              + "; ".join(f"{key} `{d['detector']}` instead of `{d['preset']}`" for key, d in found.items())
              for name, found in preset.get("input_differences", {}).items()]
    lines += [f"  - deviation from the source: {d}" for d in preset.get("deviations", [])]
    return lines


def _skipped(run: LoadedRun, several_runs: bool) -> str:
    seen: dict[str, dict] = {}
    for row in run["scores"]:
        if row["status"] != "ok":
            seen.setdefault(row["video_id"], row)
    heading = "Skipped videos" + (f" (`{run['name']}`)" if several_runs else "")
    if not seen:
        return _section(heading, "None: every video was scored.")
    rows = [[f"`{vid}`", "fake" if row["label"] == "1" else "real", row["status"], row["message"]]
            for vid, row in sorted(seen.items())]
    return _section(heading, markdown_table(["video", "label", "status", "reason"], rows),
                    f"{len(seen)} videos could not be scored and are excluded from the metrics:")


def _cost(run: LoadedRun, several_runs: bool) -> str:
    """Where the run's time went (timing.json): the face stage in one sentence, then per level."""
    timing = run.get("timing")
    table = cost_table(timing, list(run["manifest"].get("levels") or [])) if timing else None
    if not table:
        return ""
    faces = timing.get("faces") or {}
    sessions = len(timing.get("sessions") or []) or 1
    intro = (f"From `{TIMING_FILE}` ({sessions} session{'s' * (sessions > 1)}, {timing.get('wall_seconds', 0):.1f} s "
             f"in all). Face stage: {faces.get('extracted', 0)} videos decoded and searched for faces in "
             f"{faces.get('extract_seconds', 0):.1f} s summed over jobs, {faces.get('cache_hits', 0)} loaded from "
             f"the face cache in {faces.get('cache_seconds', 0):.1f} s; scoring waited "
             f"{faces.get('wait_seconds', 0):.1f} s for faces. Per level, on the face crops: perturbation "
             f"(re-encoding and re-detection included for "
             f"video- and frame-stage levels) and inference seconds, and their sum per video.")
    heading = "Cost" + (f" (`{run['name']}`)" if several_runs else "")
    return _section(heading, table, intro)
