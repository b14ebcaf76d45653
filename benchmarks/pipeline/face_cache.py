"""On-disk cache of face crops, keyed by video CONTENT and face settings.

Keys hash the file bytes (not the path or mtime), so renamed or copied videos hit the cache
and a re-encoded file at the same path misses it.  Entries are written to a temp file in the
same directory and moved into place with `os.replace`, so concurrent workers never see a
half-written file.

Each entry also holds its own key and a checksum of its arrays, checked on load: an entry under another
video's name (swapped or copied files), with changed bytes, cut short, or with crops, boxes and frame indices
that do not agree, is discarded (logged in `CACHE_LOG`, reported once per run), extracted again and rewritten.
Entries of earlier versions (no key) are misses. A cache that cannot be written is used read-only.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import av
import cv2
import numpy as np
import onnxruntime
import zstandard

from ..config import FaceSettings, default_cache_dir
from ..hashing import CACHE_LOG, NOT_WRITABLE, EntryRejected, file_sha256, payload_checksum
from .face_detectors import FaceDetector
from .faces import FaceCrops, extract_faces

T = TypeVar("T")

__all__ = ["FaceCache", "CACHEABLE", "compress_pixels", "decompress_pixels", "save_npz_atomically", "read_entry",
           "write_entry"]

CACHE_FORMAT = 2  # bump when the .npz layout changes; 2: crops as zstd over a horizontal difference filter
PIXEL_CHUNK = 64  # images filtered and (de)compressed at a time: bounds the extra memory to one chunk
ZSTD_LEVEL = 1  # with the difference filter: 0.09 s and 4.9 MB for 32 crops of 384 px (np.savez_compressed: 0.6 s, 8.2 MB)
RUNTIME = f"opencv={cv2.__version__}|pyav={av.__version__}|onnxruntime={onnxruntime.__version__}"
CACHEABLE = ("ok", "no_face")  # read errors are not cached: the file may be fixed or replaced


class FaceCache:
    """Face crops stored as compressed .npz files under `<root>/faces/`."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.faces_dir = self.root / "faces"
        self._content_hashes: dict[tuple[str, int, int], str] = {}

    # --- keys ---

    def content_hash(self, path: str | os.PathLike) -> str:
        """File content hash, memoised per (path, size, mtime_ns) for this instance."""
        stat = os.stat(path)
        memo_key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
        if memo_key not in self._content_hashes:
            self._content_hashes[memo_key] = file_sha256(path)
        return self._content_hashes[memo_key]

    def key(self, path: str | os.PathLike, num_frames: int, settings: FaceSettings) -> str:
        # Decoder and face-detector runtimes are part of the key: another OpenCV or FFmpeg build can find
        # slightly different boxes or pixels, and a cache shared between environments must not mix them.
        text = (f"{self.content_hash(path)}|frames={int(num_frames)}|{settings.key()}|format={CACHE_FORMAT}"
                f"|{RUNTIME}")
        return hashlib.sha256(text.encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.faces_dir / key[:2] / f"{key}.npz"

    # --- entries ---

    def load(self, key: str) -> FaceCrops | None:
        """The cached crops, or None when absent, of an earlier version, or discarded (see the module doc)."""
        return read_entry(self.path_for(key), key, "faces", _from_arrays)

    def store(self, key: str, crops: FaceCrops) -> Path | None:
        """Write atomically (temp file in the same directory, then os.replace); None when the cache is read-only."""
        path = self.path_for(key)
        return path if write_entry(path, key, _to_arrays(crops), self.root) else None  # crops compressed already

    def get_or_extract(
        self,
        path: str | os.PathLike,
        num_frames: int,
        settings: FaceSettings,
        detector: FaceDetector | None = None,
        decode_threads: bool = True,
    ) -> FaceCrops:
        """Cached crops for the video, extracting (and caching "ok"/"no_face") on a miss."""
        if not os.path.isfile(path):
            status = "missing_file" if not os.path.exists(path) else "unreadable"
            return FaceCrops.empty(status, f"{status}: {Path(path).name}", settings.crop_size)
        key = self.key(path, num_frames, settings)
        cached = self.load(key)
        if cached is not None:
            return cached
        return self.extract(path, key, num_frames, settings, detector, decode_threads)

    def extract(self, path: str | os.PathLike, key: str, num_frames: int, settings: FaceSettings,
                detector: FaceDetector | None = None, decode_threads: bool = True) -> FaceCrops:
        """Crops extracted from the video (after a miss), stored under `key` when "ok"/"no_face"."""
        result = extract_faces(path, num_frames, settings, detector, decode_threads=decode_threads)
        if result.status in CACHEABLE:
            self.store(key, result)
        return result

    # --- housekeeping ---

    def size_bytes(self) -> int:
        if not self.faces_dir.is_dir():
            return 0
        return sum(f.stat().st_size for f in self.faces_dir.rglob("*") if f.is_file())

    def clear(self) -> None:
        """Delete all cached faces (only `<root>/faces`, nothing else under root)."""
        shutil.rmtree(self.faces_dir, ignore_errors=True)


def _to_arrays(crops: FaceCrops) -> dict[str, np.ndarray]:
    meta = {
        "format": CACHE_FORMAT,
        "frame_indices": [int(i) for i in crops.frame_indices],
        "status": crops.status,
        "message": crops.message,
        "total_frames": int(crops.total_frames),
        "frame_size": [int(v) for v in crops.frame_size],
    }
    return {
        "crops": compress_pixels(crops.crops),
        "crops_shape": np.asarray(crops.crops.shape, np.int64),
        "boxes": np.asarray(crops.boxes, dtype=np.float32),
        "detected": np.asarray(crops.detected, dtype=bool),
        "meta": np.array(json.dumps(meta)),
    }


def _from_arrays(data) -> FaceCrops:
    """The crops of a verified entry; raises when its parts do not agree (shapes, dtypes, frame count)."""
    meta = json.loads(str(data["meta"]))
    if meta.get("format") != CACHE_FORMAT:
        raise EntryRejected("cache format mismatch")
    crops = decompress_pixels(data["crops"], data["crops_shape"])
    boxes = data["boxes"]
    detected = data["detected"]
    indices = [int(i) for i in meta["frame_indices"]]
    n, total = len(indices), int(meta["total_frames"])
    if crops.ndim != 4 or crops.shape[0] != n or crops.shape[3] != 3 or crops.shape[1] != crops.shape[2]:
        raise EntryRejected(f"crops of shape {crops.shape} for {n} frames")
    if boxes.shape != (n, 4) or boxes.dtype != np.float32 or not np.isfinite(boxes).all():
        raise EntryRejected(f"boxes of shape {boxes.shape} ({boxes.dtype}) for {n} frames")
    if detected.shape != (n,) or detected.dtype != bool:
        raise EntryRejected(f"detected flags of shape {detected.shape} for {n} frames")
    if meta["status"] not in CACHEABLE or (meta["status"] == "ok") != (n > 0):
        raise EntryRejected(f"status {meta['status']!r} with {n} frames")
    if any(i < 0 or (total > 0 and i >= total) for i in indices):
        raise EntryRejected(f"frame indices {indices} of a {total}-frame video")
    return FaceCrops(
        crops=crops,
        frame_indices=indices,
        boxes=boxes,
        detected=detected,
        status=str(meta["status"]),
        message=str(meta["message"]),
        total_frames=total,
        frame_size=(int(meta["frame_size"][0]), int(meta["frame_size"][1])),
    )


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    return payload_checksum({name: f"{a.dtype.str}{a.shape}".encode() + np.ascontiguousarray(a).tobytes()
                             for name, a in arrays.items()})


def read_entry(path: Path, key: str, kind: str, parse: Callable[[dict[str, np.ndarray]], T]) -> T | None:
    """`parse` of the arrays of the .npz entry at `path` if it is the entry of `key`, intact and plausible; None
    when absent, written by an earlier version (no key: a plain miss), or discarded: unreadable (cut short, not a
    zip), another key's (swapped or copied files), changed bytes (checksum) or parts that `parse` rejects by
    raising; discards go to `CACHE_LOG` under `kind`."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as error:  # bad zip, zlib error, cut short, not an .npz at all...
        CACHE_LOG.discard(kind, path, f"unreadable ({type(error).__name__}: {error})")
        return None
    if "key" not in arrays or "checksum" not in arrays:
        return None  # an entry of an earlier version: computed again and rewritten in the new format
    stored_key, checksum = str(arrays.pop("key")), str(arrays.pop("checksum"))
    if stored_key != key:
        CACHE_LOG.discard(kind, path, f"key mismatch (the entry is {stored_key[:12]}...'s)")
        return None
    if _checksum(arrays) != checksum:
        CACHE_LOG.discard(kind, path, "checksum mismatch")
        return None
    try:
        return parse(arrays)
    except Exception as error:  # inconsistent parts, a bad zstd frame, missing metadata...
        CACHE_LOG.discard(kind, path, f"implausible entry ({error})")
        return None


def write_entry(path: Path, key: str, arrays: dict[str, np.ndarray], root: Path) -> bool:
    """Store `arrays` with their key and checksum, atomically; False (logged once per cache root in
    `CACHE_LOG`) when the cache cannot be written: hits are still used, new entries are not stored."""
    entry = {**arrays, "key": np.array(key), "checksum": np.array(_checksum(arrays))}
    try:
        save_npz_atomically(path, entry)
    except OSError as error:
        if error.errno not in NOT_WRITABLE:
            raise
        CACHE_LOG.not_stored(root, error)
        return False
    return True


def compress_pixels(pixels: np.ndarray) -> np.ndarray:
    """uint8 images -> zstd over the row-difference filter, as a uint8 array for an .npz entry.

    Filtered and fed to zstd PIXEL_CHUNK images at a time, so compressing 3600 crops of 384 px (1.6 GB) holds
    one chunk's copy beside the crops rather than two whole copies (the output is one zstd frame either way)."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj(size=pixels.nbytes)
    parts = [compressor.compress(_row_difference(pixels[i:i + PIXEL_CHUNK])) for i in range(0, len(pixels), PIXEL_CHUNK)]
    parts.append(compressor.flush())
    return np.frombuffer(b"".join(parts), np.uint8)


def decompress_pixels(compressed: np.ndarray, shape) -> np.ndarray:
    """The inverse of `compress_pixels` for images of `shape` (a damaged entry raises), decoded chunk by chunk
    into the output array."""
    shape = tuple(int(v) for v in shape)
    out = np.empty(shape, np.uint8)
    if not out.size:
        return out
    per_image = out[0].nbytes
    with zstandard.ZstdDecompressor().stream_reader(memoryview(compressed)) as reader:
        for start in range(0, shape[0], PIXEL_CHUNK):
            want = min(PIXEL_CHUNK, shape[0] - start) * per_image
            raw = reader.read(want)
            if len(raw) != want:
                raise ValueError(f"compressed pixels end early: {len(raw)} of {want} bytes")
            chunk = np.frombuffer(raw, np.uint8).reshape((-1, *shape[1:]))
            np.cumsum(chunk, axis=-2, dtype=np.uint8, out=out[start:start + len(chunk)])
        if reader.read(1):
            raise ValueError("compressed pixels hold more than the recorded shape")
    return out


def save_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temp file in the same directory, then os.replace: concurrent readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp", delete=False)
    try:
        with handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _row_difference(pixels: np.ndarray) -> bytes:
    """Each pixel minus its left neighbour, per channel, modulo 256 (PNG's "sub" filter): smooth image rows
    become runs of small values, which zstd packs 40% smaller than the pixels themselves."""
    diff = pixels.copy()
    diff[..., 1:, :] -= pixels[..., :-1, :]
    return diff.tobytes()
