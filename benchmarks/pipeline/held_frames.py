"""Frames and crops of one video held while the face stage works through it, in bounded memory.

Frames are held when their crop cannot be cut yet (box smoothing needs every box of the track; a frame the
detector skipped waits for the next detection). A 1080p RGB frame is 6.2 MB, so `--frames 300 --smooth 5` held
1.9 GB and `--frames 3600` could exhaust memory: beyond `budget_bytes` in memory, further frames go to an anonymous
temporary file and are read back once, unchanged (the crops are identical either way).
"""
from __future__ import annotations

import tempfile
from typing import BinaryIO

import numpy as np

__all__ = ["HeldFrames", "CropArray", "HELD_FRAMES_BUDGET", "CROP_COPIES", "crop_memory_bytes", "memory_warning"]

HELD_FRAMES_BUDGET = 512 * 1024 * 1024  # bytes of full frames kept in memory before spilling to disk
# A video's context crops are held while its levels are perturbed, and a perturbation needs the whole video (steps
# draw per-video parameters, temporal steps see every frame): the crops, one perturbed copy and the perturbation's
# own intermediates. Measured: 3600 frames of 384-px crops at `heavy` peaked 4.7 GB above the 32-frame run, 3.0 x
# the 1.6 GB of crops (docs/throughput.md, Memory).
CROP_COPIES = 3


def crop_memory_bytes(num_frames: int, crop_size: int) -> int:
    """About how much one video's crops take while it is perturbed and scored (see CROP_COPIES)."""
    return CROP_COPIES * num_frames * crop_size * crop_size * 3


def memory_warning(num_frames: int, crop_size: int, meminfo: str = "/proc/meminfo") -> str:
    """A warning line when one video's crops would take more than half the memory available now, else ""."""
    try:
        with open(meminfo) as f:
            available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):  # not Linux: no estimate of what is free
        return ""
    needed = crop_memory_bytes(num_frames, crop_size)
    if needed <= available / 2:
        return ""
    return (f"warning: --frames {num_frames} with {crop_size}-px crops holds about {needed / 2**30:.1f} GiB per "
            f"video while it is perturbed, and {available / 2**30:.1f} GiB is available: sample fewer frames or "
            f"run where more memory is free (docs/throughput.md, Memory)")


class HeldFrames:
    """A dict-like store of frames by position: in memory up to `budget_bytes`, then in a temporary file."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        self.budget = HELD_FRAMES_BUDGET if budget_bytes is None else budget_bytes
        self.memory: dict[int, np.ndarray] = {}
        self.in_memory = 0
        self.spilled: dict[int, tuple[int, tuple[int, ...], np.dtype]] = {}  # position -> (offset, shape, dtype)
        self.file: BinaryIO | None = None
        self.spilled_bytes = 0

    def __contains__(self, position: int) -> bool:
        return position in self.memory or position in self.spilled

    def __len__(self) -> int:
        return len(self.memory) + len(self.spilled)

    def put(self, position: int, frame: np.ndarray) -> None:
        if self.in_memory + frame.nbytes <= self.budget:
            self.memory[position] = frame
            self.in_memory += frame.nbytes
            return
        if self.file is None:
            self.file = tempfile.TemporaryFile(prefix="dfbench-frames-")  # unlinked at once: nothing to clean up
        offset = self.file.seek(0, 2)
        self.file.write(np.ascontiguousarray(frame).tobytes())
        self.spilled[position] = (offset, frame.shape, frame.dtype)
        self.spilled_bytes += frame.nbytes

    def pop(self, position: int) -> np.ndarray:
        if position in self.memory:
            frame = self.memory.pop(position)
            self.in_memory -= frame.nbytes
            return frame
        offset, shape, dtype = self.spilled.pop(position)
        self.file.seek(offset)
        count = int(np.prod(shape))
        frame = np.fromfile(self.file, dtype=dtype, count=count)
        if frame.size != count:
            raise OSError(f"held frame {position} could not be read back from the spill file")
        return frame.reshape(shape)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.memory.clear()
        self.spilled.clear()


class CropArray:
    """Crops written by position into one array: no dict of crops and then a stacked copy of them all (which
    doubled the face stage's peak: 2 x 1.6 GB for 3600 crops of 384 px)."""

    def __init__(self, capacity: int, size: int) -> None:
        self.array = np.empty((max(capacity, 1), size, size, 3), np.uint8)
        self.size = size

    def put(self, position: int, crop: np.ndarray) -> None:
        if position >= len(self.array):  # more frames than announced: grow (amortised doubling)
            grown = np.empty((max(2 * len(self.array), position + 1), self.size, self.size, 3), np.uint8)
            grown[: len(self.array)] = self.array
            self.array = grown
        self.array[position] = crop

    def take(self, count: int) -> np.ndarray:
        """The first `count` crops (the array itself when full, so no copy)."""
        return self.array if count == len(self.array) else self.array[:count].copy()
