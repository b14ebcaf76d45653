"""Which files the app may send: only regular files inside the folders it was given (run folders), named by a
relative path. `..`, an absolute path, a backslash, a NUL byte, a path that is only inside through `%2f` decoding,
and a symlink whose target lies outside the folder all come back as None (the app answers 404, never saying why).
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["inside", "resolve_inside"]


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every symlink resolved, is `root` (resolved) or below it."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def resolve_inside(root: Path, relative: str) -> Path | None:
    """The regular file `root/relative` when `relative` is a plain relative path that stays inside `root` after
    resolving symlinks; else None."""
    if not relative or "\x00" in relative or "\\" in relative or "%" in relative:
        return None
    parts = PurePosixPath(relative).parts
    if PurePosixPath(relative).is_absolute() or any(part in ("..", ".") for part in parts) or not parts:
        return None
    candidate = Path(root).joinpath(*parts)
    if not inside(candidate, root) or not candidate.is_file():
        return None
    return Path(os.path.realpath(candidate))
