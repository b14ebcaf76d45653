"""A video's face crops as each detector saw them under each level, recomputed on demand through the run's own
pipeline: the face cache (a hit for any video the run scored, unless the cache was cleared), the perturbed-crop
cache when the run kept one (`--cache-perturbed`), else the same perturbation stage with the same seed, so the
pixels are those the detector was fed (then fitted to its input size). Nothing is read from outside the run's dataset root: a video path of videos.jsonl that leads elsewhere
(edited, or a symlink out) is refused.
"""
from __future__ import annotations

import json
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import datasets
import perturbations
from reports.run_files import INPUTS_FILE

from ..config import RunConfig, VideoSettings
from ..inference.models import fit_to_input
from ..inference.score_cache import level_fingerprint
from ..pipeline.face_cache import FaceCache
from ..pipeline.face_detectors import make_detector
from ..pipeline.perturb import perturb_level, redetects
from ..pipeline.perturbed_cache import PerturbedCache
from .safe_files import inside

__all__ = ["CropError", "RunVideos", "CropRenderer", "video_path"]

TILE_FRAMES = 8  # at most this many frames per strip


class CropError(ValueError):
    """Why a video's crops cannot be shown (the page prints it in place of the image)."""


@dataclass(frozen=True)
class RunVideos:
    """What recomputing a run's crops needs, read from its manifest."""

    settings: VideoSettings
    dataset_root: Path
    cache_root: Path
    df_write_back: str
    input_sizes: dict[str, int]

    @classmethod
    def from_manifest(cls, manifest: dict) -> "RunVideos":
        try:
            config = RunConfig.from_dict(manifest["config"])
            root = Path(manifest["dataset"]["root"])
            sizes = {name: int(d["input_size"]) for name, d in manifest["detectors"].items()}
            cache = Path(manifest.get("face_cache") or config.cache_root())
        except (KeyError, TypeError, ValueError) as error:
            raise CropError(f"the run's manifest does not say how its crops were made ({error!r})") from None
        return cls(config.video_settings(), root, cache, config.df_write_back, sizes)


def video_path(run_dir: Path, root: Path, video_id: str) -> Path:
    """The video file of `video_id` as videos.jsonl recorded it, inside the dataset root."""
    inputs = run_dir / INPUTS_FILE
    if not inputs.is_file():
        raise CropError(f"{inputs} is missing: the run does not record its video files")
    for line in inputs.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("video_id") == video_id:
            path = root / str(record.get("path", ""))
            if not inside(path, root):
                raise CropError(f"video {video_id}: its file is outside the dataset root {root}")
            if not path.is_file():
                raise CropError(f"video {video_id}: {path} is no longer there")
            return path
    raise CropError(f"video {video_id} is not in {inputs}")


def strip_png(faces: np.ndarray) -> bytes:
    """Frames side by side (RGB in), as PNG bytes."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.concatenate(list(faces[:TILE_FRAMES]), axis=1), cv2.COLOR_RGB2BGR))
    if not ok:
        raise CropError("could not encode the crops as PNG")
    return data.tobytes()


class CropRenderer:
    """PNG strips of (run, video, level, detector), computed once and kept (the newest `keep`)."""

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self._done: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def render(self, run_dir: Path, manifest: dict, video_id: str, level: str, detector: str) -> bytes:
        key = (str(run_dir), video_id, level, detector)
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
        png = self.compute(run_dir, manifest, video_id, level, detector)
        with self._lock:
            self._done[key] = png
            while len(self._done) > self.keep:
                self._done.popitem(last=False)
        return png

    @staticmethod
    def compute(run_dir: Path, manifest: dict, video_id: str, level: str, detector: str) -> bytes:
        run = RunVideos.from_manifest(manifest)
        if detector not in run.input_sizes:
            raise CropError(f"detector {detector!r} is not in this run")
        if level not in (manifest.get("levels") or {}):
            raise CropError(f"level {level!r} is not in this run")
        try:
            lvl = perturbations.get(level).with_write_back(run.df_write_back)
        except (KeyError, ValueError) as error:  # a level of a levels file not loaded here
            raise CropError(f"level {level!r} cannot be rebuilt here: {error}") from None
        path = video_path(run_dir, run.dataset_root, video_id)
        item = datasets.VideoItem(video_id=video_id, path=path, label=0)
        settings = run.settings
        cache = FaceCache(run.cache_root)
        needs_detector = redetects({level: lvl}, settings.apply_at)
        face_detector = make_detector(settings.faces) if needs_detector else None
        crops = cache.get_or_extract(path, settings.num_frames, settings.faces, detector=face_detector)
        if crops.status != "ok":
            raise CropError(f"no face crops: {crops.message or crops.status}")
        seed = perturbations.seed_for(settings.seed, video_id, level)
        parts = lvl.split_by_stage(settings.apply_at)
        result = None
        if settings.cache_perturbed and not all(part.is_identity for part in parts.values()):
            # The run kept its perturbed crops (`--cache-perturbed`): the stored entry, as the run loaded it.
            faces_key = cache.key(path, settings.num_frames, settings.faces)
            stored = PerturbedCache(run.cache_root)
            result = stored.load(stored.key(faces_key, level_fingerprint(lvl, settings.apply_at), seed,
                                            settings.faces.context))
        if result is None:
            with tempfile.TemporaryDirectory(prefix="dfbench-serve-") as workdir:
                result = perturb_level(item, crops, level, parts, seed, settings, cache, face_detector, Path(workdir))
        if result.status != "ok" or result.faces is None:
            raise CropError(result.message or result.status)
        return strip_png(fit_to_input(result.faces, run.input_sizes[detector]))
