"""breaking.png: the hardest videos' faces (those that break earliest across types), clean and at each type's
breaking level, as the detector saw them. Written at the end of a run beside the gallery (face crops are in the
cache, not in the run folder, so the report can only copy this file in)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import perturbations

from ..config import VideoSettings
from .face_cache import FaceCache

__all__ = ["write_breaking_faces"]

TILE = 128
HEADER = 18  # pixels of the strip naming the video above its row


def breaking_levels(doc: dict) -> list[tuple[str, str, list[str]]]:
    """(detector, video id, [breaking level per type it broke at]) of every hardest video in metrics.json."""
    out = []
    for det, entry in (doc.get("breaking_points") or {}).get("detectors", {}).items():
        for video in entry.get("hardest", []):
            levels = [entry["types"][kind]["levels"][str(sev)] for kind, sev in video["breaks"].items()
                      if sev is not None]
            out.append((det, video["video_id"], levels))
    return out


def _row(grid: np.ndarray, title: str, width: int) -> np.ndarray:
    strip = np.full((HEADER, width, 3), 255, np.uint8)
    cv2.putText(strip, title, (4, HEADER - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    padded = np.full((grid.shape[0], width, 3), 255, np.uint8)
    padded[:, :grid.shape[1]] = grid
    return np.vstack([strip, padded])


def write_breaking_faces(path: Path, doc: dict, items, settings: VideoSettings, cache: FaceCache,
                         face_detector) -> Path | None:
    """Write one row per hardest video (detector: video id, then its clean face and the face at each breaking
    level, on the run's seeding); None when no video broke or no crops are found."""
    Path(path).unlink(missing_ok=True)  # a resumed run's earlier picture is not left behind
    by_id = {item.video_id: item for item in items}
    grids, titles = [], []
    for det, video_id, levels in breaking_levels(doc):
        item = by_id.get(video_id)
        if item is None or not levels:
            continue
        crops = cache.get_or_extract(item.path, settings.num_frames, settings.faces, detector=face_detector)
        if crops.status != "ok":
            continue
        grids.append(perturbations.make_gallery(crops.crops[:4], ["none", *levels], seed=settings.seed,
                                                video_id=video_id, columns=len(levels) + 1,
                                                inner=settings.faces.context, tile=TILE))
        titles.append(f"{det}: {video_id}")
    if not grids:
        return None
    width = max(g.shape[1] for g in grids)
    image = np.vstack([_row(g, t, width) for g, t in zip(grids, titles)])
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
