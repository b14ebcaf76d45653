"""`python -m benchmarks weights import`: external checkpoints -> project safetensors with provenance and sha256."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import detectors
from benchmarks.cli import main
from detectors.checkpoints import sha256_file
from tests.conftest import shared_path


@pytest.mark.parametrize("name", ["celebdf", "dfdc"])
def test_catogit_scores_identical_after_import(tmp_path, name: str) -> None:
    src = shared_path("catogit", f"mesonet_{name}.pth")
    out = tmp_path / f"meso_{name}.safetensors"
    assert main(["weights", "import", str(src), "--detector", "meso", "--out", str(out)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["source_sha256"] == sha256_file(src) == card["imported_from"]["sha256"]
    assert card["architecture"] == "mesoinception4-dfdet" and "imported by `weights import`" in card["provenance"]
    x = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    before = detectors.create("meso", weights=src).predict(x)
    after = detectors.create("meso", weights=out)
    assert after.weights.format == "safetensors"
    np.testing.assert_array_equal(after.predict(x), before)


def test_import_refuses_wrong_detector(tmp_path, capsys) -> None:
    src = shared_path("catogit", "mesonet_dfdc.pth")
    assert main(["weights", "import", str(src), "--detector", "meso4", "--out", str(tmp_path / "x")]) == 2
    assert "mesoinception4-dfdet" in capsys.readouterr().err


def test_import_zoo_checkpoint_round_trip(tmp_path) -> None:
    pytest.importorskip("timm")
    det = detectors.create("timm:resnet18", random_init=True)
    pth = tmp_path / "r18.pth"
    torch.save({f"module.{k}": v for k, v in det.model.state_dict().items()}, pth)
    out = tmp_path / "r18.safetensors"
    # a bare state_dict of an unknown layout is refused with the list of accepted layouts
    assert main(["weights", "import", str(pth), "--detector", "timm:resnet18", "--out", str(out)]) == 2
    exported = detectors.export(det, out)
    again = detectors.create("timm:resnet18", weights=exported)
    x = torch.rand(2, 3, 224, 224)
    np.testing.assert_array_equal(again.predict(x), det.predict(x))
    assert main(["weights", "info", str(exported)]) == 0
