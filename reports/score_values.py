"""The values of one scores.csv row, checked: what the strict reader (`run_files.read_scores`) reports per line.

Kept apart from the file contract so the contract module stays short; only `run_files` uses it.
"""
import json
import math
import re

__all__ = ["row_problem", "STATUS_WORD"]

STATUS_WORD = re.compile(r"[a-z][a-z0-9_]*\Z")  # "ok" or a machine-readable reason; the set grows with the stages


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def row_problem(row: dict[str, str]) -> str | None:
    """What is wrong with one scores.csv row's values, or None. Checks what the metrics rely on (the label,
    status, and for scored rows a finite score and a frame count) and that the JSON and number columns parse, so a
    hand-edited or damaged file fails here, naming the line, instead of deep inside the metrics."""
    if row["label"] not in ("0", "1"):
        return f"label {row['label']!r} is not 0 (real) or 1 (fake)"
    if not STATUS_WORD.match(row["status"]):
        return f"status {row['status']!r} is not a status word (ok, no_face, ...)"
    number = _float if row["status"] == "ok" else float  # skipped rows never reach a metric: nan may say why
    checks = [("score", row["score"], number), ("n_frames", row["n_frames"], int)]
    checks += [("frame_scores", t, number) for t in row["frame_scores"].split()]
    checks += [("frame_indices", t, int) for t in row.get("frame_indices", "").split()]
    for column, text, parse in checks:
        if not text and column == "score" and row["status"] != "ok":
            continue  # a skipped video has no score
        try:
            parse(text)
        except ValueError:
            return f"{column} {text!r} is not {'an integer' if parse is int else 'a number'}" + \
                (" (nan and inf only in skipped rows)" if parse is _float else "")
    for column in ("groups", "params"):
        text = row.get(column, "")
        try:
            if text and not isinstance(json.loads(text), dict):
                raise ValueError(text)
        except ValueError:
            return f"{column} {text[:40]!r} is not a JSON object"
    return None
