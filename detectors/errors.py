"""Why a detector could not be built, in one line that names it and the file at fault (torch-free, so the
package face can raise it before any model code is imported)."""
from __future__ import annotations

import importlib.util
import sys
import traceback
from typing import Any

__all__ = ["CheckpointError", "DetectorLoadError", "load_error"]


class CheckpointError(ValueError):
    """A weight file that cannot be loaded into the chosen detector (one line, names the file)."""


class DetectorLoadError(ValueError):
    """A plug-in or registered detector whose module or constructor failed (import error, syntax error, an
    exception while building it). A ValueError, so the CLI prints `error: <message>` and exits 2; the original
    exception is chained (`--debug` shows its traceback)."""


def load_error(name: str, exc: BaseException, target: Any) -> DetectorLoadError:
    """`detector 'NAME': <ExceptionType>: message (at FILE:LINE)`, the place in the detector's own module
    (`target`: "module:attr" or the factory) when the traceback passes through it, else that module's file."""
    if isinstance(exc, SyntaxError):
        message, where = exc.msg, f"{exc.filename}:{exc.lineno}" if exc.filename else _module_file(target)
    else:
        message, where = " ".join(str(exc).split()) or "(no message)", _place(exc, _module_file(target))
    return DetectorLoadError(f"detector {name!r}: {type(exc).__name__}: {message}" + (f" (at {where})" if where else ""))


def _module_file(target: Any) -> str | None:
    module = target.split(":")[0] if isinstance(target, str) else getattr(target, "__module__", None)
    if not module:
        return None
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, "__file__", None):
        return loaded.__file__
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError, SyntaxError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


def _place(exc: BaseException, module_file: str | None) -> str | None:
    """The last traceback line inside `module_file` (where the detector's own code failed), else the file."""
    if module_file is None:
        return None
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == module_file]
    return f"{module_file}:{frames[-1].lineno}" if frames else module_file
