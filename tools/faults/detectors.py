"""Fault cases: detectors (see tools/faults/__init__.py).

A plug-in detector (`PLUGIN_SOURCE`, written into the scratch folder and loaded the way users load plug-ins:
`--detector faulty_dets:Bright` with the folder on PYTHONPATH) scores a frame by its mean brightness, which is a
valid P(fake) that differs from video to video; `--detector-option fault=KIND` makes it misbehave on the frames
brighter than `threshold`, chosen between the two brightest videos of a clean run so that exactly one video is
hit. The promise: that video's row gets status `detector_error` with a one-line message, every other row keeps
its clean score, the run completes (exit 0) and its summary names the fault; a plug-in that cannot be built is one
`error:` line naming it and its file, exit 2.
"""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from . import FaultBroken, common, fault
from .common import cli, score_rows, tiny_dataset

__all__ = ["PLUGIN_MODULE", "PLUGIN_SOURCE", "write_plugin", "clean_reference", "Reference"]

PLUGIN_MODULE = "faulty_dets"
PLUGIN_SOURCE = textwrap.dedent('''
    """Plug-in detectors for fault tests: P(fake) = mean brightness, with a fault on frames above `threshold`."""
    import hashlib
    import threading
    from pathlib import Path

    import numpy as np
    import torch

    from detectors.base import Detector, WeightsInfo


    class Bright(Detector):
        name, input_size = "bright", 32

        def __init__(self, weights=None, random_init=False, fault="", threshold=2.0):
            self.model = torch.nn.Conv2d(3, 1, 1)
            self.fault, self.threshold = str(fault), float(threshold)
            sha256 = hashlib.sha256(Path(weights).read_bytes()).hexdigest() if weights else None  # cacheable then
            self.weights = WeightsInfo(path=str(weights) if weights else None, sha256=sha256,
                                       format="plugin" if weights else "random-init", architecture="bright")

        def fake_logits(self, x):
            return torch.logit(x.mean(dim=(1, 2, 3)).clamp(1e-6, 1 - 1e-6))

        def checkpoint_card(self):
            return {"architecture": "bright", "input_size": self.input_size}

        def brightness(self, x):
            return x.double().mean(dim=(1, 2, 3)).numpy()

        def predict(self, x):
            p = self.brightness(x)
            hit = p > self.threshold
            if not hit.any() or not self.fault:
                return p
            if self.fault == "fewer":
                return p[:-1]
            if self.fault == "more":
                return np.append(p, 0.5)
            if self.fault == "nan-score":
                p[hit] = np.nan
            elif self.fault == "out-of-range":
                p[hit] = 1.7
            elif self.fault == "raise":
                raise RuntimeError("cannot score a bright frame")
            elif self.fault == "hang":
                threading.Event().wait(120)
            else:
                raise ValueError(f"unknown fault {self.fault!r}")
            return p


    class Clip(Bright):
        """A clip model: every frame gets its clip's mean brightness."""
        temporal = True

        def brightness(self, x):
            return np.full(len(x), x.double().mean().item())
''')


def write_plugin(folder: Path, source: str = PLUGIN_SOURCE) -> Path:
    """The plug-in module `faulty_dets.py` in `folder` (which then goes on PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{PLUGIN_MODULE}.py"
    path.write_text(source)
    return path


class Reference:
    """A clean run's rows per video, and the threshold between its two brightest videos (the fault target)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = {r["video_id"]: r for r in rows}
        peaks = sorted((max(map(float, r["frame_scores"].split())), v) for v, r in self.rows.items()
                       if r["status"] == "ok")
        if len(peaks) < 2 or peaks[-1][0] - peaks[-2][0] < 1e-4:
            raise FaultBroken(f"clean run: cannot single out one video by brightness ({peaks})")
        self.threshold = (peaks[-1][0] + peaks[-2][0]) / 2
        self.target = peaks[-1][1]
        frames = list(map(float, self.rows[self.target]["frame_scores"].split()))
        self.n_frames = len(frames)
        self.first_hit = next(i for i, s in enumerate(frames) if s > self.threshold) + 1  # 1-based, as in messages


def clean_reference(root: Path, data: Path) -> Reference:
    """The clean plug-in run on `data`, done once per `root` (shared by the cases of one process)."""
    run = root / "clean-run"
    if not (run / "metrics.json").is_file():
        write_plugin(root / "plugin")
        done = cli(root, *run_args(data, run, workers=1), env={"PYTHONPATH": plugin_path(root)})
        if done.returncode != 0:
            raise FaultBroken(f"clean plug-in run failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return Reference(score_rows(run))


def plugin_path(root: Path) -> str:
    """PYTHONPATH holding the plug-in, then the project (as `cli` sets it)."""
    return os.pathsep.join(p for p in (str(root / "plugin"), str(common.PROJECT_ROOT), os.environ.get("PYTHONPATH", ""))
                           if p)


def run_args(data: Path, out: Path, *, workers: int, detector: str = f"{PLUGIN_MODULE}:Bright",
             options: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> list[str]:
    args = ["run", "--dataset", "folder", "--data-root", str(data), "--detector", detector, "--random-init",
            "--frames", "4", "--level", "none", "--out", str(out), "--workers", str(workers), "--bootstrap", "0",
            "--no-score-cache", "-q"]
    for option in options:
        args += ["--detector-option", option]
    return args + list(extra)


def _faulty_run(scratch: Path, kind: str, workers: int, extra: tuple[str, ...] = ()) -> tuple[Reference, dict]:
    """The plug-in run with fault `kind` on the brightest video; checks everything but that row's message (returned
    with the clean reference): exit 0, run complete, every video present, the others unchanged (or, after a
    timeout, skipped), metrics computed on the scored rows, and the summary listing the faulty row."""
    data = tiny_dataset(scratch)
    reference = clean_reference(scratch.parent / "_detector_faults", data)
    write_plugin(scratch / "plugin")
    out = scratch / "run"
    done = cli(scratch, *run_args(data, out, workers=workers, extra=extra,
                                  options=(f"fault={kind}", f"threshold={reference.threshold!r}")),
               env={"PYTHONPATH": plugin_path(scratch)}, timeout=300)
    if done.returncode != 0:
        raise FaultBroken(f"fault {kind}: exit {done.returncode}, expected 0: {done.stderr.strip()[-300:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    if manifest.get("status") != "complete":
        raise FaultBroken(f"fault {kind}: run not complete ({manifest.get('status')})")
    rows = {r["video_id"]: r for r in score_rows(out)}
    if set(rows) != set(reference.rows):
        raise FaultBroken(f"fault {kind}: videos missing from scores.csv: {sorted(set(reference.rows) - set(rows))}")
    target = rows[reference.target]
    if target["status"] != "detector_error":
        raise FaultBroken(f"fault {kind}: the faulty video's row has status {target['status']!r}, score "
                          f"{target['score']!r}")
    abandoned = {v for v, r in rows.items() if r["status"] == "detector_error" and "timed out" in r["message"]}
    for video, row in rows.items():
        clean = reference.rows[video]
        if video == reference.target or (kind == "hang" and video in abandoned):
            continue
        if row["status"] != clean["status"] or (row["status"] == "ok" and
                                                abs(float(row["score"]) - float(clean["score"])) > 1e-6):
            raise FaultBroken(f"fault {kind}: video {video} changed: {row['status']} {row['score']!r} "
                              f"{row['message']!r} vs clean {clean['status']} {clean['score']!r}")
    scored = sum(r["status"] == "ok" for r in rows.values())
    entry = json.loads((out / "metrics.json").read_text())["video"][0]
    if entry["n_scored"] != scored or entry["n_skipped"] != len(rows) - scored:
        raise FaultBroken(f"fault {kind}: metrics count {entry['n_scored']} scored, {entry['n_skipped']} skipped; "
                          f"scores.csv has {scored} ok rows of {len(rows)}")
    line = f"{reference.target} [none]: {target['message']}"
    if line not in done.stdout:
        raise FaultBroken(f"fault {kind}: the run summary does not list {line!r}:\n{done.stdout[-500:]}")
    return reference, target


def _expect(kind: str, message: str, expected: str) -> str:
    if message != expected:
        raise FaultBroken(f"fault {kind}: message {message!r}, expected {expected!r}")
    return f"{kind}: row detector_error ({message}), other videos unchanged, exit 0"


DETECTOR = f"{PLUGIN_MODULE}:Bright"


@fault("detectors")
def fewer_scores(scratch: Path) -> str:
    """A plug-in returns one score fewer than the frames of the brightest video (2 workers): that row is
    detector_error ("returned 3 scores for 4 frames"); no video goes missing and the run completes."""
    ref, row = _faulty_run(scratch, "fewer", 2)
    return _expect("fewer", row["message"], f"{DETECTOR}: returned {ref.n_frames - 1} scores for {ref.n_frames} frames")


@fault("detectors")
def more_scores(scratch: Path) -> str:
    """One score more in a cross-video batch (1 worker): the batch is scored again per video, so only the faulty
    video's row is detector_error and no score shifts into its batch neighbour."""
    ref, row = _faulty_run(scratch, "more", 1)
    return _expect("more", row["message"], f"{DETECTOR}: returned {ref.n_frames + 1} scores for {ref.n_frames} frames")


@fault("detectors")
def nan_for_one_video(scratch: Path) -> str:
    """NaN for one video (2 workers): its row is detector_error; metrics are computed on the others."""
    ref, row = _faulty_run(scratch, "nan-score", 2)
    return _expect("nan", row["message"], f"{DETECTOR}: returned NaN for frame {ref.first_hit} of {ref.n_frames}")


@fault("detectors")
def score_outside_unit_interval(scratch: Path) -> str:
    """A score of 1.7 (1 worker): refused as detector_error instead of entering log loss and accuracy."""
    ref, row = _faulty_run(scratch, "out-of-range", 1)
    return _expect("out-of-range", row["message"],
                   f"{DETECTOR}: score 1.7 outside [0, 1] (frame {ref.first_hit} of {ref.n_frames})")


@fault("detectors")
def predict_raises(scratch: Path) -> str:
    """predict raises on one video (1 worker): a detector_error row with the exception, not a traceback and exit 1."""
    _, row = _faulty_run(scratch, "raise", 1)
    return _expect("raise", row["message"], f"{DETECTOR}: RuntimeError: cannot score a bright frame")


@fault("detectors")
def predict_hangs(scratch: Path) -> str:
    """predict hangs on one video, --detector-timeout 1 (2 workers): that row is detector_error "timed out after
    1 s", later rows of the abandoned detector "skipped", and the run ends instead of waiting for ever."""
    _, row = _faulty_run(scratch, "hang", 2, extra=("--detector-timeout", "1"))
    return _expect("hang", row["message"], f"{DETECTOR}: timed out after 1 s")


BROKEN_MODULES = {
    "syntax": ("def broken(:\n", "SyntaxError: invalid syntax", 1),
    "import": ("import no_such_dependency_xyz\n", "ModuleNotFoundError: No module named 'no_such_dependency_xyz'", 1),
    "constructor": (PLUGIN_SOURCE + "\n\nclass Boom(Bright):\n    def __init__(self, **kw):\n"
                    "        raise KeyError('missing setting')\n", "KeyError: 'missing setting'", None),
}


def _broken_plugin(scratch: Path, kind: str) -> str:
    source, error, line = BROKEN_MODULES[kind]
    path = write_plugin(scratch / "plugin", source)
    detector = f"{PLUGIN_MODULE}:{'Boom' if kind == 'constructor' else 'Bright'}"
    if line is None:
        line = source.splitlines().index("        raise KeyError('missing setting')") + 1
    done = cli(scratch, *run_args(tiny_dataset(scratch), scratch / "run", workers=1, detector=detector),
               env={"PYTHONPATH": plugin_path(scratch)})
    expected = f"error: detector {detector!r}: {error} (at {path}:{line})"
    if done.returncode != 2 or done.stderr.strip() != expected:
        raise FaultBroken(f"broken plug-in ({kind}): exit {done.returncode}, stderr {done.stderr.strip()[-400:]!r}; "
                          f"expected exit 2 and {expected!r}")
    return f"plug-in {kind} error: exit 2, one line naming the detector and {path.name}:{line}"


@fault("detectors")
def plugin_syntax_error(scratch: Path) -> str:
    """A syntax error in the plug-in's module: one `error:` line naming the detector and file:line, exit 2."""
    return _broken_plugin(scratch, "syntax")


@fault("detectors")
def plugin_import_error(scratch: Path) -> str:
    """The plug-in's module imports a missing package: one line naming the detector and the line, exit 2."""
    return _broken_plugin(scratch, "import")


@fault("detectors")
def plugin_constructor_raises(scratch: Path) -> str:
    """The plug-in's constructor raises: one line with the exception type and where it was raised, exit 2."""
    return _broken_plugin(scratch, "constructor")
