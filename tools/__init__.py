"""Speed scripts run from a checkout (`python -m tools.bench_throughput`); not part of the installed packages."""
