"""Reports render from result files only: markdown tables/images, self-contained HTML, csv and json."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import markdown
import numpy as np

import reports
from benchmarks.metrics.robustness import run_metrics
from reports import run_files as results

LEVELS = ("none", "GB:1", "GB:2", "heavy")


def make_run(run_dir: Path, detectors=("meso", "other"), levels=LEVELS, n: int = 30, seed: int = 0,
             fake_shift: dict | None = None, n_boot: int = 50) -> Path:
    """A synthetic finished run folder: scores.csv (one skipped video), manifest.json, metrics.json."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for det in detectors:
        for k, lv in enumerate(levels):
            for i in range(n):
                y = i % 2
                groups = {"source": "ab"[i % 4 // 2]} | ({"method": "DF" if i % 3 else "FS"} if y else {})
                row = {"video_id": f"v{i:03d}", "label": y, "split": "test", "detector": det, "level": lv,
                       "groups": json.dumps(groups)}
                if i == n - 1:
                    rows.append({**row, "score": "", "n_frames": 0, "status": "no_face",
                                 "message": "no face in any frame", "frame_scores": ""})
                    continue
                shift = (fake_shift or {}).get(lv, 0.0) * y
                frames = np.clip(rng.normal(0.3 + (0.4 - 0.08 * k) * y - shift, 0.15, 3), 0.001, 0.999)
                rows.append({**row, "score": repr(float(frames.mean())), "n_frames": 3, "status": "ok",
                             "message": "", "frame_scores": " ".join(f"{s:.6g}" for s in frames)})
    with results.ScoresWriter(run_dir / results.SCORES_FILE) as writer:
        writer.write(rows)
    manifest = {"dataset": {"name": "synthetic", "split": "test", "root": "-", "n_total": n, "n_selected": n,
                            "n_real": n // 2, "n_fake": n // 2, "fingerprint": "0123456789abcdef"},
                "seed": seed, "config": {"num_frames": 3, "detectors": list(detectors)}, "status": "complete",
                "protocol": "synthetic scores", "git_commit": "none", "started": "today",
                "detectors": {d: {"architecture": d, "input_size": 256, "path": "w.safetensors",
                                  "format": "safetensors", "sha256": "ab" * 32} for d in detectors},
                "levels": {lv: {"description": lv, "steps": []} for lv in levels}}
    results.write_json(run_dir / results.MANIFEST_FILE, manifest)
    doc = run_metrics(results.read_scores(run_dir), list(detectors), list(levels), n_boot=n_boot, seed=0)
    results.write_json(run_dir / results.METRICS_FILE, doc)
    return run_dir


def test_markdown_report_renders_cleanly(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "gallery.png").write_bytes((tmp_path / "x").write_bytes(b"") or b"\x89PNG\r\n\x1a\n")
    out = reports.write_report([run], run / "report.md")
    text = out.read_text()
    assert "0." in text and re.search(r"\| AUC \| \d\.\d{3} \[\d\.\d\d, \d\.\d\d\]", text)
    html = markdown.markdown(text, extensions=["tables"])
    assert html.count("<table>") >= 7          # main, operating, change, 3 robustness, groups, frame, skipped
    assert "|---" not in html and "| ---" not in html
    images = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(images) == 2 * 4 + 1         # severity, ROC, histogram, breaking-point survival per detector + gallery
    for src in images:  # the figures, and the run's own gallery.png where it lies (stored once)
        assert (run / src).is_file() and (src.startswith("figures/") or src == "gallery.png")
    assert not (run / "figures" / "gallery.png").exists()
    assert "mCE" in text and "CE GB" in text and "Avg" in text and "all reals" in text
    assert "`v029`" in text and "no face in any frame" in text


def test_schema_one_metrics_still_render(tmp_path):
    run = make_run(tmp_path / "old")
    doc = results.read_json(run / results.METRICS_FILE)
    keep = ("detector", "level", "n_scored", "n_real", "n_fake", "n_skipped", "auc", "ap", "accuracy", "log_loss",
            "undefined")
    results.write_json(run / results.METRICS_FILE, {"video": [{k: e[k] for k in keep} for e in doc["video"]]})
    text = reports.write_report([run], run / "report.md").read_text()
    assert "| AUC |" in text and "[" not in text.split("| AUC |")[1].splitlines()[0]


def test_html_is_self_contained_and_merges_runs(tmp_path):
    a, b = make_run(tmp_path / "a", detectors=("meso",)), make_run(tmp_path / "b", detectors=("meso",), seed=1)
    out = reports.write_report([a, b], tmp_path / "cmp", "html")
    html = out.read_text()
    assert out.name == "report.html" and html.startswith("<!DOCTYPE html>")
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "a / none" in html and "b / heavy" in html and "Run <code>a</code>" in html


def test_csv_and_json_formats(tmp_path):
    run = make_run(tmp_path / "r")
    rows = list(csv.DictReader(io.StringIO(reports.write_report([run], tmp_path / "o", "csv").read_text())))
    auc = [r for r in rows if r["metric"] == "auc" and r["scope"] == "video" and r["level"] == "heavy"]
    assert len(auc) == 2 and float(auc[0]["lo"]) <= float(auc[0]["value"]) <= float(auc[0]["hi"])
    assert auc[0]["change_excludes_zero"] in ("True", "False")
    data = json.loads(reports.write_report([run], tmp_path / "o" / "x.json").read_text())
    assert data["runs"][0]["metrics"]["robustness"]["detectors"]["meso"]["types"]["GB"] is not None


def test_tables_regenerate_from_scores_csv_alone(tmp_path):
    run = make_run(tmp_path / "r")
    first = reports.write_report([run], run / "report.md").read_text()
    (run / results.METRICS_FILE).unlink()
    doc = run_metrics(results.read_scores(run), ["meso", "other"], list(LEVELS), n_boot=50, seed=0)
    results.write_json(run / results.METRICS_FILE, doc)
    assert reports.write_report([run], run / "report.md").read_text() == first
