"""The boundary between a run and a detector's own code: every `predict` call goes through `guarded_predict`.

A detector (a plug-in above all) may raise, hang, or return something other than one P(fake) per frame. Unchecked,
one score too few left a video's rows waiting for ever (missing from scores.csv, the run still "complete"), one
too many shifted scores into the next video of a cross-video batch, NaN broke the metrics at the end of the run
and scores outside [0, 1] entered log loss unnoticed. Here each call's output is checked (exactly one finite value
in [0, 1] per input frame, shape (n,) or (n, 1)); anything else is a `DetectorFault`, which the scorer turns into
`detector_error` rows with the fault's one-line message while the run goes on.

A hung call cannot be stopped (a Python thread cannot be killed), so with a timeout the call runs in a daemon
thread that is abandoned when time is up (it never blocks the exit), and the detector counts as timed out for
the rest of this process: its later calls fail at once ("skipped: detector timed out earlier") instead of hanging
one by one.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from reports.run_files import DETECTOR_ERROR

from .device import inference_precision

__all__ = ["DETECTOR_ERROR", "DetectorFault", "check_scores", "check_timeout", "guarded_predict"]

_TIMED_OUT: dict[int, tuple[Any, float]] = {}  # id(detector) -> (detector, timeout): hung calls of this process


class DetectorFault(Exception):
    """A detector call that gave no usable scores; `str()` is the rows' `message`."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out  # the detector is abandoned: retrying its frames elsewhere would not help


def check_timeout(timeout: float | None) -> float | None:
    """`timeout` (seconds per detector call) if it is None or a positive number; else a ValueError."""
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0 and np.isfinite(timeout)):
        raise ValueError(f"detector timeout must be a positive number of seconds, got {timeout!r}")
    return timeout


def check_scores(name: str, scores: Any, n: int) -> np.ndarray:
    """`scores` as float64 of shape (n,), if it holds exactly one finite P(fake) in [0, 1] per frame; else a
    `DetectorFault` naming the detector and what is wrong."""
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().to("cpu", torch.float64).numpy()
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DetectorFault(f"{name}: returned {type(scores).__name__}, not one number per frame ({_one_line(exc)})")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DetectorFault(f"{name}: returned scores of shape {tuple(array.shape)} for {n} frames "
                            f"(expected ({n},) or ({n}, 1))")
    if len(array) != n:
        raise DetectorFault(f"{name}: returned {len(array)} scores for {n} frames")
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        value = "NaN" if np.isnan(array[bad[0]]) else repr(float(array[bad[0]]))
        raise DetectorFault(f"{name}: returned {value} for frame {bad[0] + 1} of {n}")
    outside = np.flatnonzero((array < 0) | (array > 1))
    if len(outside):
        raise DetectorFault(f"{name}: score {array[outside[0]]:.6g} outside [0, 1] (frame {outside[0] + 1} of {n})")
    return array


def guarded_predict(name: str, detector: Any, x: torch.Tensor, *, precision: str = "fp32",
                    timeout: float | None = None) -> np.ndarray:
    """`detector.predict(x)` checked by `check_scores`, in `precision` on `x`'s device; an exception, a call
    longer than `timeout` seconds, or a bad output raises `DetectorFault` (one line, naming the detector)."""
    if id(detector) in _TIMED_OUT:
        raise DetectorFault(f"{name}: skipped: detector timed out earlier (after {_TIMED_OUT[id(detector)][1]:g} s)",
                            timed_out=True)

    def call() -> Any:
        with inference_precision(x.device, precision):  # autocast is per thread: entered in the calling thread
            return detector.predict(x)

    if timeout is None:
        try:
            scores = call()
        except Exception as exc:  # the detector's own code: any error is its fault, reported as a row
            raise DetectorFault(f"{name}: {type(exc).__name__}: {_one_line(exc)}") from exc
    else:
        scores = _call_with_timeout(name, detector, call, timeout)
    return check_scores(name, scores, len(x))


def _call_with_timeout(name: str, detector: Any, call, timeout: float) -> Any:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["scores"] = call()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"detector-{name}", daemon=True)  # daemon: a hang never blocks exit
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        _TIMED_OUT[id(detector)] = (detector, timeout)
        raise DetectorFault(f"{name}: timed out after {timeout:g} s", timed_out=True)
    if "error" in outcome:
        exc = outcome["error"]
        raise DetectorFault(f"{name}: {type(exc).__name__}: {_one_line(exc)}") from exc
    return outcome["scores"]


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return text if len(text) <= limit else text[:limit - 3] + "..."
