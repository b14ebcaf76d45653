"""How long the web app's run page takes on a run of 50,000 scores.csv rows (not a test).

Copies a finished run folder (default: a small demo run made here, 4 frames), writes a scores.csv of ROWS rows
by repeating its rows under new video ids, and times the run page through Starlette's test client: the first
request (scores.csv parsed and cached), then warm requests (default order, sorted by change against `none`,
filtered by level and "wrong at the clean threshold", the last page). Target: each under a second.

Usage: python -m tools.bench_serve [RUN_DIR] [--rows N] [--repeats K]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from benchmarks import runner
from benchmarks.config import RunConfig
from benchmarks.serve import create_app
from reports.run_files import read_scores, write_scores

ROWS = 50_000


def demo_run(out: Path) -> Path:
    config = RunConfig(detectors=["meso"], levels=["none", "GB:3"], num_frames=4, out=str(out))
    return runner.run(config, progress=False).run_dir


def big_copy(run_dir: Path, out: Path, rows: int) -> Path:
    shutil.copytree(run_dir, out)
    base = read_scores(run_dir)
    many = [{**row, "video_id": f"{row['video_id']}-{i}"} for i in range(-(-rows // len(base))) for row in base]
    write_scores(out / "scores.csv", many[:rows])
    return out


def timed(client: TestClient, url: str, params: dict) -> float:
    start = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text[:500]
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_serve", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="a finished run folder (default: a demo run)")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dfbench-bench-serve-") as tmp:
        source = args.run_dir or demo_run(Path(tmp) / "demo")
        run = big_copy(source, Path(tmp) / "big", args.rows)
        url = f"/run/{run.name}"
        cases = {"default order": {}, "sorted by change": {"sort": "change", "order": "desc"},
                 "level + wrong": {"level": "none", "wrong": "1"}, "last page": {"page_no": 10**6}}
        first = []
        for _ in range(args.repeats):  # a new app each time: scores.csv parsed again
            first.append(timed(TestClient(create_app([run], prewarm=False)), url, {}))
        client = TestClient(create_app([run], prewarm=False))
        timed(client, url, {})
        print(f"run page of {args.rows} rows ({args.repeats} repeats, seconds: min-max, median)")
        print(f"  first request (parse + cache): {min(first):.3f}-{max(first):.3f}, {statistics.median(first):.3f}")
        for name, params in cases.items():
            times = [timed(client, url, params) for _ in range(args.repeats)]
            print(f"  {name + ':':31s}{min(times):.3f}-{max(times):.3f}, {statistics.median(times):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
