"""Content hashes of files: what the caches and the manifest identify videos and weights by."""
from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20  # 1 MiB


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
