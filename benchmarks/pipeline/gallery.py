"""gallery.png: the first scorable video's face under each level, as the detectors' face stage sees it."""
from __future__ import annotations

from pathlib import Path

import cv2

import perturbations

from ..config import VideoSettings
from .attack import attack_faces
from .face_cache import FaceCache

__all__ = ["GALLERY_LEVELS", "write_gallery"]

GALLERY_LEVELS = 16  # at most this many tiles in a run's gallery (a df:all run has 36 levels)
GALLERY_TILE = 256  # px per tile: the crop at the detectors' usual input size (160 before issue 17), captions legible


def write_gallery(path: Path, items, levels: list[str], settings: VideoSettings, cache: FaceCache,
                  face_detector, models: dict | None = None) -> Path | None:
    """Write the gallery to `path` (embedded in the report); None when no video has a face. Attack levels are
    shown as the surrogate (transfer) or the run's first detector in `models` sees them."""
    for item in items:
        # Normally a cache hit; on a miss extraction builds its own detector when none was passed.
        crops = cache.get_or_extract(item.path, settings.num_frames, settings.faces, detector=face_detector)
        if crops.status == "ok":
            def attack(frames, step, rng, label=item.label):
                surrogate = dict(step.params)["surrogate"]
                return attack_faces(models[surrogate or next(iter(models))], frames, label, step, rng)

            grid = perturbations.make_gallery(crops.crops[:4], levels[:GALLERY_LEVELS], seed=settings.seed,
                                              video_id=item.video_id, label=item.label,
                                              inner=settings.faces.context, tile=GALLERY_TILE,
                                              attack=attack if models else None)
            cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
            return path
    return None
