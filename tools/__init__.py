"""Speed scripts run from a checkout (`python -m tools.bench_throughput`); not part of the installed packages.

`benchmarks` is imported first so that `datasets`, `detectors`, `perturbations` and `reports` are this project's
packages whatever else is on `sys.path` (see `benchmarks/__init__.py`)."""
import benchmarks  # noqa: F401
