"""Cache entries are checked before use: a swapped, edited, cut-short or implausible entry of the face, perturbed-crop
or score cache is discarded and computed again (the row equals a clean run's), counted in timing.json and reported
in one warning line; an entry of an earlier version is a plain miss; a cache that cannot be written is only read."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import detectors
from benchmarks import runner
from benchmarks.config import RunConfig
from benchmarks.inference.score_cache import ScoreCache, row_checksum
from benchmarks.pipeline.face_cache import FaceCache
from datasets.demo import generate_demo
from reports import run_files as results

N_VIDEOS = 6
COMPARED = ("video_id", "detector", "level", "score", "n_frames", "frame_scores", "frame_indices", "params", "status")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache-integrity") / "demo"
    generate_demo(root, seed=0, n_train=2, n_test=N_VIDEOS, frames=12)
    return root


def config_for(demo, cache, out, **kw) -> RunConfig:
    base = dict(detectors=["meso"], levels=["none", "flip"], dataset="folder", data_root=str(demo), random_init=True,
                num_frames=4, bootstrap=0, cache_dir=str(cache), out=str(out), workers=1)
    return RunConfig(**{**base, **kw})


def trained(demo, cache, out, **kw) -> RunConfig:
    """Trained weights: the score cache keeps rows of trained detectors only."""
    return config_for(demo, cache, out, levels=["none"], random_init=False,
                      weights={"meso": str(detectors.default_weights("meso"))}, **kw)


def rows_of(run_dir) -> list[tuple]:
    return sorted(tuple(r[c] for c in COMPARED) for r in results.read_scores(run_dir))


def discarded(run_dir) -> dict:
    return json.loads((Path(run_dir) / "timing.json").read_text())["cache_discarded"]


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def swap(a: Path, b: Path) -> None:
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


@pytest.fixture(scope="module")
def cold(demo, tmp_path_factory):
    """Rows of a run from an empty cache (face crops and perturbed crops computed), and that cache."""
    base = tmp_path_factory.mktemp("cold")
    result = runner.run(config_for(demo, base / "cache", base / "run", cache_perturbed=True), progress=False)
    return rows_of(result.run_dir), base / "cache"


@pytest.mark.parametrize("workers", [1, 2])
def test_swapped_face_cache_entries_are_extracted_again(demo, cold, tmp_path, capsys, workers):
    clean, warm = cold
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    first, second = sorted(FaceCache(cache).faces_dir.rglob("*.npz"))[:2]
    swap(first, second)
    capsys.readouterr()
    result = runner.run(config_for(demo, cache, tmp_path / "run", workers=workers), progress=False)
    assert rows_of(result.run_dir) == clean  # each video scored with its own crops, not the other's
    assert discarded(result.run_dir) == {"faces": 2, "perturbed": 0, "scores": 0}
    lines = warnings_of(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("warning: 2 damaged cache entries discarded and recomputed")
    assert "face cache: " in lines[0] and "key mismatch" in lines[0] and (str(first) in lines[0] or str(second) in lines[0])
    again = runner.run(config_for(demo, cache, tmp_path / "again", workers=workers), progress=False)
    assert discarded(again.run_dir)["faces"] == 0  # rewritten under their own keys
    assert warnings_of(capsys.readouterr().err) == []


def test_swapped_perturbed_cache_entries_are_perturbed_again(demo, cold, tmp_path, capsys):
    clean, warm = cold
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    entries = sorted((cache / "perturbed").rglob("*.npz"))
    assert len(entries) == N_VIDEOS  # "flip" of every video
    swap(entries[0], entries[1])
    capsys.readouterr()
    result = runner.run(config_for(demo, cache, tmp_path / "run", cache_perturbed=True), progress=False)
    assert rows_of(result.run_dir) == clean
    assert discarded(result.run_dir) == {"faces": 0, "perturbed": 2, "scores": 0}
    timing = json.loads((result.run_dir / "timing.json").read_text())
    assert timing["levels"]["flip"]["from_perturbed_cache"] == N_VIDEOS - 2
    lines = warnings_of(capsys.readouterr().err)
    assert len(lines) == 1 and "perturbed-crop cache: " in lines[0] and "key mismatch" in lines[0]


def test_face_entries_cut_short_or_edited_are_discarded(demo, cold, tmp_path, capsys):
    clean, warm = cold
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    cut, edited = sorted(FaceCache(cache).faces_dir.rglob("*.npz"))[:2]
    cut.write_bytes(cut.read_bytes()[:300])
    with np.load(edited) as data:  # one crop pixel changed, the key and checksum kept: a checksum mismatch
        arrays = {name: data[name] for name in data.files}
    pixels = arrays["crops"].copy()
    pixels[len(pixels) // 2] ^= 1
    np.savez(edited, **{**arrays, "crops": pixels})
    capsys.readouterr()
    result = runner.run(config_for(demo, cache, tmp_path / "run"), progress=False)
    assert rows_of(result.run_dir) == clean
    assert discarded(result.run_dir)["faces"] == 2
    assert len(warnings_of(capsys.readouterr().err)) == 1


def test_face_entries_of_earlier_versions_are_plain_misses(demo, cold, tmp_path, capsys):
    clean, warm = cold
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    for entry in FaceCache(cache).faces_dir.rglob("*.npz"):  # as written before entries held their key
        with np.load(entry) as data:
            arrays = {name: data[name] for name in data.files if name not in ("key", "checksum")}
        np.savez(entry, **arrays)
    capsys.readouterr()
    result = runner.run(config_for(demo, cache, tmp_path / "run"), progress=False)
    assert rows_of(result.run_dir) == clean
    timing = json.loads((result.run_dir / "timing.json").read_text())
    assert timing["faces"]["extracted"] == N_VIDEOS and timing["cache_discarded"]["faces"] == 0
    assert warnings_of(capsys.readouterr().err) == []
    with np.load(sorted(FaceCache(cache).faces_dir.rglob("*.npz"))[0]) as data:
        assert "key" in data.files  # rebuilt in the new format


@pytest.fixture(scope="module")
def scored(demo, tmp_path_factory):
    """A trained run's rows (the score cache filled) and its cache."""
    base = tmp_path_factory.mktemp("scored")
    result = runner.run(trained(demo, base / "cache", base / "run"), progress=False)
    return rows_of(result.run_dir), base / "cache"


def resign(entry: dict) -> dict:
    """The entry with a checksum matching its (edited) row: only the plausibility checks can find the edit."""
    return {**entry, "checksum": row_checksum(entry["row"])}


def score_only(entry):
    return {**entry, "row": {**entry["row"], "score": "0.123"}}


EDITS = {
    "score changed": score_only,
    "score changed, checksum updated": lambda e: resign(score_only(e)),
    "non-numeric score": lambda e: resign({**e, "row": {**e["row"], "score": "high"}}),
    "NaN frame score": lambda e: resign({**e, "row": {**e["row"], "score": "nan", "frame_scores": "nan nan nan nan"}}),
    "out of range": lambda e: resign({**e, "row": {**e["row"], "score": "1.5", "frame_scores": "1.5 1.5 1.5 1.5"}}),
    "another key": lambda e: resign({**e, "key": "0" * 64}),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_edited_score_entry_is_discarded_and_scored_again(demo, scored, tmp_path, capsys, edit):
    clean, warm = scored
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    entry = sorted((cache / "scores").rglob("*.json"))[0]
    entry.write_text(json.dumps(EDITS[edit](json.loads(entry.read_text()))))
    capsys.readouterr()
    result = runner.run(trained(demo, cache, tmp_path / "run"), progress=False)
    rows = rows_of(result.run_dir)
    assert [r[:3] + r[4:] for r in rows] == [r[:3] + r[4:] for r in clean]
    assert all(math.isclose(float(a[3]), float(b[3]), abs_tol=1e-6) for a, b in zip(rows, clean))
    assert discarded(result.run_dir) == {"faces": 0, "perturbed": 0, "scores": 1}
    lines = warnings_of(capsys.readouterr().err)
    assert lines == [line for line in lines if "1 damaged cache entry discarded" in line and str(entry) in line]
    assert len(lines) == 1
    stored = json.loads(entry.read_text())  # scored again and rewritten
    assert ScoreCache(cache).load(stored["key"]) == stored["row"]


def test_truncated_score_entry_is_discarded(demo, scored, tmp_path, capsys):
    clean, warm = scored
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    entry = sorted((cache / "scores").rglob("*.json"))[0]
    entry.write_bytes(entry.read_bytes()[:40])
    capsys.readouterr()
    result = runner.run(trained(demo, cache, tmp_path / "run"), progress=False)
    assert [r[:3] for r in rows_of(result.run_dir)] == [r[:3] for r in clean]
    assert discarded(result.run_dir)["scores"] == 1
    assert len(warnings_of(capsys.readouterr().err)) == 1


def test_score_entries_of_earlier_versions_are_plain_misses(demo, scored, tmp_path, capsys):
    _, warm = scored
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    for entry in (cache / "scores").rglob("*.json"):  # the row alone, as written before entries held their key
        entry.write_text(json.dumps(json.loads(entry.read_text())["row"]))
    capsys.readouterr()
    result = runner.run(trained(demo, cache, tmp_path / "run"), progress=False)
    timing = json.loads((result.run_dir / "timing.json").read_text())
    assert timing["levels"]["none"]["detectors"]["meso"]["reused"] == 0 and timing["cache_discarded"]["scores"] == 0
    assert warnings_of(capsys.readouterr().err) == []
    assert all("key" in json.loads(p.read_text()) for p in (cache / "scores").rglob("*.json"))


def read_only_run(cache: Path, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`python -m benchmarks ARGS` with `cache` not writable: by permissions for a normal user; as root (whom
    permissions do not stop) through a read-only bind mount of it in a private mount namespace."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "benchmarks", *args]
    if os.geteuid() != 0:
        for path in [cache, *cache.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        finally:
            for path in [cache, *cache.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
    if shutil.which("unshare") is None:
        pytest.skip("running as root (permissions do not stop root) and no `unshare` for a read-only bind mount")
    script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"')
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", str(cache), "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root (permissions do not stop root) and a read-only bind mount is not permitted here: "
                    f"{probe.stderr.decode().strip()}")
    return subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", str(cache), *command], env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_read_only_cache_is_used_without_storing(demo, scored, tmp_path):
    clean, warm = scored
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache)
    entry = sorted((cache / "scores").rglob("*.json"))[0]
    entry.write_text("{not json")  # one miss: scored, but cannot be stored
    before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    args = ["run", "--dataset", "folder", "--data-root", str(demo), "--detector", "meso", "--weights",
            str(detectors.default_weights("meso")), "--level", "none,flip", "--frames", "4", "--bootstrap", "0",
            "--workers", "1", "--cache-dir", str(cache), "--out", str(tmp_path / "run"), "-q"]
    done = read_only_run(cache, args, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = warnings_of(done.stderr)
    assert len([line for line in lines if "is read-only" in line]) == 1, done.stderr
    assert any(f"cache {cache} is read-only" in line and "new entries are not stored" in line for line in lines)
    assert any("1 damaged cache entry discarded" in line for line in lines)
    assert {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()} == before  # nothing written
    timing = json.loads((tmp_path / "run" / "timing.json").read_text())
    assert timing["faces"]["cache_hits"] == N_VIDEOS  # every face from the cache
    assert timing["levels"]["none"]["detectors"]["meso"]["reused"] == N_VIDEOS - 1
    rows = rows_of(tmp_path / "run")
    assert [r[:3] for r in rows if r[2] == "none"] == [r[:3] for r in clean]
