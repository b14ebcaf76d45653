"""Every perturbation step type, driven by `perturbations.step_types()`, at every severity it declares.

A graded type is applied as the level `TYPE:S` for S = 1..len(severities); a type without severities as `TYPE`
when all its parameters have defaults, else with the parameter sets listed in EXPLICIT_PARAMS (a new type of
that kind fails `test_every_step_type_has_cases` until it gets an entry). Each level is applied to a small
textured clip (8 distinct frames of 64 x 64, uint8 RGB) and must give sane frames, the same output for the
same seed, and different pixels (every step type perturbs; only the `none` level is the identity). Types
that may run at the video stage are also applied to a small video file through `Level.apply_video`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import perturbations
from perturbations import Level, make_step
from perturbations.steps import TYPES

N_FRAMES, SIZE = 8, 64     # 8 frames: DROP:1 / DUP:1 (fraction 0.1) act on round(0.1 * N) frames, 0 for N = 4
SEEDS = range(8)           # for "random" types: some seed must draw another output than seed 0

# Types without severities whose parameters have no defaults: the parameter sets to test.
EXPLICIT_PARAMS: dict[str, list[dict[str, object]]] = {
    "IMGAUG": [{"pipeline": "flip"}, {"pipeline": "heavy"}],
}


@dataclass(frozen=True)
class Case:
    type: str
    severity: int | None = None
    params: tuple[tuple[str, object], ...] = ()

    @property
    def id(self) -> str:
        if self.severity is not None:
            return f"{self.type}:{self.severity}"
        return self.type + ("(" + ",".join(f"{k}={v}" for k, v in self.params) + ")" if self.params else "")

    def level(self, stage: str | None = None) -> Level:
        if not self.params:   # the inline spec, as a user writes it: `GB:3`, `HFLIP`, `VC:2@video`
            return perturbations.get(self.id + (f"@{stage}" if stage else ""))
        step = make_step(self.type, self.severity, dict(self.params), stage)
        return Level(step.label(), step.type.summary, None, tuple(step.describe()), (step,), False)

    @property
    def random(self) -> bool:
        """The type's own one-line description says it draws something at random."""
        return "random" in perturbations.step_types()[self.type].lower()


def cases_of(name: str) -> list[Case]:
    st = TYPES[name]
    if st.severities:
        return [Case(name, s) for s in range(1, len(st.severities) + 1)]
    if all(p.default is not None for p in st.params.values()):
        return [Case(name)]
    return [Case(name, None, tuple(sorted(p.items()))) for p in EXPLICIT_PARAMS.get(name, [])]


# Attacks (PGD, PGD-EOT) need a detector: tests/test_attacks.py applies them through the benchmark's attack stage.
CASES = [case for name in perturbations.step_types() if not TYPES[name].detector_dependent for case in cases_of(name)]
IDS = [case.id for case in CASES]
VIDEO_CASES = [case for case in CASES if "video" in TYPES[case.type].stages]
VIDEO_IDS = [case.id for case in VIDEO_CASES]
# Seed dependence is asserted only where the type's description says it is random (not for GNC, BW, SHUFFLE,
# IMGAUG, whose summaries do not say so, although they draw random numbers).
RANDOM_CASES = [case for case in CASES if case.random]
RANDOM_VIDEO_CASES = [case for case in VIDEO_CASES if case.random]
GRADED = [name for name in perturbations.step_types() if TYPES[name].severities]
UNGRADED = [name for name in perturbations.step_types() if not TYPES[name].severities]


def textured_clip(n: int = N_FRAMES, size: int = SIZE) -> np.ndarray:
    """Deterministic colour texture with an off-centre block (no mirror symmetry); every frame shifted, so
    frames differ from each other and temporal edits show."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack([128 + 90 * np.sin(x / 5 + y / 17), 120 + 70 * np.cos(y / 7), 60 + 1.5 * x], -1)
    img[8:24, 36:56] = (220, 40, 30)
    img += np.random.default_rng(0).normal(0, 6, img.shape)
    base = np.clip(img, 0, 255).astype(np.uint8)
    return np.stack([np.roll(base, 3 * i, axis=1) for i in range(n)])


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """Lossless RGB H.264 (libx264rgb, qp 0) with PyAV, so the decoded source is exactly `frames`."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        stream.options = {"qp": "0", "preset": "ultrafast", "threads": "1"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode(None))


def read_video(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    frames = textured_clip()
    frames.setflags(write=False)         # a step must not modify its input in place
    return frames


@pytest.fixture(scope="module")
def source_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("registry-steps") / "src.mp4"
    write_video(path, textured_clip())
    return path


def check_frames(out: np.ndarray, frames: np.ndarray, n_expected: int) -> None:
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert out.ndim == 4 and out.shape[1:] == frames.shape[1:], out.shape
    assert out.shape[0] == n_expected >= 1, (out.shape, n_expected)


# ---------------------------------------------------------------------------- registry coverage


def test_every_step_type_has_cases():
    missing = [name for name in perturbations.step_types() if not cases_of(name)]
    assert not missing, f"step types without test cases (add parameters to EXPLICIT_PARAMS): {missing}"
    assert sorted(set(EXPLICIT_PARAMS) - set(perturbations.step_types())) == []
    assert RANDOM_CASES, "no step type describes itself as random: the seed tests would test nothing"


@pytest.mark.parametrize("name", GRADED, ids=GRADED)
def test_graded_type_refuses_severities_it_does_not_declare(name):
    for severity in (0, len(TYPES[name].severities) + 1):
        with pytest.raises(ValueError, match="severity"):
            perturbations.get(f"{name}:{severity}")


@pytest.mark.parametrize("name", UNGRADED, ids=UNGRADED)
def test_ungraded_type_refuses_a_severity(name):
    with pytest.raises(ValueError, match="takes no severity"):
        perturbations.get(f"{name}:1")


def test_none_level_is_the_identity(clip):
    out = perturbations.get("none").apply(clip, seed=0)
    assert out.dtype == np.uint8 and np.array_equal(out, clip)


# ---------------------------------------------------------------------------- frames (frame / face stage)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_step_on_frames_is_sane_deterministic_and_changes_pixels(case, clip):
    if case.type == "BW":  # the reference's count places no block under 256 px (tests/test_df_fidelity.py)
        clip = textured_clip(size=256)
    level = case.level()
    assert level.ops and len(level.ops) == 1 and level.ops[0].type.name == case.type
    out, params = level.apply(clip, seed=0, return_params=True)
    json.dumps(params)                                            # the drawn parameters are JSON-able
    n_out = params["steps"][0].get("n_out", len(clip))            # temporal steps record the new frame count
    check_frames(out, clip, n_expected=n_out)
    assert np.array_equal(level.apply(clip, seed=0), out), "same seed, different output"
    assert np.array_equal(case.level().apply(clip, seed=0), out), "a fresh level with the same seed differs"
    changed = out.shape != clip.shape or not np.array_equal(out, clip)
    assert changed, f"{case.id} left the clip unchanged"


@pytest.mark.parametrize("case", RANDOM_CASES, ids=[case.id for case in RANDOM_CASES])
def test_random_step_on_frames_depends_on_the_seed(case, clip):
    level = case.level()
    first = level.apply(clip, seed=SEEDS[0])
    others = [level.apply(clip, seed=s) for s in SEEDS[1:]]
    differs = [o.shape != first.shape or not np.array_equal(o, first) for o in others]
    assert any(differs), f"{case.id}: seeds {list(SEEDS)} all gave the same output"


# ---------------------------------------------------------------------------- video files (video stage)


def apply_video(level: Level, src: Path, dst: Path, seed: int) -> tuple[np.ndarray, dict]:
    settings = level.apply_video(src, dst, seed)
    assert dst.is_file() and dst.stat().st_size > 0
    assert [Path(p.name) for p in dst.parent.iterdir() if p.name.startswith(dst.name + ".step")] == []
    return read_video(dst), settings


@pytest.mark.parametrize("case", VIDEO_CASES, ids=VIDEO_IDS)
def test_step_on_video_file_is_sane_deterministic_and_changes_pixels(case, source_video, tmp_path):
    source = read_video(source_video)
    assert np.array_equal(source, textured_clip())                # lossless source: what the steps receive
    level = case.level(stage="video")
    assert level.stages("face") == ("video",)
    out, settings = apply_video(level, source_video, tmp_path / "a.mp4", seed=0)
    json.dumps(settings)
    assert [s["step"] for s in settings["steps"]] == [level.ops[0].label()]
    n_out = settings["steps"][0].get("n_out", len(source))
    check_frames(out, source, n_expected=n_out)
    again, _ = apply_video(level, source_video, tmp_path / "b.mp4", seed=0)
    assert np.array_equal(again, out), "same seed, different video"
    changed = out.shape != source.shape or not np.array_equal(out, source)
    assert changed, f"{case.id} left the video unchanged"


@pytest.mark.parametrize("case", RANDOM_VIDEO_CASES, ids=[case.id for case in RANDOM_VIDEO_CASES])
def test_random_step_on_video_file_depends_on_the_seed(case, source_video, tmp_path):
    level = case.level(stage="video")
    outputs = [apply_video(level, source_video, tmp_path / f"s{s}.mp4", seed=s)[0] for s in SEEDS]
    differs = [o.shape != outputs[0].shape or not np.array_equal(o, outputs[0]) for o in outputs[1:]]
    assert any(differs), f"{case.id}@video: seeds {list(SEEDS)} all gave the same video"


def test_step_modules_name_what_a_worker_pool_imports_once():
    """The forkserver imports these before forking workers (imgaug: about 0.7 s a worker otherwise)."""
    modules = perturbations.step_modules([perturbations.get("heavy"), perturbations.get("none")])
    assert modules == ("imgaug.augmenters", "perturbations.imgaug_levels")
    assert perturbations.step_modules([perturbations.get("none")]) == ()
    ic = perturbations.step_modules([perturbations.get(n) for n in perturbations.expand("ic.gaussian_noise:2")])
    assert "imagecorruptions" in ic and "perturbations.imagenet_c" in ic
    for name in perturbations.step_modules([perturbations.get(n) for n in perturbations.expand("heavy,GB:3,JPEG:2")]):
        __import__(name)  # every name is importable: a typo would only cost speed, so it is checked here
