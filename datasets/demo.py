"""`demo`: a small, licence-clean, deterministic deepfake dataset generated on first use.

Why generated: the benchmark must run end to end on any machine without downloading or
redistributing face data. Sources are two public-domain portraits that install with the
dependencies (scikit-image's NASA astronaut photo, matplotlib's US Navy Grace Hopper photo)
composited over bundled scikit-image backgrounds with natural camera/subject motion.

Fakes follow the self-blended-image (SBI) recipe: the inner face is replaced, in every frame,
by a slightly warped, colour-shifted, low-resolution copy of itself blended through a soft
elliptical mask, with mild frame-to-frame jitter. The artefacts are local and mesoscopic
(resolution, blending and colour mismatch), so a small CNN on face crops can learn them while
heavy perturbations (blur, noise, compression) can plausibly hide them.

Every random choice comes from `numpy.random.default_rng(SeedSequence([seed, video_index]))`,
so one seed gives byte-identical decoded frames on every run.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import CACHE_ENV, Dataset, DatasetError, Progress, default_cache_dir
from .common import as_int
from .demo_render import CRF, PRESET, Clip, encode_mp4, make_clip
from .demo_scenes import BACKGROUNDS, FPS, HEIGHT, MOTIONS, PORTRAITS, SOURCES, STRENGTHS, WIDTH, Portrait, source_photo
from .folder import MANIFEST_CSV, read_manifest

__all__ = ["BACKGROUNDS", "CACHE_ENV", "CRF", "FPS", "GENERATOR_VERSION", "HEIGHT", "MOTIONS", "PORTRAITS", "PRESET",
           "SOURCES", "SPLITS", "STRENGTHS", "WIDTH", "Clip", "DemoDataset", "Portrait", "default_root",
           "encode_mp4", "generate_demo", "make_clip", "source_photo"]

GENERATOR_VERSION = 1
SPLITS = ("train", "test", "all")
MANIFEST_COLUMNS = ("path", "label", "split", "source", "motion", "background", "strength")
MARKER = "generator.json"
FACE_BOXES = "face_boxes.json"


# --------------------------------------------------------------------------------------------
# Whole dataset
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    rel: str
    label: str
    split: str
    index: int
    source: str


def _plan(n_train: int, n_test: int) -> list[_Planned]:
    """Half real, half fake per split; sources alternate so every (split, label) is balanced."""
    plan: list[_Planned] = []
    index = 0
    for split, n in (("train", n_train), ("test", n_test)):
        n_real = n // 2
        for label, count in (("real", n_real), ("fake", n - n_real)):
            for k in range(count):
                plan.append(_Planned(f"{label}/{split}_{k:03d}.mp4", label, split, index, SOURCES[k % len(SOURCES)]))
                index += 1
    return plan


def _params(seed: int, n_train: int, n_test: int, frames: int) -> dict[str, int]:
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "n_train": n_train, "n_test": n_test,
            "frames": frames, "width": WIDTH, "height": HEIGHT, "fps": FPS}


def generate_demo(root: Path, seed: int = 0, n_train: int = 48, n_test: int = 32, frames: int = 48,
                  workers: int | None = None, progress: Progress | None = None) -> Path:
    """Generate the demo dataset at `root` unless a complete one with the same parameters is there.

    `workers` processes render clips in parallel (default: up to 2 cores, 1 for tiny sets);
    the output does not depend on it. `progress(done, total)` is called after each clip (only when generating).
    Writes into a sibling temp dir and renames it into place, so an interrupted run never
    leaves a half-written dataset that a later open would trust.
    """
    root = Path(root).expanduser()
    if n_train < 0 or n_test < 0 or n_train + n_test < 2 or frames < 1:
        raise DatasetError(f"demo needs n_train, n_test >= 0 with at least 2 videos and frames >= 1 "
                           f"(got n_train={n_train}, n_test={n_test}, frames={frames})")
    params = _params(seed, n_train, n_test, frames)
    if _is_complete(root, params):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()   # not mkdtemp: its 0700 mode would survive the rename
    try:
        if workers is None:
            workers = 1 if n_train + n_test < 8 else max(1, min(2, os.cpu_count() or 1))
        _write_dataset(tmp, params, workers, progress)
        _move_into_place(tmp, root, params)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _is_complete(root: Path, params: dict[str, int]) -> bool:
    marker = root / MARKER
    if not marker.is_file():
        if root.exists() and any(root.iterdir()):
            raise DatasetError(f"{root} exists, is not empty and holds no {MARKER}: not a demo dataset; "
                               f"remove it or pass another root")
        return False
    try:
        found = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{marker}: unreadable ({exc}); remove {root} to regenerate") from exc
    if found != params:
        raise DatasetError(f"{root} holds a demo generated with {found}, not {params}; "
                           f"remove it or pass another root")
    return True


def _move_into_place(tmp: Path, root: Path, params: dict[str, int]) -> None:
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    try:
        os.rename(tmp, root)
    except OSError:
        # Another process finished first: accept its dataset if it is the same one.
        if not _is_complete(root, params):
            raise


def _write_dataset(out: Path, params: dict[str, int], workers: int, progress: Progress | None = None) -> None:
    started = time.perf_counter()
    (out / "real").mkdir()
    (out / "fake").mkdir()
    jobs = [(out, item, params["seed"], params["frames"]) for item in _plan(params["n_train"], params["n_test"])]
    if workers > 1 and len(jobs) > 1:
        # Threads, not processes: OpenCV, PyAV and numpy release the GIL in the heavy calls, and
        # a process pool would need a __main__ guard in every caller (spawn) or fork a live
        # OpenCV thread pool (fork).
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(_reporting(pool.map(_render_job, jobs), len(jobs), progress))
    else:
        results = list(_reporting(map(_render_job, jobs), len(jobs), progress))
    rows = [row for row, _ in results]
    boxes = {row["path"].rsplit(".", 1)[0]: box for row, box in results}
    with (out / MANIFEST_CSV).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out / FACE_BOXES).write_text(json.dumps(boxes, separators=(",", ":")) + "\n", encoding="utf-8")
    (out / "README.md").write_text(_readme(params, len(rows), time.perf_counter() - started), encoding="utf-8")
    (out / MARKER).write_text(json.dumps(params, indent=1, sort_keys=True) + "\n", encoding="utf-8")  # last: marks completion


def _reporting(results: Iterable[tuple], total: int, progress: Progress | None) -> Iterator[tuple]:
    """`results` as they come, calling `progress(done, total)` after each (and once with 0 before the first)."""
    if progress is not None:
        progress(0, total)
    for done, result in enumerate(results, 1):
        yield result
        if progress is not None:
            progress(done, total)


def _render_job(job: tuple[Path, _Planned, int, int]) -> tuple[dict[str, str], list[list[float]]]:
    """Render and encode one planned clip; returns its manifest row and face boxes."""
    out, item, seed, frames = job
    clip = make_clip(seed, item.index, item.source, frames, fake=item.label == "fake")
    encode_mp4(clip.frames, out / item.rel)
    row = {"path": item.rel, "label": item.label, "split": item.split, **clip.groups}
    return row, np.round(clip.boxes.astype(np.float64), 1).tolist()


def _readme(params: dict[str, int], n_videos: int, seconds: float) -> str:
    return f"""# dfbench demo dataset (generator v{params['generator_version']})

Synthetic, licence-clean deepfake data generated by `datasets/demo.py` of the dfbench project,
for demonstrating and testing the benchmark. It is NOT a benchmark of real-world deepfakes.

- {n_videos} clips: {params['n_train']} train + {params['n_test']} test, half real and half fake per split;
  {params['width']}x{params['height']} RGB, {params['frames']} frames at {params['fps']} fps, H.264 (libx264, yuv420p, CRF {CRF}).
- Faces: public-domain portraits bundled with the dependencies: scikit-image `astronaut`
  (NASA) and matplotlib `sample_data/grace_hopper.jpg` (US Navy), over bundled scikit-image
  backgrounds, with smooth pan/zoom/rotation, brightness drift and sensor noise.
- Fakes: self-blended-image style face manipulation in every frame (slight warp, colour shift,
  2-3x lower resolution, soft elliptical blend over the inner face, frame-to-frame jitter),
  strength subtle / medium / strong (manifest column `strength`).
- `manifest.csv`: path,label,split + group columns source, motion, background, strength.
- `face_boxes.json`: exact face box per frame (x0, y0, x1, y1) for every video, keyed by video id.
- `{MARKER}`: generation parameters (seed {params['seed']}); same seed, same decoded frames.

Generated in {seconds:.1f} s. Delete this folder to regenerate.
"""


def default_root(seed: int = 0, n_train: int = 48, n_test: int = 32, frames: int = 48) -> Path:
    """`$DFBENCH_CACHE_DIR/demo-vN` if the variable is set, else under the user cache dir.

    The generator version is in the name so a changed generator never reuses stale clips;
    non-default parameters get their own folder instead of clashing with the standard demo.
    """
    cache = default_cache_dir()
    name = f"demo-v{GENERATOR_VERSION}"
    if (seed, n_train, n_test, frames) != (0, 48, 32, 48):
        name += f"-seed{seed}-{n_train}+{n_test}x{frames}"
    return cache / name


class DemoDataset(Dataset):
    """Synthetic licence-clean demo: 80 generated 320x240 clips (48 train, 32 test), SBI-style fakes; built on first use."""

    name = "demo"
    generates = True

    def __init__(self, root: str | Path | None = None, split: str = "test", seed: int = 0,
                 n_train: int = 48, n_test: int = 32, frames: int = 48, progress: Progress | None = None) -> None:
        if split not in SPLITS:
            raise DatasetError(f"demo split must be one of {', '.join(SPLITS)}, got '{split}'")
        # Options typed on a command line arrive as strings (`--dataset-option n_test=4`).
        seed, n_train, n_test = as_int(seed, "seed"), as_int(n_train, "n_train"), as_int(n_test, "n_test")
        frames = as_int(frames, "frames", minimum=1)
        path = Path(root).expanduser() if root is not None else default_root(seed, n_train, n_test, frames)
        generate_demo(path, seed=seed, n_train=n_train, n_test=n_test, frames=frames, progress=progress)
        super().__init__(path, split, read_manifest(path / MANIFEST_CSV, split))
        self.generator = _params(seed, n_train, n_test, frames)

    def describe(self) -> dict:
        """The counts, plus the generator's parameters: generated data is identified by them (the clips are
        rendered again on each machine, and their bytes may differ with the CPU's SIMD paths and the encoder)."""
        return {**super().describe(), "generator": dict(self.generator)}
