"""The perturbation stage of one video at one level: the video and frame stages (re-encode, re-decode, re-detect)
when the level has them, then the face stage on the crops, then the detector's inner crop."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import perturbations

from ..config import VideoSettings
from .face_cache import FaceCache
from .faces import FaceCrops, extract_faces, inner_crop
from .perturbed_cache import PerturbedLevel
from .quality import crop_quality

__all__ = ["level_inputs", "perturb_level", "drop_empty", "redetects"]

def level_inputs(item, crops: FaceCrops, parts: dict[str, perturbations.Level], seed: int, settings: VideoSettings,
                 cache: FaceCache, face_detector, workdir: Path) -> tuple[FaceCrops, dict]:
    """Face crops as they enter the level's face stage, and the video/frame-stage parameters drawn.

    `parts` is the level split by stage (`Level.split_by_stage`). Video-stage steps (codecs, temporal edits)
    rewrite the file before decoding; frame-stage steps perturb full frames before face detection
    (`--apply-at frame`); both mean decoding and detecting again for this level.
    """
    if parts["video"].is_identity and parts["frame"].is_identity:
        return crops, {}
    params: dict = {}
    source = Path(item.path)
    level_name = parts["video"].name
    if not parts["video"].is_identity:
        source = workdir / f"{hashlib.sha256(f'{item.video_id}|{level_name}'.encode()).hexdigest()[:16]}.mp4"
        applied = parts["video"].apply_video(item.path, source, seed, apply_at=settings.apply_at)
        params["video"] = {k: v for k, v in applied.items() if k != "dst"}  # a temporary file, deleted below
    try:
        if parts["frame"].is_identity:
            return cache.get_or_extract(source, settings.num_frames, settings.faces, detector=face_detector), params

        def frame_stage(frames):
            out, params["frame"] = parts["frame"].apply(frames, seed, return_params=True)
            return out
        return extract_faces(source, settings.num_frames, settings.faces, face_detector, frame_transform=frame_stage), params
    finally:
        if source != Path(item.path):
            source.unlink(missing_ok=True)




def perturb_level(item, crops: FaceCrops, lvl: str, parts: dict[str, perturbations.Level], seed: int,
                  settings: VideoSettings, cache: FaceCache | None, face_detector, workdir: Path | None) -> PerturbedLevel:
    """One video at one level as the detectors see it: re-encoded and re-detected first for video- and
    frame-stage steps, then the face-stage steps on the crops, then the inner crop."""
    level_crops, params = level_inputs(item, crops, parts, seed, settings, cache, face_detector, workdir)
    if level_crops.status != "ok":
        return PerturbedLevel(level_crops.status, f"after perturbation {lvl}: {level_crops.message}", None, "",
                              json.dumps(params, default=str))
    if parts["face"].is_identity:  # nothing to draw: no copy of the crops either
        perturbed, params["face"] = level_crops.crops, {"level": lvl, "steps": []}
    else:
        perturbed, params["face"] = parts["face"].apply(level_crops.crops, seed, return_params=True)
    faces = inner_crop(perturbed, settings.faces.context)
    params = drop_empty(params)
    if not all(part.is_identity for part in parts.values()):  # measured once here, shared by every detector
        params["quality"] = crop_quality(inner_crop(crops.crops, settings.faces.context), faces,
                                         crops.frame_indices, level_crops.frame_indices)
    return PerturbedLevel("ok", "", faces, " ".join(map(str, level_crops.frame_indices)),
                          json.dumps(params, sort_keys=True, default=str))




def drop_empty(params: dict) -> dict:
    """Keep only stages that drew something, so `none` rows stay short."""
    return {k: v for k, v in params.items() if not (isinstance(v, dict) and not v.get("steps"))}



def redetects(levels: dict[str, perturbations.Level], apply_at: str) -> bool:
    """Whether some level rewrites the video or full frames, so faces must be detected again."""
    stages = [level.split_by_stage(apply_at) for level in levels.values()]
    return any(not (s["video"].is_identity and s["frame"].is_identity) for s in stages)
