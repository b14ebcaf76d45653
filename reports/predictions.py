"""Figures of single-video predictions (`predict --out DIR`), drawn from the rows and profiles it writes as JSON:
the score against severity per graded type, and each level's frame scores along the video."""
from __future__ import annotations

from pathlib import Path

from .figures import plt, save_figure

__all__ = ["severity_figure", "frame_curves_figure"]

MAX_LEGEND = 12  # more curves than this: no legend (df:all has 36 levels), the title says how many


def severity_figure(profiles: list[dict], title: str, path: Path) -> Path | None:
    """P(fake) against severity, one line per graded type of one video and detector (severity 0 = the clean
    score), the threshold dashed and the first severity that flips the verdict circled. `profiles` are
    `SeverityProfile.to_json()` dicts; None when none has a score."""
    profiles = [p for p in profiles if p["clean_p_fake"] is not None or any(v is not None for v in p["p_fake"])]
    if not profiles:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for profile in profiles:
        xs, ys = [0, *profile["severities"]], [profile["clean_p_fake"], *profile["p_fake"]]
        xs, ys = zip(*[(x, y) for x, y in zip(xs, ys) if y is not None])
        line, = ax.plot(xs, ys, "o-", label=profile["type"], markersize=4)
        flip = profile.get("flips_at")
        if flip is not None:
            y = profile["p_fake"][profile["severities"].index(flip)]
            ax.plot([flip], [y], "o", markersize=11, markerfacecolor="none", color=line.get_color())
    ax.axhline(profiles[0]["threshold"], color="grey", linestyle="--", linewidth=1,
               label=f"threshold {profiles[0]['threshold']:.3g}")
    top = max(max(p["severities"], default=1) for p in profiles)
    ax.set(xlabel="severity (0 = clean; circled: the verdict flips)", ylabel="P(fake)", ylim=(-0.02, 1.02),
           xticks=range(0, top + 1), title=title)
    ax.legend(fontsize=7, loc="best", ncol=2 if len(profiles) > 6 else 1)
    return save_figure(fig, path)


def frame_curves_figure(rows: list[dict], threshold: float, title: str, path: Path) -> Path | None:
    """Frame P(fake) along the sampled frames, one curve per level with scores, of one video and detector.
    `rows` are prediction rows as printed by `predict --json`; None when no level has frame scores."""
    curves = [row for row in rows if row.get("frame_scores")]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    for row in curves:
        scores = row["frame_scores"]
        ax.plot(range(1, len(scores) + 1), scores, linewidth=1.6 if row["level"] == "none" else 0.9,
                label=f"{row['level']} ({row['p_fake']:.3f})")
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="sampled frame", ylabel="frame P(fake)", ylim=(-0.02, 1.02),
           title=title if len(curves) <= MAX_LEGEND else f"{title} ({len(curves)} levels)")
    if len(curves) <= MAX_LEGEND:
        ax.legend(fontsize=7, loc="best", title="level (video score)", title_fontsize=7)
    return save_figure(fig, path)
