"""Shipped weights by name: `--weights MesoInception_DF` loads the packaged file exactly as its path would."""
from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
import torch

import detectors
from benchmarks import runner
from benchmarks.cli import main as cli_main
from benchmarks.config import RunConfig
from detectors import named_weights
from reports import run_files as results
from tests.conftest import PROJECT_ROOT, shared_path
from tests.test_end_to_end import real_videos  # noqa: F401  (fixture: FF++/DFDC samples as a folder dataset)

NAMES = {"MesoInception_DF": "meso", "MesoInception_F2F": "meso", "Meso4_DF": "meso4", "Meso4_F2F": "meso4"}


def test_the_four_mesonet_files_ship_with_their_licence_and_notice():
    assert dict((n, w.detector) for n, w in detectors.NAMED_WEIGHTS.items()) == NAMES
    folder = named_weights.WEIGHTS_DIR / "mesonet"
    assert "Apache License" in (folder / "LICENSE").read_text() and "Version 2.0" in (folder / "LICENSE").read_text()
    assert "Darius Afchar" in (folder / "NOTICE").read_text()
    package_data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for pattern in ("weights/mesonet/*.h5", "weights/mesonet/LICENSE", "weights/mesonet/NOTICE"):
        assert pattern in package_data["detectors"]
    for name, entry in detectors.NAMED_WEIGHTS.items():
        assert entry.path.is_file() and entry.path.suffix == ".h5" and entry.licence == "Apache-2.0"


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_are_the_authors_files(name):
    """Byte-identical to the authors' files in the shared data (where present)."""
    original = shared_path("mesonet", "weights", f"{name}.h5")
    assert detectors.sha256_file(named_weights.get(name).path) == detectors.sha256_file(original)


@pytest.mark.parametrize("name", NAMES)
def test_create_by_name_equals_create_by_path(name):
    detector = NAMES[name]
    by_name = detectors.create(detector, weights=name)
    by_path = detectors.create(detector, weights=str(named_weights.get(name).path))
    assert by_name.weights.sha256 == by_path.weights.sha256 == detectors.sha256_file(named_weights.get(name).path)
    assert by_name.weights.format == "keras-h5" and by_name.weights.path == by_path.weights.path
    x = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(by_name.predict(x), by_path.predict(x))


def test_unknown_or_misfit_names_are_one_line_errors():
    with pytest.raises(detectors.CheckpointError, match=r"unknown weights name 'MesoInception_D'.*did you mean "
                       r"'MesoInception_DF'.*MesoInception_DF, MesoInception_F2F, Meso4_DF, Meso4_F2F"):
        detectors.create("meso", weights="MesoInception_D")
    with pytest.raises(detectors.CheckpointError, match="'Meso4_DF' are for detector 'meso4', not 'meso'; for meso: "
                       "MesoInception_DF, MesoInception_F2F"):
        detectors.create("meso", weights="Meso4_DF")
    with pytest.raises(detectors.CheckpointError, match="no such weight file"):  # a path stays a path
        detectors.create("meso", weights="missing/MesoInception_DF")


def test_cli_lists_names_and_refuses_an_unknown_one(capsys):
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in NAMES) and "named weights" in out
    assert cli_main(["run", "--weights", "Meso4DF", "--level", "none", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown weights name 'Meso4DF'") and "Meso4_F2F" in err[0]
    assert cli_main(["weights", "info", "MesoInception_F2F"]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"] == "mesoinception4-keras"


@pytest.mark.slow
def test_run_with_a_name_equals_the_run_with_the_file(real_videos, tmp_path):  # noqa: F811
    """Real FF++/DFDC sample videos: same scores to 1e-9, same sha256 in both manifests."""
    original = shared_path("mesonet", "weights", "MesoInception_DF.h5")
    runs = {}
    for tag, weights in (("path", str(original)), ("name", "MesoInception_DF")):
        config = RunConfig(detectors=["meso"], levels=["none"], dataset="folder", data_root=str(real_videos),
                           weights={"meso": weights}, num_frames=4, out=str(tmp_path / tag), score_cache=False,
                           cache_dir=str(tmp_path / "cache"), follow_symlinks=True, bootstrap=0)
        result = runner.run(config, progress=False)
        manifest = json.loads((result.run_dir / "manifest.json").read_text())
        scores = {r["video_id"]: float(r["score"]) for r in results.read_scores(result.run_dir) if r["status"] == "ok"}
        runs[tag] = (scores, manifest)
    (by_path, path_manifest), (by_name, name_manifest) = runs["path"], runs["name"]
    assert len(by_path) == 8 and by_path.keys() == by_name.keys()
    assert all(abs(by_path[v] - by_name[v]) <= 1e-9 for v in by_path)
    sha = detectors.sha256_file(original)
    assert path_manifest["detectors"]["meso"]["sha256"] == name_manifest["detectors"]["meso"]["sha256"] == sha
    assert name_manifest["config"]["weights"] == {"meso": "MesoInception_DF"}  # what the user asked for, too
    assert name_manifest["detectors"]["meso"]["path"] == str(named_weights.get("MesoInception_DF").path)
