"""The generic package names cannot be shadowed: `python -m benchmarks` works from a working directory holding
`datasets/`, `reports/`, `detectors/` and `perturbations/` folders (plain, or packages of the user's own), and beside
another installed `datasets` (as Hugging Face's). Each run is a real subprocess with the working directory first on
`sys.path`, with the project found either as a path entry or through setuptools' own editable-install finder (the
`pip install -e .` layout, where a plain folder in the working directory wins as a namespace package)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets.demo import generate_demo

ROOT = Path(__file__).resolve().parents[1]
SIBLINGS = ("datasets", "detectors", "perturbations", "reports")
PACKAGES = ("benchmarks", *SIBLINGS)

# sitecustomize runs after the .pth files: it installs setuptools' editable finder for this checkout where
# `pip install -e .` would (after the path finder), ahead of any editable install of another checkout.
SITECUSTOMIZE = """import sys
from importlib.machinery import PathFinder

import dfbench_editable_finder as finder

finder.install()
sys.meta_path.remove(finder._EditableFinder)
sys.meta_path.insert(sys.meta_path.index(PathFinder) + 1, finder._EditableFinder)
"""
# Another installed `datasets`: every attribute the project would ask for fails, naming it.
FAKE_DATASETS = """HF_FAKE = True


def __getattr__(name):
    raise AttributeError(f"the other installed datasets package has no {name!r}")
"""


def editable_site(tmp: Path) -> Path:
    """A directory for PYTHONPATH that installs the project as setuptools' editable mode does (its real finder)."""
    from setuptools.command.editable_wheel import _finder_template
    site = tmp / "editable-site"
    site.mkdir()
    mapping = {name: str(ROOT / name) for name in PACKAGES}
    (site / "dfbench_editable_finder.py").write_text(_finder_template("dfbench-test", mapping, {}), encoding="utf-8")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return site


def user_folder(tmp: Path, *, packages: bool, benchmarks_folder: bool = False) -> Path:
    """A working directory laid out like an ML project; with `packages`, each folder is a package of its own that
    must never be imported. `benchmarks_folder` adds a plain `benchmarks/` folder (a namespace package that shadows
    the package face under an editable install; `python -m benchmarks` binds through `benchmarks/__main__.py`)."""
    cwd = tmp / ("user-packages" if packages else "user-folders")
    for name in SIBLINGS + (("benchmarks",) if benchmarks_folder and not packages else ()):
        (cwd / name).mkdir(parents=True)
        (cwd / name / "notes.txt").write_text("user data\n", encoding="utf-8")
        if packages:
            (cwd / name / "__init__.py").write_text(
                f"available = write_report = None\nraise RuntimeError('the user\\'s own {name} package was imported')\n",
                encoding="utf-8")
    return cwd


def fake_installed(tmp: Path) -> Path:
    site = tmp / "other-site"
    (site / "datasets").mkdir(parents=True, exist_ok=True)
    (site / "datasets" / "__init__.py").write_text(FAKE_DATASETS, encoding="utf-8")
    return site


def environment(tmp: Path, *, install: str, other_datasets: bool) -> dict[str, str]:
    """`install`: "path" (the checkout on PYTHONPATH) or "editable" (setuptools' editable finder)."""
    entries = [str(fake_installed(tmp))] if other_datasets else []
    entries.append(str(ROOT) if install == "path" else str(editable_site(tmp)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(entries)
    env.setdefault("DFBENCH_CACHE_DIR", str(tmp / "cache"))
    return env


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


CASES = [(install, packages, other) for install in ("path", "editable") for packages in (False, True)
         for other in (False, True)]


@pytest.mark.parametrize("install,packages,other_datasets", CASES)
def test_list_works_from_a_project_folder(tmp_path, install, packages, other_datasets) -> None:
    cwd = user_folder(tmp_path, packages=packages, benchmarks_folder=True)
    result = run(["-m", "benchmarks", "list"], cwd=cwd,
                 env=environment(tmp_path, install=install, other_datasets=other_datasets))
    assert result.returncode == 0, result.stderr
    assert "meso" in result.stdout and "folder" in result.stdout and "heavy" in result.stdout, result.stdout


@pytest.mark.parametrize("install,packages,other_datasets", CASES)
def test_siblings_are_the_projects_after_import_benchmarks(tmp_path, install, packages, other_datasets) -> None:
    cwd = user_folder(tmp_path, packages=packages)
    code = "import benchmarks, " + ", ".join(SIBLINGS) + "; print('\\n'.join(m.__file__ for m in (" + \
        ", ".join(SIBLINGS) + ")))"
    result = run(["-c", code], cwd=cwd, env=environment(tmp_path, install=install, other_datasets=other_datasets))
    assert result.returncode == 0, result.stderr
    files = result.stdout.split()
    assert [Path(f).resolve() for f in files] == [ROOT / name / "__init__.py" for name in SIBLINGS], files


def test_a_namesake_imported_first_is_named(tmp_path) -> None:
    """A different `datasets` already imported in the process cannot be replaced: one clear error naming both."""
    other = fake_installed(tmp_path)
    result = run(["-c", "import datasets, benchmarks"], cwd=tmp_path,
                 env=environment(tmp_path, install="path", other_datasets=True))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "another package named 'datasets'" in last and str(other) in last and str(ROOT / "datasets") in last, last


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return generate_demo(tmp_path_factory.mktemp("demo"), seed=0, n_train=2, n_test=2, frames=6)


@pytest.mark.slow
@pytest.mark.parametrize("install,packages", [("editable", False), ("path", True)])
def test_run_with_workers_from_a_project_folder(tmp_path, demo, install, packages) -> None:
    """Worker processes (forkserver, the working directory on their sys.path too) bind the same packages."""
    cwd = user_folder(tmp_path, packages=packages, benchmarks_folder=True)
    out = tmp_path / "run"
    result = run(["-m", "benchmarks", "run", "--dataset", "folder", "--data-root", str(demo), "--detector", "meso",
                  "--random-init", "--frames", "2", "--level", "none", "--workers", "2", "--out", str(out), "-q"],
                 cwd=cwd, env=environment(tmp_path, install=install, other_datasets=True))
    assert result.returncode == 0, result.stderr
    with open(out / "scores.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["video_id"] for row in rows) == ["fake/test_000", "real/test_000"], rows  # the test split
    assert all(row["status"] == "ok" for row in rows), rows
    assert (out / "report.md").is_file() and "AUC" in result.stdout, result.stdout
