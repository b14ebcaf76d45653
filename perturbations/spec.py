"""Level specs: the registry of named levels (TOML files) and inline specs (`GB:3`, `JPEG:5+GNC:2`, `df:3`).

Grammar of one level: `STEP(+STEP)*` with `STEP = TYPE[:SEVERITY][@STAGE]` or a named level's name.
Groups (only in `expand`): `all` (named levels with `in_all`), `df:all` (35 levels CS:1..VC:5),
`df:N` (the seven DF types at severity N); `df:mix` is a single level (a random mixture per video).
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from .base import STAGES, Level
from .imagenet_c import PREFIX as IC_PREFIX
from .imagenet_c import STANDARD as IC_STANDARD
from .share_presets import PRESETS, preset_params
from .steps import DF_TYPES, TYPES, Param, Step, StepType, make_step

BUILTIN_FILE = Path(__file__).with_name("levels.toml")
SPEC_HELP = ("all, df:all, df:1..df:5, df:mix, share:NAME[:N], share:all[:N], ic:all, ic:1..ic:5, "
             "ic.NAME:S, PGD:S, PGD-EOT:S, PGD:S@DETECTOR, or steps like GB:3+JPEG:5")
_SHARE = re.compile(r"^share:([A-Za-z0-9_.-]+?)(?::(\d+))?$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_LEVEL_KEYS = {"description", "steps", "in_all"}
_TYPE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # "package.module:function"
REGISTERED = "perturbations.register"  # the `source` of levels added in code


@dataclass(frozen=True)
class LevelDef:
    name: str
    description: str
    ops: tuple[Step, ...]
    in_all: bool
    source: str

    def level(self) -> Level:
        return Level(self.name, self.description, None, _descriptions(self.ops), self.ops, self.in_all)


_REGISTRY: dict[str, LevelDef] = {}


def _descriptions(ops: Iterable[Step]) -> tuple[str, ...]:
    return tuple(line for op in ops for line in op.describe())


def registry() -> dict[str, LevelDef]:
    if not _REGISTRY:
        _REGISTRY.update(_read_levels_file(BUILTIN_FILE, {}))
    return _REGISTRY


def load_levels_file(path: str | Path) -> list[str]:
    """Register the levels of a user TOML file; all-or-nothing. Returns the new names.

    Errors are one-line ValueErrors naming the file and the key, e.g.
    `my.toml: levels.blurry.steps[0]: unknown step type 'BLUR' (types: ...)`.
    """
    new = _read_levels_file(Path(path), registry())
    _REGISTRY.update(new)
    return list(new)


def register(name: str, spec: str | Sequence[Step], description: str = "", in_all: bool = True,
             replace: bool = False) -> None:
    """Add named level `name` in code (as a levels file would): `get(name)`, `expand` and `all` then know it.

    `spec` is an inline spec (`"GB:3+JPEG:5"`, step types registered with `register_step_type` included) or
    a sequence of `Step`s (`make_step`). A taken name is a ValueError unless `replace=True`. Example::

        perturbations.register("blurry-jpeg", "GB:3+JPEG:5", "blur, then JPEG at quality 10")
        perturbations.get("blurry-jpeg").apply(frames, seed)
    """
    known = registry()
    if not isinstance(name, str) or not _NAME.match(name) or name in ("all", "df") or name.upper() in TYPES:
        raise ValueError(f"level name {name!r}: letters, digits, _ . - only; not 'all', 'df' or a step type")
    if name in known and not replace:
        raise ValueError(f"level {name!r} is already defined (in {known[name].source}); pass replace=True")
    ops = parse_level(spec).ops if isinstance(spec, str) else tuple(spec)
    if not ops or not all(isinstance(op, Step) for op in ops):
        raise ValueError(f"level {name!r}: spec must be an inline spec or a non-empty sequence of Steps, got {spec!r}")
    _REGISTRY[name] = LevelDef(name, description or " + ".join(op.label() for op in ops), ops, in_all, REGISTERED)


def unregister(name: str) -> None:
    """Remove a named level (built-in, from a file, or registered); unknown names are a ValueError."""
    if name not in registry():
        raise _unknown(name)
    del _REGISTRY[name]


def register_step_type(step_type: StepType, replace: bool = False) -> None:
    """Add a step type: inline specs (`MYTYPE:3`), levels files and `make_step` then accept it.

    The implementation is a "module:function" string imported on first use, called as
    `fn(frames, rng, **params) -> (frames, drawn)` (see `steps.py`); a type that may run at the `video` stage
    also names `video_fn(src, dst, rng, **params) -> settings`. Severities are 5 parameter tables (or none,
    then specs give parameters). A taken name (or a named level's) is a ValueError unless `replace=True`.
    Example::

        perturbations.register_step_type(perturbations.StepType(
            "POSTER", "posterise to `bits` bits per channel", "my_pkg.effects:posterise",
            {"bits": perturbations.Param(int, check=lambda b: 1 <= b <= 8, hint="1-8")},
            tuple({"bits": b} for b in (6, 5, 4, 3, 2))))
        perturbations.get("POSTER:3+GB:2")
    """
    if not isinstance(step_type, StepType):
        raise ValueError(f"register_step_type takes a perturbations.StepType, got {step_type!r}")
    name = step_type.name
    where = f"step type {name!r}"
    if not isinstance(name, str) or not _TYPE_NAME.match(name) or name in ("ALL", "DF"):
        raise ValueError(f"{where}: upper-case letters, digits and _ only, starting with a letter; not ALL or DF")
    if name in TYPES and not replace:
        raise ValueError(f"{where} is already defined; pass replace=True")
    clash = [n for n in registry() if n.upper() == name]
    if clash:
        raise ValueError(f"{where}: the named level {clash[0]!r} has that name")
    for key, target in (("frame_fn", step_type.frame_fn), ("video_fn", step_type.video_fn)):
        if (target or key == "frame_fn") and not (isinstance(target, str) and _FUNCTION.match(target)):
            raise ValueError(f"{where}: {key} must be 'package.module:function', got {target!r}")
    if not step_type.stages or not set(step_type.stages) <= set(STAGES):
        raise ValueError(f"{where}: stages must be some of {', '.join(STAGES)}, got {step_type.stages!r}")
    if ("video" in step_type.stages) != bool(step_type.video_fn):
        raise ValueError(f"{where}: a video_fn is needed exactly when 'video' is one of its stages")
    if not all(isinstance(p, Param) for p in step_type.params.values()):
        raise ValueError(f"{where}: params must map names to perturbations.Param")
    for i, table in enumerate(step_type.severities, 1):
        for key, value in table.items():
            if key not in step_type.params:
                raise ValueError(f"{where}: severity {i} sets unknown parameter {key!r}")
            try:
                step_type.params[key].validate(value)
            except ValueError as exc:
                raise ValueError(f"{where}: severity {i}: parameter {key!r} {exc}") from None
    TYPES[name] = step_type


def unregister_step_type(name: str) -> None:
    """Remove a step type (levels already built with it keep working); unknown names are a ValueError."""
    if name not in TYPES:
        raise ValueError(f"unknown step type {name!r} (types: {', '.join(TYPES)})")
    del TYPES[name]


def _read_levels_file(path: Path, existing: dict[str, LevelDef]) -> dict[str, LevelDef]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read levels file: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    extra = set(data) - {"levels"}
    if extra or not isinstance(data.get("levels"), dict):
        raise ValueError(f"{path}: expected only a [levels.NAME] table per level"
                         + (f"; unknown top-level key {sorted(extra)[0]!r}" if extra else ""))
    out: dict[str, LevelDef] = {}
    for name, body in data["levels"].items():
        where = f"{path}: levels.{name}"
        if not _NAME.match(name) or name in ("all", "df") or name.upper() in TYPES:
            raise ValueError(f"{where}: bad level name (letters, digits, _ . - only; not 'all' or a step type)")
        reloaded = name in existing and _same_file(existing[name].source, path)
        if name in existing and not reloaded:
            raise ValueError(f"{where}: duplicate level name (already defined in {existing[name].source})")
        if not isinstance(body, dict):
            raise ValueError(f"{where}: must be a table with description and steps")
        unknown = set(body) - _LEVEL_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key {sorted(unknown)[0]!r} (keys: {', '.join(sorted(_LEVEL_KEYS))})")
        steps = body.get("steps")
        if not isinstance(steps, list):
            raise ValueError(f"{where}.steps: missing or not a list of step tables")
        ops: list[Step] = []
        for i, raw in enumerate(steps):
            try:
                ops.extend(_step_from_table(raw, {**existing, **out}))
            except ValueError as exc:
                raise ValueError(f"{where}.steps[{i}]: {exc}") from None
        description = body.get("description", "")
        in_all = body.get("in_all", True)
        if not isinstance(description, str) or not isinstance(in_all, bool):
            raise ValueError(f"{where}: description must be a string and in_all a boolean")
        out[name] = LevelDef(name, description or " + ".join(op.label() for op in ops), tuple(ops), in_all,
                             existing[name].source if reloaded else str(path))
        if reloaded and out[name] != existing[name]:
            raise ValueError(f"{where}: changed since this file was loaded; one process cannot hold both versions")
    return out


def _same_file(source: str, path: Path) -> bool:
    """Loading a file again (the CLI, then `benchmarks.run` or a worker) is a no-op, not a duplicate."""
    try:
        return Path(source).resolve() == path.resolve()
    except OSError:
        return False


def _step_from_table(raw: Any, known: dict[str, LevelDef]) -> list[Step]:
    if not isinstance(raw, dict):
        raise ValueError(f"must be a table like {{ type = \"GB\", severity = 3 }}, got {raw!r}")
    raw = dict(raw)
    if "level" in raw and len(raw) == 1:
        if isinstance(raw["level"], str) and raw["level"].startswith("share:"):
            return [_share_step(raw["level"], None)]  # a sharing preset: { level = "share:whatsapp:3" }
        if raw["level"] not in known:
            raise ValueError(f"unknown level {raw['level']!r}")
        return list(known[raw["level"]].ops)
    step_type = raw.pop("type", None)
    if not isinstance(step_type, str):
        raise ValueError("missing step type (type = \"GB\", ...)")
    severity = raw.pop("severity", None)
    stage = raw.pop("stage", None)
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    return [make_step(step_type, severity, raw, stage)]


# --- inline specs -------------------------------------------------------------------------

GROUPS = ("all", "df:all", "df:mix")  # spec words beyond the named levels and step types, for suggestions


def _suggest(word: str, candidates: Iterable[str]) -> str:
    """"did you mean 'heavy'?" for a near miss (case-insensitive), else ''."""
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=2, cutoff=0.6)
    return f"did you mean {' or '.join(repr(by_lower[c]) for c in close)}?" if close else ""


def _unknown(token: str, detail: str = "", suggestion: str = "") -> ValueError:
    known = ", ".join(registry())
    return ValueError(f"unknown perturbation level {token!r}{': ' + detail if detail else ''}; "
                      f"{suggestion + ' ' if suggestion else ''}available: {known}, {SPEC_HELP}")


def _unknown_word(spec: str, token: str) -> ValueError:
    """An unknown word in a spec: a level name when it has no ':' (`heavvy`), else a step type (`BLUR:3`); either way
    with the nearest known names, so a misspelled level is not reported as only an unknown step type."""
    word, sep, _ = token.partition(":")
    if word.lower() == "df":
        groups = ["df:all", "df:mix", *(f"df:{n}" for n in range(1, 6))]
        return _unknown(spec, "not a DeeperForensics group (df:all, df:mix, df:1..df:5)", _suggest(token, groups))
    if sep or "+" in spec:
        return _unknown(spec, f"unknown step type {word!r} (types: {', '.join(TYPES)})", _suggest(word, TYPES))
    return _unknown(spec, "neither a named level nor a step type", _suggest(word, [*registry(), *GROUPS, *TYPES]))


def _inline_step(token: str) -> tuple[str, list[Step]]:
    body, _, stage = token.partition("@")
    attack = TYPES.get(body.partition(":")[0].upper())
    if stage and attack is not None and attack.detector_dependent:  # PGD:3@meso: computed on a surrogate
        step = make_step(attack.name, int(body.partition(":")[2]) if body.partition(":")[2].isdigit() else None)
        surrogate = attack.params["surrogate"].validate(stage)
        step = replace(step, params=tuple((k, surrogate if k == "surrogate" else v) for k, v in step.params))
        return step.label(), [step]
    if stage and stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    if body in registry() and not stage:
        return body, list(registry()[body].ops)
    if body.startswith("share:"):
        step = _share_step(body, stage or None)
        return step.label(), [step]
    type_name, sep, severity_text = body.partition(":")
    if type_name not in TYPES and type_name.upper() not in TYPES:
        raise KeyError(type_name)
    severity = None
    if sep:
        if not re.fullmatch(r"\d+", severity_text):
            raise ValueError(f"severity must be an integer 1-5, got {severity_text!r}")
        severity = int(severity_text)
    step = make_step(type_name, severity, None, stage or None)
    return step.label(), [step]


def _share_step(body: str, stage: str | None) -> Step:
    """`share:NAME[:N]`: a built-in preset, or a named level made of one SHARE step (a `fit-share` levels file),
    applied N times (re-shares)."""
    match = _SHARE.match(body)
    if not match or match.group(1) == "all":
        raise ValueError(f"{body!r}: use share:NAME or share:NAME:N (N re-shares) with a preset "
                         f"({', '.join(PRESETS)}); share:all is a group")
    name, times = match.group(1), int(match.group(2) or 1)
    if name in PRESETS:
        return make_step("SHARE", None, preset_params(name, times), stage)
    fitted = registry().get(name)
    if fitted is not None and len(fitted.ops) == 1 and fitted.ops[0].type.name == "SHARE":
        return make_step("SHARE", None, {**dict(fitted.ops[0].params), "times": times}, stage)
    raise ValueError(f"unknown sharing preset {name!r} (presets: {', '.join(PRESETS)}; or a loaded level made of "
                     f"one SHARE step, as `levels fit-share` writes)")


def parse_level(spec: str) -> Level:
    """The Level for one single-level spec (named, inline, or df:mix); groups are an error here."""
    spec = spec.strip()
    if spec in registry():
        return registry()[spec].level()
    if spec == "df:mix":
        ops = (make_step("DFMIX"),)
        return Level("df:mix", "DeeperForensics-1.0 mixture: 2-4 random DF distortions at random severities per video",
                     None, _descriptions(ops), ops, False)
    if spec in ("all", "df:all") or re.fullmatch(r"(df:\d+|ic:\d+|ic:all|share:all(:\d+)?)", spec) or "," in spec:
        raise ValueError(f"{spec!r} is a group of levels: use perturbations.expand({spec!r})")
    if not spec:
        raise _unknown(spec)
    names, ops = [], []
    for token in spec.split("+"):
        try:
            label, steps = _inline_step(token.strip())
        except KeyError:
            raise _unknown_word(spec, token.strip()) from None
        except ValueError as exc:
            raise ValueError(f"bad perturbation level {spec!r}: {exc}") from None
        names.append(label)
        ops.extend(steps)
    name = "+".join(names)
    return Level(name, " then ".join(f"{op.label()}: {_summary(op)}" for op in ops), None, _descriptions(ops),
                 tuple(ops), False)


def _summary(op: Step) -> str:
    """The type's summary; a sharing preset's own description (which names its source) for `share:NAME`."""
    params = dict(op.params)
    if op.type.name == "SHARE" and op.label().startswith("share:") and params["platform"] in PRESETS:
        times = params["times"]
        return PRESETS[params["platform"]].description + (f"; applied {times} times" if times > 1 else "")
    return op.type.summary


def expand_specs(spec: str | Iterable[str]) -> list[str]:
    """Comma-separated specs (or a list of them) -> canonical level names, `none` first, no repeats."""
    text = spec if isinstance(spec, str) else ",".join(spec)
    names: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token == "all":
            names.extend(n for n, d in registry().items() if d.in_all)
        elif token == "df:all":
            names.extend(f"{t}:{s}" for t in DF_TYPES for s in range(1, 6))
        elif re.fullmatch(r"share:all(:\d+)?", token):
            times = token[len("share:all"):]
            names.extend(parse_level(f"share:{p}{times}").name for p in PRESETS)
        elif token == "ic:all":  # the 15 standard corruptions x 5 severities: the mCE's grid
            names.extend(f"{IC_PREFIX}{c}:{s}" for c in IC_STANDARD for s in range(1, 6))
        elif re.fullmatch(r"ic:\d+", token):
            severity = int(token[3:])
            if not 1 <= severity <= 5:
                raise ValueError(f"bad perturbation level {token!r}: ImageNet-C severities are 1-5")
            names.extend(f"{IC_PREFIX}{c}:{severity}" for c in IC_STANDARD)
        elif re.fullmatch(r"df:\d+", token):
            severity = int(token[3:])
            if not 1 <= severity <= 5:
                raise ValueError(f"bad perturbation level {token!r}: DeeperForensics severities are 1-5")
            names.extend(f"{t}:{severity}" for t in DF_TYPES)
        else:
            names.append(parse_level(token).name)
    return list(dict.fromkeys(["none"] + [n for n in names if n != "none"]))
