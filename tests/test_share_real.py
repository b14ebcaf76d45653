"""Issue 20 on real videos: the original MesoNet weights on FaceForensics++ c23 clips (2 real, 2 fake, the first 30
frames stream-copied, so the original bits) at a re-sharing preset shared twice, a video call and the four overlays:
every video is scored at every level and every level moves the scores. Skips without ../shared/data."""
from __future__ import annotations

import json

import pytest

from benchmarks import runner
from benchmarks.config import RunConfig
from reports import run_files as results
from tests.conftest import shared_path

VIDEOS = {"real": ("original_sequences/youtube", ("004", "634")),
          "fake": ("manipulated_sequences/Deepfakes", ("519_515",))}
LEVELS = ["share:whatsapp:2", "share:youtube", "CALL:3", "CAPTION:3", "STICKER:3", "BEAUTY:3", "RECAPTURE:3"]


def trimmed(src, dst, packets: int = 30) -> None:
    """The first `packets` video packets of `src`, stream-copied (no re-encode)."""
    import av
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as source, av.open(str(dst), mode="w") as out:
        stream = source.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for k, packet in enumerate(p for p in source.demux(stream) if p.dts is not None):
            if k >= packets:
                break
            packet.stream = copy
            out.mux(packet)


@pytest.mark.slow
def test_meso_on_real_videos_at_the_new_levels(tmp_path):
    ffpp = shared_path("videos", "ffpp")
    weights = shared_path("mesonet", "weights", "MesoInception_DF.h5")
    root = tmp_path / "data"
    for label, (folder, names) in VIDEOS.items():
        for name in names:
            trimmed(ffpp / folder / "c23" / "videos" / f"{name}.mp4", root / label / f"{name}.mp4")
    trimmed(ffpp / "manipulated_sequences/FaceSwap/c23/videos/634_660.mp4", root / "fake" / "634_660.mp4")
    config = RunConfig(detectors=["meso"], levels=LEVELS, dataset="folder", data_root=str(root),
                       weights={"meso": str(weights)}, num_frames=4, bootstrap=0, out=str(tmp_path / "run"),
                       cache_dir=str(tmp_path / "cache"))
    result = runner.run(config, progress=False)
    rows = results.read_scores(result.run_dir)
    assert len(rows) == 4 * (len(LEVELS) + 1) and all(r["status"] == "ok" for r in rows), \
        [(r["video_id"], r["level"], r["status"], r["message"]) for r in rows if r["status"] != "ok"]
    clean = {r["video_id"]: float(r["score"]) for r in rows if r["level"] == "none"}
    for level in LEVELS:
        moved = [abs(float(r["score"]) - clean[r["video_id"]]) for r in rows if r["level"] == level]
        assert max(moved) > 1e-4, f"{level} left every score as it was"
    params = {r["level"]: json.loads(r["params"]) for r in rows if r["video_id"] == "real/004"}
    passes = params["share:whatsapp:2"]["video"]["steps"][0]["passes"]
    assert [p["size"] for p in passes] == [[480, 854], [480, 854]]  # 1280x720 -> 854x480, twice
    assert params["CAPTION:3"]["face"]["steps"][0]["text"]
