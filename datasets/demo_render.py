"""Rendering one demo clip: composite the portrait over the background along its motion track, add sensor noise,
blend the SBI-style manipulation into fakes, and encode to H.264 reproducibly.

Scenes and their random parameters come from `demo_scenes.py`; `demo.py` runs this per planned clip.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .demo_scenes import (
    FPS,
    HEIGHT,
    NOISE_PAD,
    PORTRAITS,
    WIDTH,
    Manipulation,
    Scene,
    background_photo,
    motion_track,
    sample_manipulation,
    sample_scene,
    source_photo,
)

CRF, PRESET = 18, "veryfast"   # "fast" takes 3x as long for the same quality at this size


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
    rgb = source_photo(scene.source)[y0:y1, x0:x1].astype(np.float32)
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
    photo = background_photo(scene.background)
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
