"""Helpers shared by the published-dataset readers (celebdf, dfdc, ffpp).

Path, label and id validation is `folder.py`'s, re-exported here, so every reader refuses the
same things with the same messages; what is added is what only the public datasets need:
option coercion (options arrive as strings from the command line), number ranges, JSON
loading with file-named errors, and a seeded, platform-independent subsample.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .base import FAKE, REAL, VIDEO_EXTENSIONS, DatasetError, VideoItem
from .folder import check_unique_ids, parse_label, read_csv, safe_relpath, video_id

__all__ = ["check_unique_ids", "parse_label", "read_csv", "safe_relpath", "video_id", "require_root", "load_json",
           "parse_int_set", "as_bool", "as_int", "as_choices", "list_videos", "subsample", "pandas_sample_positions",
           "check_split"]


def require_root(root: str | Path | None, name: str, layout: str) -> Path:
    """The data root as a Path; a missing root is an error that explains the expected layout."""
    if root is None:
        raise DatasetError(f"dataset '{name}' needs a root directory (--data-root); expected {layout}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data root {path} does not exist or is not a directory; '{name}' expects {layout}")
    return path


def load_json(path: Path) -> Any:
    """Parsed JSON; bad JSON or encoding is a DatasetError naming the file and line."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text: {exc}") from exc


def parse_int_set(value: object, option: str) -> list[int]:
    """'45-49', '0,3,7-9' or an int / iterable of ints -> sorted unique ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, (list, tuple, set)):
        return sorted({as_int(v, option) for v in value})
    numbers: set[int] = set()
    for chunk in str(value).split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        low, dash, high = chunk.partition("-")
        try:
            a, b = int(low), int(high) if dash else int(low)
        except ValueError:
            raise DatasetError(f"option {option}={value!r}: '{chunk}' is not a number or a range like 45-49") from None
        if a < 0 or b < a:
            raise DatasetError(f"option {option}={value!r}: bad range '{chunk}'")
        numbers.update(range(a, b + 1))
    if not numbers:
        raise DatasetError(f"option {option}={value!r}: empty")
    return sorted(numbers)


def as_int(value: object, option: str, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise DatasetError(f"option {option}={value!r}: not an integer") from None
    if number < minimum:
        raise DatasetError(f"option {option}={value!r}: must be >= {minimum}")
    return number


def as_bool(value: object, option: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise DatasetError(f"option {option}={value!r}: expected true or false")


def as_choices(value: object, option: str, choices: Iterable[str], every: Iterable[str] | None = None) -> list[str]:
    """Comma list (or list) matched case-insensitively against `choices`, in canonical spelling;
    'all' gives `every` (default: all choices)."""
    canonical = {c.lower(): c for c in choices}
    names = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names = [str(n).strip() for n in names if str(n).strip()]
    if [n.lower() for n in names] == ["all"]:
        return list(every if every is not None else canonical.values())
    unknown = [n for n in names if n.lower() not in canonical]
    if unknown or not names:
        raise DatasetError(f"option {option}={value!r}: unknown {', '.join(unknown) or '(empty)'}; "
                           f"allowed: {', '.join(canonical.values())} or all")
    return list(dict.fromkeys(canonical[n.lower()] for n in names))


def list_videos(folder: Path) -> list[Path]:
    """Entries with a video name directly in `folder`, sorted by name (a directory listing, no decoding).

    Not only files: a dangling link, a symlink loop or a directory named x.mp4 is listed too, so it becomes an
    item with a status row in a run and a line in `datasets check` (`paths.audit_paths`), not a silent gap."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))


def subsample(items: list[VideoItem], n: int | None, balance: bool, seed: int, source: str) -> list[VideoItem]:
    """Seeded subsample of `n` items (order kept), half real and half fake when `balance`.

    `random.Random(seed)` on the sorted input gives the same selection on every platform and
    Python version >= 3.2, so a sample such as "500 real + 500 fake, seed 24" is repeatable. It is this suite's
    own draw: a study that sampled with pandas picked other videos with the same seed (`pandas_sample_positions`).
    """
    if n is None:
        return items
    if not balance:
        if n >= len(items):
            return items
        keep = set(random.Random(seed).sample(range(len(items)), n))
        return [item for i, item in enumerate(items) if i in keep]
    wanted = {REAL: n // 2, FAKE: n - n // 2}
    keep_ids: set[str] = set()
    for label, k in wanted.items():
        pool = sorted(item.video_id for item in items if item.label == label)
        if len(pool) < k:
            kind = "real" if label == REAL else "fake"
            raise DatasetError(f"{source}: balanced sample of {n} needs {k} {kind} videos, only {len(pool)} available")
        keep_ids.update(random.Random(f"{seed}:{label}").sample(pool, k))
    return [item for item in items if item.video_id in keep_ids]


def pandas_sample_positions(n_rows: int, n: int, random_state: int, source: str) -> list[int]:
    """The row positions, in pandas' order, that `DataFrame.sample(n=n, replace=False, random_state=random_state)`
    picks from a frame of `n_rows` rows: how a study written with pandas chose its test videos.

    pandas turns an integer `random_state` into `np.random.RandomState(random_state)` and draws
    `choice(n_rows, size=n, replace=False)` (`pandas.core.sample.sample`), which is `permutation(n_rows)[:n]`.
    numpy keeps the legacy RandomState stream frozen, so the selection is the same on every numpy version, and
    pandas need not be installed (tests/test_protocols.py checks it against pandas itself)."""
    if n > n_rows:
        raise DatasetError(f"{source}: sample of {n} needs {n} rows, only {n_rows} available")
    if not 0 <= random_state < 2**32:
        raise DatasetError(f"{source}: random_state {random_state} outside numpy's RandomState range [0, 2**32)")
    return [int(i) for i in np.random.RandomState(random_state).choice(n_rows, size=n, replace=False)]


def check_split(split: str, allowed: Iterable[str], name: str) -> str:
    allowed = list(allowed)
    if split not in allowed:
        raise DatasetError(f"dataset '{name}': unknown split '{split}'; allowed: {', '.join(allowed)}")
    return split
