"""Deviations from the references: each one a run meets is recorded in manifest.json and printed in the report,
and every one is documented in docs/deviations.md."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import perturbations
from benchmarks.config import RunConfig
from benchmarks.run_folder.deviations import DEVIATIONS, run_deviations

DOC = Path(__file__).resolve().parents[1] / "docs" / "deviations.md"


def test_every_deviation_key_is_a_heading_of_the_deviations_doc():
    headings = set(re.findall(r"^### (\S+)$", DOC.read_text(), flags=re.M))
    assert set(DEVIATIONS) <= headings


class _Clip:
    def __init__(self, clip_frames: int) -> None:
        self.clip_frames = clip_frames


def keys(**kw) -> list[str]:
    models = kw.pop("models", {})
    config = RunConfig(**kw)
    config = RunConfig(**{**config.to_dict(), "levels": perturbations.expand(",".join(config.levels))})
    return [d["key"] for d in run_deviations(config, models)]


@pytest.mark.parametrize("options, expected", [
    (dict(levels=["heavy"]), []),
    (dict(levels=["GB:3"]), ["df-write-back", "df-face-scale"]),
    (dict(levels=["GB:3"], apply_at="frame"), ["df-write-back"]),
    (dict(levels=["GB:3"], apply_at="frame", df_write_back="xvid+h264"), []),
    (dict(levels=["VC:2"]), ["vc-rgb-crops"]),
    (dict(levels=["CS:2"], df_write_back="xvid+h264"), []),
    (dict(levels=["df:mix"]), ["df-write-back", "df-face-scale", "vc-rgb-crops"]),
    (dict(levels=["none"], num_frames=32, models={"lstm": _Clip(20)}), ["clip-length"]),
    (dict(levels=["none"], num_frames=20, models={"lstm": _Clip(20)}), []),
    (dict(levels=["none"], dataset="dfdc"), ["dfdc-selection"]),
    (dict(levels=["none"], dataset="dfdc", dataset_options={"selection": "reference"}), []),
])
def test_a_run_meets_exactly_the_deviations_of_its_configuration(options, expected):
    assert keys(**options) == expected


def test_the_manifest_records_and_the_report_repeats_a_runs_deviations(tmp_path):
    from benchmarks import runner
    from datasets.demo import generate_demo
    from reports.run_files import read_json

    root = tmp_path / "demo"
    generate_demo(root, seed=0, n_train=2, n_test=2, frames=6)
    config = RunConfig(detectors=["meso"], levels=["GB:1"], dataset="folder", data_root=str(root), split="test",
                       random_init=True, num_frames=2, bootstrap=0, cache_dir=str(tmp_path / "cache"),
                       out=str(tmp_path / "run"))
    result = runner.run(config, progress=False)
    recorded = [d["key"] for d in read_json(result.run_dir / "manifest.json")["deviations"]]
    assert recorded == ["df-write-back", "df-face-scale"]
    report = (result.run_dir / "report.md").read_text()
    assert "deviation from the reference ([df-write-back](docs/deviations.md#df-write-back))" in report
