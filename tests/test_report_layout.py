"""The report reads at a glance: figures big enough with every colour in a legend, the answer before the protocol,
group tables without repeated columns and with small groups folded, HTML that fits 700 px."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import cv2
import pytest

import reports
from benchmarks.metrics.robustness import run_metrics
from reports import figures
from reports import run_files as results
from reports.formats import TABLE_WRAP
from reports.tables import group_table
from tests.test_reports import make_run

OLD_ROC_PX = (336, 320)  # width x height before issue 17 (4.2 x 4 in at 80 dpi)
OLD_HIST_HEIGHT_PX = 208
OLD_SEVERITY_PX = (400, 280)
CHROMIUM = shutil.which("chromium")


def _size(path) -> tuple[int, int]:
    image = cv2.imread(str(path))
    return image.shape[1], image.shape[0]


def _legend_sizes(fig) -> list[float]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_fontsize() for legend in legends for t in legend.get_texts()]


def test_figures_are_twice_their_former_size_at_the_same_dpi(tmp_path):
    run = make_run(tmp_path / "run", detectors=("meso",))
    reports.write_report([run], tmp_path / "out" / "report.md")
    fig_dir = tmp_path / "out" / results.FIGURES_DIR
    roc_w, roc_h = _size(fig_dir / "meso-roc.png")
    assert roc_w >= 2 * OLD_ROC_PX[0] and roc_h >= 2 * OLD_ROC_PX[1]
    assert _size(fig_dir / "meso-hist.png")[1] >= 2 * OLD_HIST_HEIGHT_PX
    sev_w, sev_h = _size(fig_dir / "meso-severity.png")
    assert sev_w >= 2 * OLD_SEVERITY_PX[0] and sev_h >= 2 * OLD_SEVERITY_PX[1]
    assert figures.DPI == 80


def test_every_colour_of_the_histogram_is_in_its_legend_and_legends_are_legible(tmp_path):
    run = make_run(tmp_path / "run", detectors=("meso",))
    entries = results.read_json(run / results.METRICS_FILE)["video"]
    fig = figures.histogram_plot(entries, "t")
    try:
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == ["real", "fake", "real and fake (overlap)"]
        legend_colours = {tuple(h.get_facecolor()) for h in legend.legend_handles}
        drawn = {tuple(p.get_facecolor()) for ax in fig.axes for p in ax.patches if p.get_fill()}
        assert drawn and drawn <= legend_colours  # the overlap is drawn in its own, named colour
        assert min(_legend_sizes(fig)) >= figures.LEGEND_MIN_PT
    finally:
        figures.plt.close(fig)
    many = [{**entries[0], "level": f"L{i}"} for i in range(12)]  # more curves than fit inside the axes
    graded = {e["level"]: ("GB", int(e["level"][-1])) for e in entries if e["level"].startswith("GB")}
    for fig in (figures.roc_plot(entries, "t"), figures.roc_plot(many, "t"),
                figures.severity_plot(entries, "t", graded)):
        try:
            assert min(_legend_sizes(fig)) >= figures.LEGEND_MIN_PT
        finally:
            figures.plt.close(fig)


def test_report_puts_the_answer_before_protocol_and_cost(tmp_path):
    run = make_run(tmp_path / "run", detectors=("meso",))
    results.write_json(run / results.TIMING_FILE, {
        "wall_seconds": 3.0, "sessions": [{}], "faces": {},
        "levels": {lv: {"videos": 30, "perturb_seconds": 0.5, "detectors": {"meso": {"seconds": 1.0, "frames": 90}}}
                   for lv in ("none", "GB:1", "GB:2", "heavy")}})
    text = reports.write_report([run], tmp_path / "report.md").read_text()
    order = ["## Results (video level)", "| AUC |", "### Change against the clean level", "### Robustness summary",
             "### Breakdown by group", "### Figures", "## Protocol", "- dataset:", "### Cost"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    assert text.index("Rows are metrics") > text.index("## Protocol")  # the definitions paragraph comes after
    first_screen = text[:text.index("| AUC |")]
    assert len(first_screen.splitlines()) < 12 and "fingerprint" not in first_screen


def _grouped_rows(sizes: dict[str, int], column: str = "site") -> list[dict]:
    rows, i = [], 0
    for value, n in sizes.items():
        for k in range(n):
            y = k % 2
            rows.append({"video_id": f"v{i}", "label": str(y), "detector": "d", "level": "none", "status": "ok",
                         "score": repr(0.2 + 0.5 * y + 0.01 * (i % 7)), "n_frames": 1, "frame_scores": "0.5",
                         "groups": json.dumps({column: value, "tiny": f"t{k // 2}"})})
            i += 1
    return rows


def test_small_groups_fold_into_other_with_intervals():
    rows = _grouped_rows({"a": 12, "b": 10, "c": 4, "d": 3})
    doc = run_metrics(rows, ["d"], ["none"], n_boot=50, seed=0, min_group_videos=10)
    groups = {g["value"]: g for g in doc["groups"] if g["column"] == "site"}
    assert set(groups) == {"a", "b", "other"} and groups["other"]["folded"] == ["c", "d"]
    assert groups["other"]["n_real"] + groups["other"]["n_fake"] == 7
    assert groups["a"]["ci"]["auc"][0] is not None and len(groups["a"]["ci"]["accuracy"]) == 2
    assert doc["group_min_videos"] == 10
    assert doc["group_columns_small"] == {"tiny": 6}  # every value of `tiny` is small: left out, named
    assert not any(g["column"] == "tiny" for g in doc["groups"])
    shared, table = group_table([{**g, "run": "r1"} for g in doc["groups"]])
    assert shared == "Every row: run `r1`, detector `d`, level `none`, reals used `group's own`."
    assert table.splitlines()[0] == "| group | value | real/fake | AUC | AP | accuracy |"
    assert "other (c, d)" in table and re.search(r"\| \d\.\d{3} \[\d\.\d\d, \d\.\d\d\] \|", table)
    two_runs = group_table([{**g, "run": r} for r in ("r1", "r2") for g in doc["groups"]])[1]
    assert two_runs.splitlines()[0].startswith("| run | group |")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium browser (/usr/bin/chromium) to lay the page out")
def test_html_report_fits_700_px_in_chromium(tmp_path):
    levels = ("none", *[f"GB:{s}" for s in range(1, 6)], "heavy")  # 14 columns: a main table wider than 700 px
    run = make_run(tmp_path / "run", detectors=("meso", "other"), levels=levels, n=20, n_boot=20)
    html = reports.write_report([run], tmp_path / "report.html").read_text()
    assert html.count(TABLE_WRAP) == html.count("<table>") > 5
    assert _page_width(html, tmp_path) <= 700
    unwrapped = html.replace(TABLE_WRAP, "<div>")  # the same page without the wrappers overflows: the check bites
    assert _page_width(unwrapped, tmp_path) > 700


def _page_width(html: str, tmp_path) -> int:
    """document.documentElement.scrollWidth of the page in headless Chromium, window 700 px wide."""
    probe = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-width', "
             "document.documentElement.scrollWidth))</script></body>")
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", probe), encoding="utf-8")
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          f"--user-data-dir={tmp_path / 'profile'}", "--window-size=700,2000",
                          "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'data-width="(\d+)"', out.stdout)
    assert found, f"chromium printed no layout: {out.stderr[-500:]}"
    return int(found.group(1))
