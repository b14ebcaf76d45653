"""Commit every registered fault (tools/faults) for real and print one line per case: PASS or FAIL, the case, and
what was observed. Exit 1 when any case's promise is broken.

Areas run side by side (`--jobs`, default 2): a case spends much of its time starting Python, waiting for rows or
for a signal to land, so two areas at once take about two thirds of the time of one after the other; the cases of
one area run in order, since some share a clean reference run.

Usage: python -m tools.fault_injection [--area AREA ...] [-k SUBSTRING] [--jobs N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.faults import AREAS, FaultCase, cases
from tools.faults.common import tiny_dataset


def run_case(case: FaultCase, scratch: Path) -> tuple[str, str, float]:
    """(PASS or FAIL, the observed outcome on one line, seconds)."""
    start = time.perf_counter()
    try:
        outcome, verdict = case.check(scratch), "PASS"
    except AssertionError as error:
        outcome, verdict = str(error) or "assertion failed", "FAIL"
    except Exception as error:  # the case itself crashed: a broken promise too
        outcome, verdict = f"{type(error).__name__}: {error}", "FAIL"
        traceback.print_exc(file=sys.stderr)
    return verdict, " ".join(outcome.split()), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--area", action="append", choices=AREAS, help="only cases of this area (repeatable)")
    parser.add_argument("-k", default="", metavar="SUBSTRING", help="only cases whose name contains SUBSTRING")
    parser.add_argument("--jobs", type=int, default=2, metavar="N", help="areas run at once (default 2)")
    args = parser.parse_args(argv)
    selected = [c for c in cases() if (not args.area or c.area in args.area) and args.k in c.name]
    if not selected:
        print("error: no fault case selected", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"error: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    areas = [[c for c in selected if c.area == area] for area in AREAS]
    lock = threading.Lock()
    failed = []
    with tempfile.TemporaryDirectory(prefix="dfbench-faults-") as tmp:
        tiny_dataset(Path(tmp) / "_warm")  # the shared demo set, generated once before areas run side by side
        numbers = {case.name: n for n, case in enumerate(selected)}

        def run_area(area_cases: list[FaultCase]) -> None:
            for case in area_cases:
                scratch = Path(tmp) / f"{numbers[case.name]:03d}"
                scratch.mkdir()
                verdict, line, seconds = run_case(case, scratch)
                with lock:
                    if verdict == "FAIL":
                        failed.append(case.name)
                    print(f"{verdict} {case.name} ({seconds:.1f} s): {line}", flush=True)

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(run_area, [a for a in areas if a]))
    print(f"{len(selected) - len(failed)} of {len(selected)} fault cases kept their promise"
          + (f"; broken: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
