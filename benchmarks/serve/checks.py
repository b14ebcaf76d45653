""""Check a video": an uploaded file scored in a background thread while the browser polls its page.

The upload is written into the app's own temporary folder under a size cap (a larger one is refused before the
whole body is read: `UploadLimit`), checked to be a video PyAV can decode, scored by `predict`, and deleted when
the job ends, whatever the outcome; the folder goes when the app stops. One job runs at a time (the others wait
their turn), since scoring already uses every core.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av

__all__ = ["CheckJob", "CheckJobs", "UploadError", "UploadLimit", "check_video_file", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
CHUNK = 1 << 20

# predict(path, *, detectors, levels, progress) -> `Prediction` rows; progress(done, total, step) as it goes.
Predict = Callable[..., list[dict]]


class UploadError(ValueError):
    """An upload refused: too large, empty, or not a video (the message is shown on the form)."""


@dataclass
class CheckJob:
    id: str
    filename: str
    detectors: list[str]
    levels: list[str]
    state: str = "queued"  # queued | running | done | error
    done: int = 0
    total: int = 0
    step: str = ""
    rows: list = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None


def safe_name(filename: str) -> str:
    """The upload's own file name reduced to letters, digits, `._-` (its stem is the video id that seeds the
    perturbations, as in a run over a folder holding the file), with a video suffix."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name).lstrip(".") or "video"
    stem, suffix = Path(name).stem or "video", Path(name).suffix.lower()
    return stem[:100] + (suffix if suffix in VIDEO_SUFFIXES else ".bin")


def check_video_file(path: Path, filename: str) -> None:
    """Raise UploadError unless `path` holds a video stream PyAV can decode a frame of."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UploadError(f"{filename}: not a video (the file has no video stream)")
            for _ in container.decode(video=0):
                return
    except UploadError:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
        raise UploadError(f"{filename}: not a video this tool can read ({type(error).__name__})") from None
    raise UploadError(f"{filename}: not a video (no frame could be decoded)")


class CheckJobs:
    """Upload folder, the jobs by id, and the worker thread that runs them one after another."""

    def __init__(self, predict: Predict, *, max_bytes: int) -> None:
        self.predict = predict
        self.max_bytes = max_bytes
        self.folder = Path(tempfile.mkdtemp(prefix="dfbench-uploads-"))
        self.jobs: dict[str, CheckJob] = {}
        self._turn = threading.Lock()

    def save(self, stream, filename: str) -> Path:
        """Copy the upload (a binary file object) into the upload folder, refusing more than `max_bytes`."""
        target = self.folder / uuid.uuid4().hex / safe_name(filename)
        target.parent.mkdir()
        written = 0
        with target.open("wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > self.max_bytes:
                    out.close()
                    shutil.rmtree(target.parent, ignore_errors=True)
                    raise UploadError(f"{filename}: larger than the upload limit of {self.max_bytes / 1e6:g} MB")
                out.write(chunk)
        if not written:
            shutil.rmtree(target.parent, ignore_errors=True)
            raise UploadError(f"{filename or 'the upload'}: empty file")
        return target

    def start(self, path: Path, filename: str, detectors: list[str], levels: list[str]) -> CheckJob:
        """Check the saved upload is a video (deleting it if not) and queue its scoring."""
        try:
            check_video_file(path, filename)
        except UploadError:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        job = CheckJob(uuid.uuid4().hex[:12], filename, detectors, levels)
        self.jobs[job.id] = job
        threading.Thread(target=self.run, args=(job, path), name=f"check-{job.id}", daemon=True).start()
        return job

    def run(self, job: CheckJob, path: Path) -> None:
        def progress(done: int, total: int, step: str = "") -> None:
            job.done, job.total, job.step = done, total, step

        try:
            with self._turn:
                job.state = "running"
                job.rows = self.predict(path, detectors=job.detectors, levels=job.levels, progress=progress)
                job.state = "done"
        except Exception as error:  # shown on the job's page; the app goes on
            job.state, job.error = "error", f"{type(error).__name__}: {error}"
            traceback.print_exc()
        finally:
            job.finished = time.time()
            shutil.rmtree(path.parent, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class UploadLimit:
    """ASGI middleware: a POST to `path` whose body exceeds `max_bytes` is answered 413 as soon as the declared
    length (or the bytes received so far) says so, before the multipart parser spools it to disk."""

    def __init__(self, app, *, path: str, max_bytes: int) -> None:
        self.app, self.path, self.max_bytes = app, path, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        # Multipart framing adds a little to the file itself.
        limit = self.max_bytes + 64 * 1024
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await self.refuse(send)
        received, started = 0, False

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise UploadTooLarge
            return message

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except UploadTooLarge:
            if not started:
                await self.refuse(send)

    async def refuse(self, send) -> None:
        text = f"error: upload larger than the limit of {self.max_bytes / 1e6:g} MB".encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": text})


class UploadTooLarge(Exception):
    pass
