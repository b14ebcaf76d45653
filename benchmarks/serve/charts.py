"""Small inline SVG charts (no script, no external library, so the pages work offline and print): frame-score
curves per level, and a video's score against severity per perturbation type."""
from __future__ import annotations

from html import escape

__all__ = ["line_chart", "PALETTE"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
WIDTH, HEIGHT, PAD = 520, 220, 36


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, x_label: str,
               threshold: float | None = None) -> str:
    """An SVG of P(fake) (0-1, y) against x per named series, with a legend and an optional threshold line."""
    xs = [x for points in series.values() for x, _ in points]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    span = (hi - lo) or 1.0

    def px(x: float) -> float:
        return PAD + (x - lo) / span * (WIDTH - 2 * PAD) if hi > lo else WIDTH / 2

    def py(y: float) -> float:
        return HEIGHT - PAD - min(max(y, 0.0), 1.0) * (HEIGHT - 2 * PAD)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 18 * len(series)}"'
             f' role="img" aria-label="{escape(title)}">',
             f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="chart-title">{escape(title)}</text>',
             f'<line x1="{PAD}" y1="{py(0)}" x2="{WIDTH - PAD}" y2="{py(0)}" class="axis"/>',
             f'<line x1="{PAD}" y1="{py(0)}" x2="{PAD}" y2="{py(1)}" class="axis"/>']
    for tick in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{PAD - 4}" y="{py(tick) + 4}" text-anchor="end" class="tick">{tick:g}</text>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}" class="tick">{lo:g}</text>'
                 f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end" class="tick">{hi:g}</text>'
                 f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle" class="tick">{escape(x_label)}</text>')
    if threshold is not None:
        parts.append(f'<line x1="{PAD}" y1="{py(threshold)}" x2="{WIDTH - PAD}" y2="{py(threshold)}" '
                     f'class="threshold"><title>threshold {threshold:.3f}</title></line>')
    for i, (name, points) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"><title>{escape(name)}: '
                  f'{y:.4f} at {x:g}</title></circle>' for x, y in points]
        y = HEIGHT + 4 + 18 * i
        parts.append(f'<rect x="{PAD}" y="{y}" width="12" height="12" fill="{color}"/>'
                     f'<text x="{PAD + 18}" y="{y + 11}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
