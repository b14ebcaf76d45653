"""Commit every registered fault (tools/faults) for real and print one line per case: PASS or FAIL, the case, and
what was observed. Exit 1 when any case's promise is broken.

Usage: python -m tools.fault_injection [--area AREA ...] [-k SUBSTRING]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tools.faults import AREAS, cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--area", action="append", choices=AREAS, help="only cases of this area (repeatable)")
    parser.add_argument("-k", default="", metavar="SUBSTRING", help="only cases whose name contains SUBSTRING")
    args = parser.parse_args(argv)
    selected = [c for c in cases() if (not args.area or c.area in args.area) and args.k in c.name]
    if not selected:
        print("error: no fault case selected", file=sys.stderr)
        return 2
    failed = 0
    with tempfile.TemporaryDirectory(prefix="dfbench-faults-") as tmp:
        for number, case in enumerate(selected):
            scratch = Path(tmp) / f"{number:03d}"
            scratch.mkdir()
            start = time.perf_counter()
            try:
                outcome, verdict = case.check(scratch), "PASS"
            except AssertionError as error:
                outcome, verdict = str(error) or "assertion failed", "FAIL"
            except Exception as error:  # the case itself crashed: a broken promise too
                outcome, verdict = f"{type(error).__name__}: {error}", "FAIL"
                traceback.print_exc(file=sys.stderr)
            failed += verdict == "FAIL"
            line = " ".join(outcome.split())
            print(f"{verdict} {case.name} ({time.perf_counter() - start:.1f} s): {line}", flush=True)
    print(f"{len(selected) - failed} of {len(selected)} fault cases kept their promise")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
