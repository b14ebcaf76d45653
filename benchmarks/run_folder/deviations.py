"""Where this run's pipeline still differs from the reference code it follows, each with its measured effect.

docs/deviations.md lists every deviation in one place; this module decides which of them a run's configuration
actually meets, so manifest.json records them and every report repeats them in its protocol section (a reader
comparing with a published table sees at once what would make the numbers differ). One vocabulary: the texts here
are quoted in docs/deviations.md, and a test checks that every key is documented there.
"""
from __future__ import annotations

from dataclasses import dataclass

import perturbations

from ..config import RunConfig

__all__ = ["Deviation", "DEVIATIONS", "run_deviations", "DOC"]

DOC = "docs/deviations.md"


@dataclass(frozen=True)
class Deviation:
    key: str  # anchor in docs/deviations.md
    text: str  # what differs and its measured effect, one sentence or two


DEVIATIONS = {d.key: d for d in (
    Deviation("df-write-back", "DeeperForensics levels without the dataset's write-back encode (XVID, then H.264 CRF "
              "23): GNC reaches the detector with 1.75x (GNC:3) and 1.50x (GNC:5) the reference's noise amplitude, and "
              "every DF type lacks its ~2.4 grey levels of codec error; `--df-write-back xvid+h264` reproduces it"),
    Deviation("df-face-scale", "DeeperForensics pixel-unit parameters (GB kernel, PX factor, BW blocks) act on the "
              "384-px context crop, where the face is ~197 px: about 0.5x the reference's strength for ~100-px FF++ "
              "faces and 2x for ~400-px DFDC faces; `--apply-at frame` distorts the native frame like the reference"),
    Deviation("vc-rgb-crops", "VC at the face stage encodes RGB crops (the reference encodes the YUV video): PSNR "
              "-0.46 to +0.03 dB against the reference's plain `ffmpeg -crf` at CRF 30-40; at the video stage "
              "(`--apply-at frame`) it is within 0.06 dB"),
    Deviation("clip-length", "a sequence model with a reference clip length shorter than the sampled frames is "
              "scored as consecutive clips (video score: their frame-weighted mean); the reference scored one clip "
              "of that length per video, which `--frames` equal to the clip length reproduces exactly"),
    Deviation("dfdc-selection", "the DFDC test videos are this suite's seeded draw, not the reference study's "
              "(132 of its 1000 videos in common); `--dataset-option selection=reference` (or `--protocol "
              "dfdc-reference`) selects exactly the reference's"),
)}

PIXEL_UNIT_TYPES = ("GB", "PX", "BW")  # DF types whose parameters are in pixels
MIXTURE = "DFMIX"  # random DF mixtures: may draw any DF type


def run_deviations(config: RunConfig, models: dict) -> list[dict]:
    """The deviations `config` (levels already expanded) meets: [{"key", "text", "doc"}] for manifest.json."""
    found = []
    df = {*perturbations.DF_TYPES, MIXTURE}
    ops = [op for level in config.levels for op in perturbations.get(level).ops if op.type.name in df]
    at_face = [op.type.name for op in ops if op.stage == "face" or (op.stage is None and config.apply_at == "face")]
    if config.df_write_back == "none" and any(op.type.name != "VC" for op in ops):
        found.append("df-write-back")
    if any(name in (*PIXEL_UNIT_TYPES, MIXTURE) for name in at_face):
        found.append("df-face-scale")
    if any(name in ("VC", MIXTURE) for name in at_face):
        found.append("vc-rgb-crops")
    if any(0 < getattr(model, "clip_frames", 0) < config.num_frames for model in models.values()):
        found.append("clip-length")
    if config.dataset == "dfdc" and str(config.dataset_options.get("selection", "seeded")) != "reference":
        found.append("dfdc-selection")
    return [{"key": key, "text": DEVIATIONS[key].text, "doc": f"{DOC}#{key}"} for key in found]
