"""Protocol presets (`run --protocol NAME`) and the DFDC reference selection (`dfdc` option selection=reference).

The DFDC reference is checked against pandas running the reference code's own steps (deepfake_detector utils.py
`dfdc_metadata_setup` and dfdetector.py `label_data`) on synthetic metadata with the real parts' sizes.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import datasets
from benchmarks import protocols
from benchmarks.cli import main
from benchmarks.cli.presets import follow, typed_dests
from benchmarks.cli.run import build_run_parser
from benchmarks.config import RunConfig
from benchmarks.protocols import Protocol
from datasets import FAKE, REAL, DatasetError
from datasets.common import pandas_sample_positions
from datasets.demo import generate_demo
from tests.conftest import PROJECT_ROOT

# Videos and real videos per part in the DFDC download (metadata.json of parts 45-49: 12,551 videos, 2,180 real).
PART_SIZES = {45: (2346, 432), 46: (2202, 389), 47: (2406, 422), 48: (2463, 422), 49: (3134, 515)}
# The reference concatenates all 50 parts' metadata in the order of its list: 45, 46, 47, 49, then (among others)
# 39 and 48; two train parts are included here so the "folder > 44" filter is exercised as in the original.
REFERENCE_CONCAT = (44, 45, 46, 47, 49, 39, 48)


def write_part(root: Path, number: int, n_total: int, n_real: int, rng: random.Random) -> None:
    labels = ["REAL"] * n_real + ["FAKE"] * (n_total - n_real)
    rng.shuffle(labels)  # real and fake videos interleave in the real files
    metadata = {}
    for label in labels:
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10)) + ".mp4"
        metadata[name] = {"label": label, "split": "train", "original": None if label == "REAL" else "x.mp4"}
    folder = root / f"dfdc_train_part_{number}"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")


@pytest.fixture(scope="module")
def dfdc_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dfdc")
    rng = random.Random(7)
    for number, (n_total, n_real) in {**PART_SIZES, 44: (300, 60), 39: (300, 60)}.items():
        write_part(root, number, n_total, n_real, rng)
    return root


def reference_code_with_pandas(root: Path) -> set[str]:
    """The reference's steps, literally: metadata frames with a folder row, concatenated in its order, transposed,
    labels recoded, parts > 44 kept, then 500 per class with sample(n=500, replace=False, random_state=24)."""
    pd = pytest.importorskip("pandas")
    with warnings.catch_warnings():  # the 2020 code uses idioms pandas 3 deprecates (inplace, mixed dtypes)
        warnings.simplefilter("ignore")
        frames = []
        for number in REFERENCE_CONCAT:
            df = pd.read_json(root / f"dfdc_train_part_{number}" / "metadata.json")
            df.loc[df.shape[0]] = number
            df.rename({3: "folder"}, axis="index", inplace=True)
            frames.append(df)
        all_meta = pd.concat(frames, axis=1).T
        all_meta["video"] = all_meta.index
        all_meta.reset_index(drop=True, inplace=True)
        all_meta["label"] = all_meta["label"].apply(lambda x: 0 if x == "REAL" else 1)
        test_df = all_meta[all_meta["folder"] > 44].reset_index(drop=True)
        reals = test_df[test_df["label"] == 0].sample(n=500, replace=False, random_state=24)
        fakes = test_df[test_df["label"] == 1].sample(n=500, replace=False, random_state=24)
        df_test = pd.concat([reals, fakes], ignore_index=True)
    return set(df_test["video"])


# --- the DFDC reference selection --------------------------------------------------------------------------------

def test_reference_selection_is_the_reference_codes_test_set(dfdc_root):
    ds = datasets.open("dfdc", dfdc_root, split="parts", selection="reference")
    assert {item.path.name for item in ds} == reference_code_with_pandas(dfdc_root)
    assert sum(item.label == REAL for item in ds) == 500 and sum(item.label == FAKE for item in ds) == 500
    assert ds.describe()["options"] == {"parts": [45, 46, 47, 48, 49], "max_videos": 1000, "balance": True,
                                        "seed": 24, "selection": "reference"}
    assert any("reference selection" in note and "45,46,47,49,48" in note for note in ds.notes)


@pytest.mark.parametrize("n_rows, n, seed", [(2180, 500, 24), (10371, 500, 24), (7, 7, 0), (1000, 3, 2**32 - 1)])
def test_sample_positions_are_pandas_sample_in_its_order(n_rows, n, seed):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"row": np.arange(n_rows)})
    assert pandas_sample_positions(n_rows, n, seed, "x") == list(frame.sample(n=n, random_state=seed)["row"])


def test_seeded_default_and_concatenation_order_pick_other_videos(dfdc_root, monkeypatch):
    """The two deviations the reference selection removes, measured: this suite's seeded sampler and a sorted
    concatenation of the parts both draw other videos than the reference did."""
    reference = {i.video_id for i in datasets.open("dfdc", dfdc_root, split="parts", selection="reference")}
    seeded = {i.video_id for i in datasets.open("dfdc", dfdc_root, split="parts", parts="45-49", max_videos=1000,
                                                balance=True)}
    assert len(seeded) == 1000 and 80 < len(reference & seeded) < 200  # chance: 500^2/2180 + 500^2/10371 = 139
    monkeypatch.setattr(datasets.dfdc, "REFERENCE_PARTS", (45, 46, 47, 48, 49))
    in_sorted_order = {i.video_id for i in datasets.open("dfdc", dfdc_root, split="parts", selection="reference")}
    assert len(in_sorted_order) == 1000 and len(reference & in_sorted_order) < 900


def test_reference_selection_other_sizes_and_seeds(dfdc_root):
    small = datasets.open("dfdc", dfdc_root, split="parts", selection="reference", max_videos=200, seed=3)
    real = [i for i in small if i.label == REAL]
    assert len(small) == 200 and len(real) == 100
    pool = [i for part in (45, 46, 47, 49, 48) for i in datasets.open("dfdc", dfdc_root, split="parts", parts=part)
            if i.label == REAL]
    assert {i.video_id for i in real} == {pool[k].video_id for k in pandas_sample_positions(len(pool), 100, 3, "x")}


@pytest.mark.parametrize("options, message", [
    ({"parts": "45-48"}, "selection=reference draws from parts 45-49 only, got parts=45-48"),
    ({"max_videos": 999}, "max_videos=999 is odd"),
    ({"selection": "published"}, "option selection='published': unknown published; allowed: seeded, reference"),
    ({"seed": 2**32}, "random_state 4294967296 outside numpy's RandomState range"),
])
def test_reference_selection_refuses_what_would_change_it(dfdc_root, options, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        datasets.open("dfdc", dfdc_root, **{"split": "parts", "selection": "reference", **options})


def test_reference_selection_needs_every_part(tmp_path):
    rng = random.Random(1)
    for number in (45, 46, 47, 49):
        write_part(tmp_path, number, 600, 150, rng)
    with pytest.raises(DatasetError, match="needs all of parts 45-49.*part folder\\(s\\) 48 missing"):
        datasets.open("dfdc", tmp_path, split="parts", selection="reference")
    (tmp_path / "test_videos").mkdir()
    (tmp_path / "test_videos" / "labels.csv").write_text("filename,label\na.mp4,0\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="split 'test' reads test_videos; use --split parts"):
        datasets.open("dfdc", tmp_path, selection="reference")


# --- the preset registry -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", protocols.names())
def test_each_preset_gives_exactly_its_settings(name):
    preset = protocols.get(name)
    config = protocols.configure(name)
    for key, value in preset.settings.items():
        assert protocols.value_of(config, key) == (list(value) if isinstance(value, tuple) else value), key
    assert config.protocol == name and protocols.differences(config, preset) == {}
    assert "github.com/" in preset.source and preset.description and preset.deviations


def test_presets_hold_the_published_settings():
    deeper, lip, dfdc = (protocols.get(n) for n in ("deeperforensics", "lipforensics", "dfdc-reference"))
    df_levels = [f"{t}:{s}" for t in ("CS", "CC", "BW", "GNC", "GB", "PX", "VC") for s in range(1, 6)]
    for preset in (deeper, lip):  # the seven DeeperForensics types x five severities on full frames, written back
        assert list(preset.settings["levels"]) == ["none", *df_levels]
        assert preset.settings["apply_at"] == "frame" and preset.settings["df_write_back"] == "xvid+h264"
    assert (lip.settings["num_frames"], lip.settings["faces.sampling"], lip.settings["aggregate"]) == \
        (250, "first", "logit-mean")
    assert lip.settings["dataset"] == "ffpp" and lip.settings["dataset_options"]["compression"] == "c23"
    assert dfdc.settings["num_frames"] == 5 and dfdc.settings["dataset_options"] == {"selection": "reference"}


def test_a_preset_naming_an_unknown_setting_fails_loudly():
    for key in ("no_such_field", "faces.no_such_field", "faces"):
        with pytest.raises(ValueError, match=f"'{key}' is no RunConfig setting"):
            protocols.check(Protocol("bad", "d", "s", {key: 1}))
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1"):
        protocols.check(Protocol("bad", "d", "s", {"num_frames": 0}))


def test_unknown_preset_is_one_line_with_a_suggestion(capsys):
    with pytest.raises(ValueError, match="unknown protocol preset 'lipforensic'; did you mean 'lipforensics'"):
        protocols.get("lipforensic")
    assert main(["run", "--protocol", "dfdc-referense"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: unknown protocol preset 'dfdc-referense'; did you mean 'dfdc-reference'? presets: "
                   "deeperforensics, lipforensics, dfdc-reference, deepfakebench, ffpp, cs188"]


def test_python_callers_override_and_the_record_says_so():
    config = protocols.configure("lipforensics", num_frames=8, dataset_options={"methods": "Deepfakes"})
    assert config.num_frames == 8 and config.faces.sampling == "first"
    assert config.dataset_options == {"compression": "c23", "methods": "Deepfakes"}
    record = protocols.record(config)
    assert record["overrides"] == {"num_frames": {"preset": 250, "run": 8},
                                   "dataset_options.methods": {"preset": "Deepfakes,FaceSwap,Face2Face,NeuralTextures",
                                                               "run": "Deepfakes"}}
    assert protocols.record(RunConfig()) is None


def test_the_preset_name_is_not_part_of_a_runs_identity():
    assert RunConfig(protocol="lipforensics").fingerprint() == RunConfig().fingerprint()
    assert RunConfig(df_write_back="xvid+h264").fingerprint() != RunConfig().fingerprint()


# --- the command line --------------------------------------------------------------------------------------------

def test_typed_flags_are_told_from_defaults_even_when_equal():
    typed = typed_dests(build_run_parser, ["--frames", "32", "--apply-at=face", "--no-track", "--weights", "w.h5"])
    assert {"frames", "apply_at", "track", "weights"} <= typed
    assert not typed & {"level", "sampling", "aggregate", "dataset", "split", "seed"}


def test_typed_flags_win_with_one_note_each(capsys):
    preset = protocols.get("lipforensics")
    config = RunConfig(num_frames=32, apply_at="face", dataset_options={"compression": "c40"})
    out = follow(config, preset, typed={"frames", "apply_at"})
    assert (out.num_frames, out.apply_at, out.faces.sampling, out.aggregate) == (32, "face", "first", "logit-mean")
    assert out.dataset_options["compression"] == "c40" and out.dataset == "ffpp"
    assert capsys.readouterr().err.splitlines() == [
        "note: --apply-at face overrides the lipforensics preset's apply_at=frame",
        "note: --frames 32 overrides the lipforensics preset's num_frames=250",
        "note: --compression c40 overrides the lipforensics preset's dataset option compression=c23"]


def test_another_dataset_drops_the_presets_split_and_reader_options(capsys):
    out = follow(RunConfig(dataset="demo"), protocols.get("dfdc-reference"), typed={"dataset"})
    assert (out.dataset, out.split, out.dataset_options, out.num_frames) == ("demo", "test", {}, 5)
    assert capsys.readouterr().err.strip() == ("note: --dataset demo overrides the dfdc-reference preset's "
                                               "dataset=dfdc (its split and dataset_options are not applied)")


def test_list_protocols_prints_each_preset_with_settings_and_source():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "list", "protocols"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for preset in protocols.PROTOCOLS.values():
        assert f"{preset.name}: {preset.description}" in out.stdout and f"  source: {preset.source}" in out.stdout
    assert "  num_frames = 250" in out.stdout and "  dataset_options = {'selection': 'reference'}" in out.stdout


@pytest.mark.slow
def test_run_with_a_preset_records_it_in_manifest_and_report(tmp_path, capsys):
    root = tmp_path / "videos"
    generate_demo(root, seed=1, n_train=0, n_test=2, frames=8)
    out = tmp_path / "run"
    code = main(["run", "--protocol", "deeperforensics", "--dataset", "folder", "--data-root", str(root),
                 "--random-init", "--level", "none,GB:3", "--frames", "2", "--workers", "1", "--bootstrap", "0",
                 "--out", str(out), "-q"])
    assert code == 0
    assert "note: --level none,GB:3 overrides the deeperforensics preset's levels=none,CS:1,CS:2,CS:3,... " \
           "(36 levels)" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["apply_at"] == "frame" and manifest["config"]["protocol"] == "deeperforensics"
    preset = manifest["protocol_preset"]
    assert preset["name"] == "deeperforensics" and preset["source"] == protocols.get("deeperforensics").source
    assert list(preset["overrides"]) == ["levels"] and preset["overrides"]["levels"]["run"] == ["none", "GB:3"]
    report = (out / "report.md").read_text()
    assert "- protocol preset: **deeperforensics**" in report
    assert "settings changed from the preset: `levels` `['none', 'GB:3']` instead of 36 levels" in report
