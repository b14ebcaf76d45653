"""videos.jsonl: what each video's rows were computed from, so a resumed run notices data that changed.

A resume keeps the rows of the interrupted session and scores only what is missing. If a label was fixed or a
video replaced in between, those kept rows describe data that is no longer there, and the new manifest's dataset
fingerprint would vouch for them. So each video's identity is appended to `videos.jsonl` (INPUTS_FILE) just before
its rows reach scores.csv, and a resume compares every recorded video with the dataset as it is now: rows of a
changed video are dropped (scores.csv rewritten atomically) and scored again, rows of a video no longer in the
dataset are dropped, and each is named in one line on stderr. After that every row matches the current data, so
the fingerprint the manifest records is true. Scoring again rather than refusing: the user fixed the data on
purpose, and a resume that ends equal to a fresh run on the new data is what they want.

A file's identity is its size, mtime_ns and the SHA-256 of its first and last MiB (whole files can be gigabytes
and the face cache already hashes them in full; this reads at most 2 MiB). A file whose size or head/tail changed
was replaced; a touched file (new mtime, same size and ends) counts as unchanged. A replacement with the same size,
the same first and last MiB and a different middle goes unnoticed; the face cache, keyed by the full hash, still
does not reuse its crops.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from stat import S_ISREG

from datasets.base import VideoItem
from reports.run_files import INPUTS_FILE, SCORES_FILE, drop_partial_last_line, read_scores, write_scores

from ..hashing import CHUNK

__all__ = ["InputsLog", "video_record", "changes", "reconcile"]

LABEL_NAMES = {0: "real", 1: "fake"}


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):  # outside the root, or a symlink loop (RuntimeError before 3.13)
        return os.path.relpath(os.path.abspath(path), os.path.abspath(root))


def _file_identity(path: Path, *, hash_ends: bool = True) -> dict:
    """size, mtime_ns and the hash of the first and last MiB; size None for a missing file."""
    try:
        stat = os.stat(path)
    except OSError:
        return {"size": None, "mtime_ns": None, "ends_sha256": None}
    identity = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ends_sha256": None}
    if hash_ends and S_ISREG(stat.st_mode):  # a directory named x.mp4 has no content to hash (its row says why)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                digest.update(handle.read(CHUNK))
                if stat.st_size > 2 * CHUNK:
                    handle.seek(-CHUNK, os.SEEK_END)
                digest.update(handle.read(CHUNK))
        except OSError:  # unreadable now: size and mtime still identify it, and its row has the read error
            return identity
        identity["ends_sha256"] = digest.hexdigest()
    return identity


def video_record(item: VideoItem, root: Path) -> dict:
    """One line of videos.jsonl: the video's file identity, label, split and groups as this run sees them."""
    return {"video_id": item.video_id, "path": _relative(item.path, root), **_file_identity(item.path),
            "label": item.label, "split": item.split, "groups": dict(item.groups)}


def changes(recorded: dict, item: VideoItem, root: Path) -> list[str]:
    """What differs between a recorded identity and the video now ([] = unchanged); hashes only when the size is
    the same and the mtime is not, so an unchanged dataset costs one stat per video."""
    found = []
    if recorded.get("label") != item.label:
        found.append(f"label {LABEL_NAMES.get(recorded.get('label'), recorded.get('label'))} -> "
                     f"{LABEL_NAMES.get(item.label, item.label)}")
    if recorded.get("split") != item.split:
        found.append(f"split {recorded.get('split')} -> {item.split}")
    if recorded.get("groups") != dict(item.groups):
        found.append("groups changed")
    path = _relative(item.path, root)
    if recorded.get("path") != path:
        found.append(f"path {recorded.get('path')} -> {path}")
    now = _file_identity(item.path, hash_ends=False)
    if (recorded.get("size") is None) != (now["size"] is None):
        found.append("file missing" if now["size"] is None else "file added")
    elif now["size"] is not None and (now["size"] != recorded.get("size") or (
            now["mtime_ns"] != recorded.get("mtime_ns")
            and _file_identity(item.path)["ends_sha256"] != recorded.get("ends_sha256"))):
        found.append("file replaced")
    return found


def _read_records(path: Path) -> dict[str, dict] | None:
    """video_id -> its latest record; None when there is no file. An unterminated last line (a session killed
    while appending) is ignored; any other damage raises ValueError naming the line."""
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")[:-1]  # the part after the last newline is unterminated: never trusted
    records: dict[str, dict] = {}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            records[record["video_id"]] = record
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}:{number}: not a video record of this tool ({line[:60]!r})") from None
    return records


def _write_records(path: Path, records: Iterable[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)


def reconcile(run_dir: Path, items: list[VideoItem], root: Path) -> list[str]:
    """Before a resume: drop the rows (and records) of videos that changed or left the dataset since they were
    scored, so that only up-to-date rows are kept and the missing ones are scored again; returns one line per
    video dropped (and per warning) for stderr. A scores.csv with damaged lines raises ValueError naming the line.
    """
    run_dir = Path(run_dir)
    scores, inputs = run_dir / SCORES_FILE, run_dir / INPUTS_FILE
    notes = []
    if scores.is_file() and (cut := drop_partial_last_line(scores)):
        notes.append(f"warning: {scores}: dropped an unterminated last line ({len(cut)} bytes; the interrupted "
                     "session stopped while writing it): that video is scored again")
    rows = read_scores(scores)
    if inputs.is_file():
        drop_partial_last_line(inputs)  # appending after half a record would spoil the next one too
    records = _read_records(inputs)
    current = {item.video_id: item for item in items}
    scored = list(dict.fromkeys(row["video_id"] for row in rows))
    if records is None:
        if scored:  # a folder from before videos.jsonl: adopt what is there, checked from now on
            notes.append(f"warning: {run_dir} has no {INPUTS_FILE} (written by an older version): the "
                         f"{len(scored)} videos already scored there cannot be checked for changed data")
            first = {row["video_id"]: row for row in reversed(rows)}
            records = {v: {**video_record(current[v], root), "label": int(first[v]["label"]),  # what rows say
                           "split": first[v]["split"], "groups": json.loads(first[v]["groups"] or "{}")}
                       for v in scored if v in current}
        else:
            records = {}
    drop = set()
    for video_id in scored:
        if video_id not in current:
            drop.add(video_id)
            notes.append(f"removed from the dataset since the interrupted session: {video_id} (its rows are dropped)")
        elif video_id not in records:
            drop.add(video_id)
            notes.append(f"no record of the data behind {video_id}'s rows in {INPUTS_FILE}: scored again")
        elif found := changes(records[video_id], current[video_id], root):
            drop.add(video_id)
            notes.append(f"changed since the interrupted session: {video_id} ({'; '.join(found)}): scored again")
    if drop:
        write_scores(scores, [row for row in rows if row["video_id"] not in drop])
    kept = [records[v] for v in scored if v not in drop and v in records]
    if drop or len(kept) != len(records) or not inputs.is_file():
        _write_records(inputs, kept)
    return notes


class InputsLog:
    """Appends a video's record to videos.jsonl (flushed and synced) before its rows are written, so every row on
    disk has the identity of the data it was computed from, also after a crash."""

    def __init__(self, run_dir: Path, items: list[VideoItem], root: Path) -> None:
        self.path = Path(run_dir) / INPUTS_FILE
        self.items = {item.video_id: item for item in items}
        self.root = Path(root)

    def record(self, video_id: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(video_record(self.items[video_id], self.root), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
