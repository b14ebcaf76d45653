"""Binds the sibling packages `datasets`, `detectors`, `perturbations` and `reports` to this project's own copies,
on import. Their names are generic: without this, a `datasets/` folder in the working directory (first on
`sys.path` under `python -m`; with an editable install even a plain folder wins, as a namespace package) or another
installed `datasets` (Hugging Face's) would be imported instead.

Imported first by the package face, by `python -m benchmarks` and by the forkserver's preload, so that every
process of a run binds before any sibling is imported (docs/development.md, "How the packages are found").
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("datasets", "detectors", "perturbations", "reports")

class ProjectPackages(importlib.abc.MetaPathFinder):
    """Finds the sibling packages at this project's root, ahead of `sys.path`; their submodules follow from the
    package's `__path__` as usual. Installed first on `sys.meta_path`, so nothing on `sys.path` can shadow them."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in PROJECT_PACKAGES:
            return None
        folder = ROOT / fullname
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def is_project_package(module, name: str) -> bool:
    """Whether an imported module is this project's package `name` (not a namesake found elsewhere)."""
    origin = getattr(getattr(module, "__spec__", None), "origin", None) or getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve() == ROOT / name / "__init__.py"


def bind_project_packages() -> None:
    """Make `import datasets` (and the other siblings) mean this project's package in this process and in the
    worker processes, which import `benchmarks` first (forkserver preload, unpickling `benchmarks.*` functions).
    A namesake imported before `benchmarks` cannot be replaced without breaking its users: ImportError naming it."""
    for name in PROJECT_PACKAGES:
        module = sys.modules.get(name)
        if module is not None and not is_project_package(module, name):
            where = getattr(module, "__file__", None) or list(getattr(module, "__path__", [])) or "unknown location"
            raise ImportError(
                f"another package named {name!r} ({where}) was imported before benchmarks; this project's "
                f"{name!r} package ({ROOT / name}) cannot be loaded beside it in one process: import benchmarks "
                f"first, or import the other {name!r} in a separate process", name=name)
    if not any(type(finder).__name__ == ProjectPackages.__name__ and getattr(finder, "root", None) == ROOT
               for finder in sys.meta_path):
        finder = ProjectPackages()
        finder.root = ROOT
        sys.meta_path.insert(0, finder)


def bind_package_face() -> None:
    """Under an editable install, a plain `benchmarks/` folder in the working directory is imported as an empty
    namespace package `benchmarks`; setuptools' finder still resolves its submodules (`benchmarks.__main__`, this
    module) to this project, but the face's names (`benchmarks.run`, ...) would be missing: load this project's face
    in its place. A regular package of that name is someone else's and left alone."""
    module = sys.modules.get("benchmarks")
    if module is None or getattr(module, "__file__", None) is not None:
        return
    spec = importlib.util.spec_from_file_location("benchmarks", ROOT / "benchmarks" / "__init__.py",
                                                  submodule_search_locations=[str(ROOT / "benchmarks")])
    face = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks"] = face
    spec.loader.exec_module(face)


bind_project_packages()
bind_package_face()
