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


def _numbers_ok(tokens: list[str], finite: bool) -> bool:
    """All tokens parse as floats (and are finite when `finite`): one C-level pass, the common case of a good
    row; only a row that fails is looked at token by token for the message."""
    try:
        values = list(map(float, tokens))
    except ValueError:
        return False
    return not finite or all(map(math.isfinite, values))


def _integers_ok(tokens: list[str]) -> bool:
    try:
        list(map(int, tokens))
    except ValueError:
        return False
    return True


def row_problem(row: dict[str, str]) -> str | None:
    """What is wrong with one scores.csv row's values, or None. Checks what the metrics rely on (the label,
    status, and for scored rows a finite score and a frame count) and that the JSON and number columns parse, so a
    hand-edited or damaged file fails here, naming the line, instead of deep inside the metrics.

    Fast for good rows (a 50,000-row file is read when `serve` opens a run): numbers are parsed in bulk and JSON
    only when it is more than `{}`; the per-token loop that names the bad value runs only for a failing row."""
    if row["label"] not in ("0", "1"):
        return f"label {row['label']!r} is not 0 (real) or 1 (fake)"
    if not STATUS_WORD.match(row["status"]):
        return f"status {row['status']!r} is not a status word (ok, no_face, ...)"
    ok = row["status"] == "ok"
    frame_scores, frame_indices = row["frame_scores"].split(), row.get("frame_indices", "").split()
    score = [row["score"]] if row["score"] or ok else []  # a skipped video has no score
    if not (_numbers_ok(score + frame_scores, ok) and _integers_ok([row["n_frames"], *frame_indices])):
        return _number_problem(row, ok)
    for column in ("groups", "params"):
        text = row.get(column, "")
        if not text or text == "{}":
            continue
        try:
            if not isinstance(json.loads(text), dict):
                raise ValueError(text)
        except ValueError:
            return f"{column} {text[:40]!r} is not a JSON object"
    return None


def _number_problem(row: dict[str, str], ok: bool) -> str | None:
    """The first number column of a failing row that does not parse, named with its value."""
    number = _float if ok else float  # skipped rows never reach a metric: nan may say why
    checks = [("score", row["score"], number), ("n_frames", row["n_frames"], int)]
    checks += [("frame_scores", t, number) for t in row["frame_scores"].split()]
    checks += [("frame_indices", t, int) for t in row.get("frame_indices", "").split()]
    for column, text, parse in checks:
        if not text and column == "score" and not ok:
            continue
        try:
            parse(text)
        except ValueError:
            return f"{column} {text!r} is not {'an integer' if parse is int else 'a number'}" + \
                (" (nan and inf only in skipped rows)" if parse is _float else "")
    return None
