"""Overlays and edits of shared videos: captions, stickers, beauty filters and screen recapture (frame or face stage).

Each is video-consistent: what is drawn (text, sticker shape, position, tilt, colour shifts) comes from the
per-video generator once, and every frame gets the same overlay; only RECAPTURE's sensor noise is drawn per
frame. Sizes are relative to the image, so the same severity means the same coverage on a 1080p frame and on a
face crop. On face crops (the default stage) the crop is the face with context (the detector sees the central
1/1.5), so "lower face" is 0.62-0.78 of the crop height and the face region is its central two thirds.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

Drawn = dict

CAPTIONS = (
    "I can't believe this actually happened", "Watch until the end", "This changes everything",
    "He said it live on air", "Nobody expected what came next", "Breaking: new footage released",
    "Share before they delete it", "The interview they didn't want you to see", "Listen carefully to this",
    "Is this real or fake?", "Leaked video from last night", "You won't believe who said this",
    "Full speech in the comments", "This is not a drill", "Original audio, no edits",
    "Translated from the original", "Caught on camera", "They finally admitted it",
    "Pause at 0:12", "Everyone needs to hear this", "The moment it all went wrong",
    "Exclusive: first reaction", "Subtitles added for clarity", "Repost if you agree",
)
"""Subtitle lines CAPTION draws from (one per video): the viral-repost register of re-shared clips."""

FONT_FILE = "DejaVuSans-Bold.ttf"  # ships with matplotlib (a dependency): mpl-data/fonts/ttf
STICKERS = ("smiley", "heart", "star")
BEAUTY_WINDOW = 9  # bilateral window cap (px): OpenCV suggests d = 9 for heavy offline filtering; 15 took 2x as long


@lru_cache(maxsize=1)
def font_path() -> str:
    """matplotlib's bundled DejaVu Sans Bold, found without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "mpl-data" / "fonts" / "ttf" / FONT_FILE
        if path.is_file():
            return str(path)
    raise RuntimeError(f"CAPTION needs {FONT_FILE} from matplotlib's mpl-data (pip install matplotlib)")


def _composite(frames: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Every frame under the same overlay (rgb float H x W x 3, alpha float H x W in [0, 1])."""
    a = alpha[..., None].astype(np.float32)
    over = rgb.astype(np.float32) * a
    out = frames.astype(np.float32) * (1 - a) + over
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --- CAPTION -------------------------------------------------------------------------------------------------

def caption(frames: np.ndarray, rng: np.random.Generator, size: float, opacity: float) -> tuple[np.ndarray, Drawn]:
    """A subtitle band across the lower face: text `size` x image height tall (DejaVu Sans Bold, white with a
    dark outline) on a black band of `opacity`; the line and the band's height are drawn once per video."""
    from PIL import Image, ImageDraw, ImageFont
    n, h, w, _ = frames.shape
    text = CAPTIONS[int(rng.integers(len(CAPTIONS)))]
    centre = float(rng.uniform(0.62, 0.78))
    px = max(6, int(round(size * h)))
    font = ImageFont.truetype(font_path(), px)
    stroke = max(1, px // 12)
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    band_h = int(round(1.6 * px))
    y0 = int(round(centre * h - band_h / 2))
    canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([0, y0, w, y0 + band_h], fill=(0, 0, 0, int(round(255 * opacity))))
    x = (w - (right - left)) / 2 - left
    y = y0 + (band_h - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 255), stroke_width=stroke, stroke_fill=(20, 20, 20, 255))
    layer = np.asarray(canvas, dtype=np.float32)
    out = _composite(frames, layer[..., :3], layer[..., 3] / 255.0)
    return out, {"text": text, "centre_y": round(centre, 4), "font_px": px}


# --- STICKER -------------------------------------------------------------------------------------------------

def _sticker_image(shape: str, side: int) -> tuple[np.ndarray, np.ndarray]:
    """An emoji-like sticker (RGB, alpha) of `side` px, drawn at 4x and downsampled for smooth edges."""
    s = side * 4
    rgb = np.zeros((s, s, 3), np.uint8)
    mask = np.zeros((s, s), np.uint8)
    c, r = s // 2, int(s * 0.46)
    outline = max(2, s // 40)
    if shape == "smiley":
        cv2.circle(rgb, (c, c), r, (255, 204, 0), -1, cv2.LINE_AA)
        cv2.circle(rgb, (c, c), r, (90, 60, 0), outline, cv2.LINE_AA)
        for dx in (-1, 1):
            cv2.ellipse(rgb, (c + dx * r // 3, c - r // 4), (r // 9, r // 5), 0, 0, 360, (60, 40, 10), -1, cv2.LINE_AA)
        cv2.ellipse(rgb, (c, c + r // 8), (r // 2, r // 3), 0, 20, 160, (60, 40, 10), outline * 2, cv2.LINE_AA)
        cv2.circle(mask, (c, c), r + outline // 2, 255, -1, cv2.LINE_AA)
    elif shape == "heart":
        t = np.linspace(0, 2 * np.pi, 200)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([c + x / 17 * r, c + y / 17 * r], 1).astype(np.int32)
        cv2.fillPoly(rgb, [pts], (220, 30, 60), cv2.LINE_AA)
        cv2.polylines(rgb, [pts], True, (120, 0, 20), outline, cv2.LINE_AA)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)
        cv2.polylines(mask, [pts], True, 255, outline, cv2.LINE_AA)
    else:  # star
        angles = np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
        pts = np.stack([c + radii * np.cos(angles), c - radii * np.sin(angles)], 1).astype(np.int32)
        cv2.fillPoly(rgb, [pts], (255, 190, 0), cv2.LINE_AA)
        cv2.polylines(rgb, [pts], True, (150, 90, 0), outline, cv2.LINE_AA)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)
        cv2.polylines(mask, [pts], True, 255, outline, cv2.LINE_AA)
    small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(mask, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return small, alpha


def sticker(frames: np.ndarray, rng: np.random.Generator, coverage: float) -> tuple[np.ndarray, Drawn]:
    """An emoji-like sticker (smiley, heart or star, drawn per video) whose bounding square covers `coverage` of
    the image area, rotated by up to 20 degrees, centred at a random point of the central face region."""
    n, h, w, _ = frames.shape
    shape = STICKERS[int(rng.integers(len(STICKERS)))]
    side = max(4, int(round(np.sqrt(coverage * h * w))))
    cx, cy = (float(v) for v in rng.uniform(0.3, 0.7, 2))
    angle = float(rng.uniform(-20, 20))
    rgb, alpha = _sticker_image(shape, side)
    matrix = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), angle, 1.0)
    matrix[:, 2] += (cx * w - side / 2, cy * h - side / 2)
    layer = cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
    a = cv2.warpAffine(alpha, matrix, (w, h), flags=cv2.INTER_LINEAR)
    covered = float((a > 0.5).mean())
    return _composite(frames, layer, a), {"shape": shape, "centre": [round(cx, 4), round(cy, 4)],
                                          "angle": round(angle, 3), "side_px": side, "covered": round(covered, 4)}


# --- BEAUTY --------------------------------------------------------------------------------------------------

def skin_mask(frame: np.ndarray) -> np.ndarray:
    """Soft skin mask in [0, 1]: the classic YCrCb box (Cr 133-173, Cb 77-127; Chai & Ngan 1999), feathered."""
    ycrcb = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)
    hard = cv2.inRange(ycrcb, (0, 133, 77), (255, 173, 127)).astype(np.float32) / 255.0
    k = max(3, (min(frame.shape[:2]) // 40) * 2 + 1)
    return cv2.GaussianBlur(hard, (k, k), 0)


def beauty(frames: np.ndarray, rng: np.random.Generator, sigma_color: float, sigma_space: float, passes: int,
           amount: float, brighten: float) -> tuple[np.ndarray, Drawn]:
    """Beauty filter: edge-preserving smoothing (`passes` x cv2.bilateralFilter, spatial sigma `sigma_space` x
    the shorter side, window at most BEAUTY_WINDOW px) blended into the skin by `amount`, and the skin lifted by
    `brighten` (fraction of the way to white)."""
    out = np.empty_like(frames)
    h, w = frames.shape[1:3]
    sigma_px = max(0.5, sigma_space * min(h, w))
    d = int(min(BEAUTY_WINDOW, 2 * round(1.5 * sigma_px) + 1))
    skin = []
    for i, frame in enumerate(frames):
        smooth = frame
        for _ in range(passes):
            smooth = cv2.bilateralFilter(smooth, d, sigma_color, sigma_px)
        mask = skin_mask(frame)[..., None] * amount
        lifted = smooth.astype(np.float32) + brighten * (255.0 - smooth.astype(np.float32))
        mixed = frame.astype(np.float32) * (1 - mask) + lifted * mask
        out[i] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        skin.append(float(mask.mean() / max(amount, 1e-9)))
    return out, {"window_px": d, "sigma_space_px": round(sigma_px, 3), "skin_fraction": round(float(np.mean(skin)), 4)}


# --- RECAPTURE -----------------------------------------------------------------------------------------------

def recapture(frames: np.ndarray, rng: np.random.Generator, tilt: float, moire: float, gamma: float,
              white_balance: float, blur: float, noise: float) -> tuple[np.ndarray, Drawn]:
    """Filming a screen: perspective tilt (corners moved by up to `tilt` x side), moire (the screen's RGB
    subpixel grid, pitch 1.03-1.12 camera pixels and rotated up to 3 degrees, point-sampled by the sensor: the
    beat pattern of two grids; `moire` is the grid's contrast), gamma in 1 +- `gamma`, per-channel white-balance
    gains in 1 +- `white_balance`, Gaussian blur `blur` (sigma, x shorter side / 256) and sensor noise `noise`
    (grey levels, fresh per frame). Everything but the noise is drawn once per video."""
    n, h, w, _ = frames.shape
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    shift = rng.uniform(-tilt, tilt, (4, 2)) * np.float32([w, h])
    homography = cv2.getPerspectiveTransform(src, (src + shift).astype(np.float32))
    pitch = float(rng.uniform(1.03, 1.12))
    theta = float(np.deg2rad(rng.uniform(-3, 3)))
    g = float(1 + rng.uniform(-gamma, gamma))
    gains = (1 + rng.uniform(-white_balance, white_balance, 3)).astype(np.float32)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (x * np.cos(theta) + y * np.sin(theta)) / pitch
    v = (-x * np.sin(theta) + y * np.cos(theta)) / pitch
    sub = np.floor((u - np.floor(u)) * 3).astype(np.int64)
    grid = np.stack([1 - moire + 3 * moire * (sub == c) for c in range(3)], -1).astype(np.float32)
    grid *= np.where(v - np.floor(v) > 0.85, 1 - moire, 1.0)[..., None].astype(np.float32)
    sigma = blur * min(h, w) / 256
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        warped = cv2.warpPerspective(frame, homography, (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
        shot = 255.0 * (np.clip(warped * grid, 0, 255) / 255.0) ** g * gains
        if sigma > 0:
            shot = cv2.GaussianBlur(shot, (0, 0), sigma)
        if noise > 0:
            shot = shot + rng.normal(0, noise, shot.shape).astype(np.float32)
        out[i] = np.clip(np.rint(shot), 0, 255).astype(np.uint8)
    return out, {"corner_shift_px": np.round(shift, 2).tolist(), "pitch": round(pitch, 4),
                 "grid_angle": round(float(np.rad2deg(theta)), 3), "gamma": round(g, 4),
                 "gains": [round(float(v), 4) for v in gains]}
