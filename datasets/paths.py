"""Where a dataset's files really are: every listed path resolved (symlinks included) before it is trusted.

The manifest check in `folder.safe_relpath` is lexical: it refuses `../x.mp4` but not `videos/x.mp4` when
`videos` is a symlink to another disk. A benchmark that scores such a file reports on data that is not the
dataset's, so a run refuses it unless asked to follow symlinks (a symlink farm built on purpose). The same pass
finds what a listing cannot read and used to drop or misname: symlink loops, dangling links and non-files (a
directory called `x.mp4`); readers keep those as items, so a run gives them a status row, and `datasets check`
reports each on one line.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .base import DatasetError, VideoItem

__all__ = ["PATH_PROBLEMS", "PathProblem", "path_problem", "audit_paths", "check_inside_root"]

# What `audit_paths` finds, in the order `datasets check` lists them.
PATH_PROBLEMS = ("escapes_root", "symlink_loop", "dangling_link", "not_a_file")


@dataclass(frozen=True)
class PathProblem:
    kind: str  # one of PATH_PROBLEMS
    item: VideoItem
    detail: str

    def line(self) -> str:
        """'manifest.csv:4: ...' when the item came from a list file, else '<video id>: ...'."""
        return f"{self.item.origin or self.item.video_id}: {self.detail}"


def path_problem(path: Path, real_root: str, *, shown: str = "") -> tuple[str, str] | None:
    """(kind, detail) for a path that is not a regular file inside `real_root` (an already resolved root), or
    None: for a readable file inside the root, and for a plain missing file (the run's `missing_file` row)."""
    shown = shown or str(path)
    if "\x00" in str(path):
        raise DatasetError(f"path {shown!r} contains a NUL byte")
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symlink_loop", f"'{shown}' is a symlink loop (too many levels of links)"
        if os.path.islink(path):
            return "dangling_link", f"'{shown}' is a symlink to '{os.readlink(path)}', which does not exist"
        return None
    if os.path.commonpath([real, real_root]) != real_root:
        return "escapes_root", f"'{shown}' resolves to {real}, outside the data root {real_root}"
    if not os.path.isfile(real):
        return "not_a_file", f"'{shown}' is {'a directory' if os.path.isdir(real) else 'not a regular file'}"
    return None


def audit_paths(items: Iterable[VideoItem], root: str | Path) -> list[PathProblem]:
    """Every item whose path escapes `root` once symlinks are resolved, loops, dangles or is not a file."""
    real_root = os.path.realpath(root)
    found = []
    for item in items:
        try:
            problem = path_problem(item.path, real_root, shown=_shown(item.path, root))
        except DatasetError as error:
            raise DatasetError(f"{item.origin or item.video_id}: {error}") from None
        if problem:
            found.append(PathProblem(problem[0], item, problem[1]))
    return found


def check_inside_root(items: Iterable[VideoItem], root: str | Path, *, follow_symlinks: bool = False) -> list[PathProblem]:
    """The path problems of `items`; a DatasetError naming the first escaping item (its manifest and line) unless
    `follow_symlinks`. Readers keep loops, dangling links and non-files as items; the run gives them status rows."""
    problems = audit_paths(items, root)
    escapes = [p for p in problems if p.kind == "escapes_root"]
    if escapes and not follow_symlinks:
        more = f" (and {len(escapes) - 1} more)" if len(escapes) > 1 else ""
        raise DatasetError(f"{escapes[0].line()}{more}; refused so that only the dataset's own files are scored "
                           "(--follow-symlinks reads files that symlinks point to outside the root)")
    return problems


def _shown(path: Path, root: str | Path) -> str:
    """The path relative to the root when it is below it (as a manifest lists it), else as given."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)
