"""How long a mistake takes to be reported: `run` with a misspelled detector and with a misspelled level, each in a
fresh interpreter, as a user would type them (not a test; machines are noisy).

Usage: python -m tools.bench_startup [--repeats 5]
Target (issue 17): the median of each command under 2 s on the development machine (2 cores, shared); exit 1
when a command misses it or does not fail with exit 2 and a "did you mean". Before issue 17 these took 5.6-22.6 s,
because worker processes and torch started before the names were checked.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.machine import describe

TARGET_SECONDS = 2.0
PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "misspelled detector": ["run", "--detector", "mesoo", "--level", "heavy"],
    "misspelled level": ["run", "--detector", "meso", "--level", "heavvy"],
}


def timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchmarks", *argv], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, timeout=120)
    return time.perf_counter() - started, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (default 5)")
    args = parser.parse_args(argv)
    print(f"machine: {describe()}")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:  # an empty working folder: nothing to resume, nothing written
        for name, command in COMMANDS.items():
            times, last = [], None
            for _ in range(max(1, args.repeats)):
                seconds, last = timed(command, Path(tmp))
                times.append(seconds)
            median = statistics.median(times)
            refused = last.returncode == 2 and "did you mean" in last.stderr
            ok = refused and median < TARGET_SECONDS
            failed = failed or not ok
            print(f"{name:20s} {min(times):.2f}-{max(times):.2f} s (median {median:.2f} s, {len(times)} runs)  "
                  f"target < {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'}")
            print(f"  python -m benchmarks {' '.join(command)}\n  -> exit {last.returncode}: {last.stderr.strip()[:160]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
