"""The shape of the code, checked: no import circles, imports one way and at the top, small modules, no private
names across modules, and the layers of `benchmarks/` importing only downwards (docs/development.md)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmarks", "datasets", "detectors", "perturbations", "reports")
MAX_LINES = 400
# benchmarks' layers, lowest first: a module may import its own layer and those before it, never a later one.
LAYERS = (
    ("benchmarks.binding", "benchmarks.sampling", "benchmarks.hashing", "benchmarks.config", "benchmarks.protocols",
     "benchmarks.preflight", "benchmarks.progress"),
    ("benchmarks.run_folder",),
    ("benchmarks.metrics",),
    ("benchmarks.inference",),
    ("benchmarks.pipeline",),
    ("benchmarks.execution",),
    ("benchmarks.runner", "benchmarks.training", "benchmarks.prediction"),
    ("benchmarks.serve",),
    ("benchmarks.cli", "benchmarks.__main__"),
)
# Leaf packages and what each may import of the project.
ALLOWED = {"datasets": set(), "detectors": set(), "perturbations": set(), "reports": set(),
           "benchmarks": {"datasets", "detectors", "perturbations", "reports"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """Project modules an `import from` names (the module, or its submodules when names are modules)."""
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def imports(modules: dict[str, Path]) -> dict[str, list[tuple[str, ast.stmt, bool]]]:
    """module -> [(imported project module, node, at top level)]."""
    found: dict[str, list] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(map(id, tree.body))
        for node in tree.body:  # `if TYPE_CHECKING:` and `try: ... except ImportError:` blocks count as the top
            if isinstance(node, (ast.If, ast.Try)):
                top |= set(map(id, ast.walk(node)))
        entries = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = resolve(module, path, node)
            else:
                continue
            for name in names:
                if name in modules:
                    entries.append((name, node, id(node) in top))
        found[module] = entries
    return found


MODULES = project_modules()
IMPORTS = imports(MODULES)


def layer_of(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def test_no_import_circles() -> None:
    graph = {m: {n for n, _, _ in IMPORTS[m] if n != m and not m.startswith(n + ".")} for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_project_imports_are_at_the_top() -> None:
    """Laziness only at package faces (`__init__.py`) and registry strings (importlib with "module:attr")."""
    inside = [f"{m}:{node.lineno} imports {name}" for m, entries in IMPORTS.items()
              for name, node, top in entries if not top and MODULES[m].name != "__init__.py"]
    assert not inside, "function-level project imports:\n" + "\n".join(sorted(set(inside)))


def test_packages_keep_the_dependency_rule() -> None:
    bad = []
    for module, entries in IMPORTS.items():
        package = module.split(".")[0]
        for name, node, _ in entries:
            other = name.split(".")[0]
            if other != package and other not in ALLOWED[package]:
                bad.append(f"{module}:{node.lineno} imports {name}")
    assert not bad, "\n".join(bad)


def test_benchmarks_layers_import_only_downwards() -> None:
    bad = []
    for module, entries in IMPORTS.items():
        if not module.startswith("benchmarks.") or module == "benchmarks":
            continue
        own = layer_of(module)
        assert own is not None, f"{module} belongs to no layer of tests/test_architecture.py"
        for name, node, _ in entries:
            if name.startswith("benchmarks.") and (theirs := layer_of(name)) is not None and theirs > own:
                bad.append(f"{module}:{node.lineno} imports {name} (a higher layer)")
    assert not bad, "\n".join(bad)


def test_no_private_names_cross_modules() -> None:
    bad = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in PACKAGES):
                bad += [f"{module}:{node.lineno} imports {a.name}" for a in node.names
                        if a.name.startswith("_") and a.name != "__version__"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (at most {MAX_LINES})"


def test_parser_and_workers_do_not_load_what_they_do_not_need() -> None:
    """The command line's parser loads neither torch nor scikit-learn nor onnx (0.6 s, needed only to build the
    CenterFace session: fast errors); processes that only extract faces never import torch; scoring workers never
    import scikit-learn."""
    code = ("import sys, benchmarks.cli as c; c.build_parser(); assert 'onnx' not in sys.modules, 'onnx'; "
            "import benchmarks.execution.face_jobs; "
            "assert 'torch' not in sys.modules, 'torch'; assert 'sklearn' not in sys.modules, 'sklearn'; "
            "import benchmarks.execution.jobs, benchmarks.execution.actors; "
            "assert 'sklearn' not in sys.modules, 'sklearn in workers'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_module_names_written_as_strings_exist() -> None:
    """Forkserver preloads and the package face name modules as strings: a move must update them."""
    import importlib

    import benchmarks
    from benchmarks.execution import local
    for name in (local.BINDING_MODULE, local.FACE_STAGE_MODULE, local.SCORING_MODULE):
        importlib.import_module(name)
    for target in benchmarks.LAZY.values():
        module, attr = target.split(":")
        assert hasattr(importlib.import_module(module), attr), target
