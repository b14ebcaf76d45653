"""Content hashes of files: what the caches and the manifest identify videos and weights by; and the checks of
cache entries (a payload checksum, the log of discarded entries and read-only caches) the three caches share."""
from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass, field

CHUNK = 1 << 20  # 1 MiB


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- cache entries: a checksum of each entry's payload and one log of what was discarded or not stored ---

CACHE_KINDS = {"faces": "face cache", "perturbed": "perturbed-crop cache", "scores": "score cache"}
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)  # a store failing with these: the cache is read-only


class EntryRejected(ValueError):
    """A cache entry that must not be used: its key is another input's, its bytes changed, or its content is
    implausible. The message is the reason, as reported."""


def payload_checksum(parts: dict[str, bytes]) -> str:
    """blake2b over named byte strings (sorted by name): what an entry stores beside its payload and is
    checked against on load, so a changed byte is found before the entry is used."""
    digest = hashlib.blake2b(digest_size=32)
    for name in sorted(parts):
        data = parts[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


@dataclass
class CacheLog:
    """Cache entries discarded (per kind: counts, and the first as "kind: path: reason") and cache folders found
    read-only since the last `drain`. A worker process drains its log into each job's result, so the main
    process reports what every process saw, once per run."""

    discarded: dict[str, int] = field(default_factory=dict)
    first: str = ""
    read_only: dict[str, str] = field(default_factory=dict)  # cache root -> the first error

    def discard(self, kind: str, path: os.PathLike | str, reason: str) -> None:
        self.discarded[kind] = self.discarded.get(kind, 0) + 1
        self.first = self.first or f"{CACHE_KINDS[kind]}: {path}: {reason}"

    def not_stored(self, root: os.PathLike | str, error: OSError) -> None:
        self.read_only.setdefault(str(root), f"{error.strerror or error} ({error.filename or root})")

    def merge(self, other: "CacheLog | None") -> None:
        if other is None:
            return
        for kind, count in other.discarded.items():
            self.discarded[kind] = self.discarded.get(kind, 0) + count
        self.first = self.first or other.first
        for root, reason in other.read_only.items():
            self.read_only.setdefault(root, reason)

    def drain(self) -> "CacheLog":
        """What was logged so far (a copy), leaving this log empty."""
        taken = CacheLog(dict(self.discarded), self.first, dict(self.read_only))
        self.discarded, self.first, self.read_only = {}, "", {}
        return taken

    def counts(self) -> dict[str, int]:
        return {kind: self.discarded.get(kind, 0) for kind in CACHE_KINDS}

    def warnings(self) -> list[str]:
        """One line for all discarded entries, one per read-only cache folder."""
        lines = []
        total = sum(self.discarded.values())
        if total:
            noun = "entry" if total == 1 else "entries"
            lines.append(f"warning: {total} damaged cache {noun} discarded and recomputed ({self.first})")
        for root, reason in self.read_only.items():
            lines.append(f"warning: cache {root} is read-only: {reason}; used read-only, new entries are not stored")
        return lines


CACHE_LOG = CacheLog()  # this process's log: caches write to it, the runner (or a worker's job) drains it
