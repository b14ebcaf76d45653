"""Graded levels and the published robustness summaries built on them (LipForensics table, ImageNet-C CE).

A level is graded when it is ONE step of a type at a severity, named by its inline spec (`GB:3`, `JPEG:2`): the
perturbations package's own parser decides, so a combined level (`JPEG:5+GNC:2`), a named level (`heavy`) or a
pinned stage never passes for a severity of some type. Published definitions, with E = 1 - AUC:

- LipForensics (Haliassos et al. 2021): per type the mean AUC over the five DeeperForensics severities, Avg = mean
  over the seven DF types, Drop = Avg - Clean. Only types with every severity enter Avg; other graded types
  (real JPEG, H.265, geometry ...) are summarised apart and never enter it.
- ImageNet-C (Hendrycks & Dietterich 2019): CE_t = sum_s E_t,s / sum_s E^ref_t,s; relative CE_t =
  sum_s (E_t,s - E_clean) / sum_s (E^ref_t,s - E^ref_clean); mCE and relative mCE are means over the complete DF
  types, and `ic_mce` / `ic_relative_mce` the same over the 15 standard ImageNet-C types (`ic.NAME:S`, family
  `imagenet-c`): with all 15 complete (`ic_mce_complete`) that is the paper's mCE, the error being 1 - AUC instead
  of top-1 error. The 4 held-out ImageNet-C types (`imagenet-c-held-out`) get a CE but never enter an mCE.
  `auc_ratio` (level AUC / clean AUC) is neither and is named for what it is.
- Attack levels (`PGD:S`, `PGD-EOT:S`) are not corruptions: never graded here, kind `adversarial` (`level_kind`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

import perturbations
from reports.run_files import LEVEL_KINDS

CLEAN = "none"
DF = "df"          # family of the DeeperForensics-1.0 types: the published table's columns
OTHER = "other"    # any other graded type: its own table, never in the DF Avg
IC = "imagenet-c"  # the 15 standard ImageNet-C corruptions: the ImageNet-C mCE
IC_HELD_OUT = "imagenet-c-held-out"  # its 4 held-out corruptions: CE only
IC_STANDARD = tuple(f"ic.{name}" for name in perturbations.IC_STANDARD)
IC_HELD = tuple(f"ic.{name}" for name in perturbations.IC_HELD_OUT)


def level_kind(level: str) -> str:
    """`clean`, `adversarial` (a level ending with an attack) or `corruption` (anything else, names this process
    does not know included): `LEVEL_KINDS`, written per level to metrics.json for the report's tables."""
    if level == CLEAN:
        return LEVEL_KINDS[0]
    try:
        return LEVEL_KINDS[2] if perturbations.is_attack(perturbations.get(level)) else LEVEL_KINDS[1]
    except ValueError:
        return LEVEL_KINDS[1]


@dataclass(frozen=True)
class Graded:
    """What a graded level is: its type (with `@stage` when pinned), severity, family and the type's severities."""

    type: str
    severity: int
    family: str
    n_severities: int


def graded_level(level: str) -> Graded | None:
    """The Graded of a single-step `TYPE:SEVERITY` level; None for anything else, or for a name this process's
    perturbations package does not know (a step type registered only in the run's process)."""
    if level == CLEAN:
        return None
    try:
        parsed = perturbations.get(level)
    except ValueError:
        return None
    if len(parsed.ops) != 1 or parsed.ops[0].severity is None or parsed.ops[0].label() != level:
        return None
    op = parsed.ops[0]
    if op.type.detector_dependent:
        return None
    kind = op.type.name + (f"@{op.stage}" if op.stage else "")
    family = DF if op.type.name in perturbations.DF_TYPES and not op.stage else OTHER
    if not op.stage and op.type.name in IC_STANDARD + IC_HELD:
        family = IC if op.type.name in IC_STANDARD else IC_HELD_OUT
    return Graded(kind, op.severity, family, len(op.type.severities))


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals and len(vals) == len(values) else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def type_table(levels: dict[str, float | None]) -> dict[str, dict]:
    """Per graded type of one detector's {level: AUC}: family, severities present, expected count, complete,
    mean AUC over the severities present, and {severity: level name}."""
    by_type: dict[str, dict[int, str]] = defaultdict(dict)
    info: dict[str, Graded] = {}
    for lv in levels:
        graded = graded_level(lv)
        if graded:
            by_type[graded.type][graded.severity] = lv
            info[graded.type] = graded
    out = {}
    order = {t: i for i, t in enumerate(perturbations.DF_TYPES)}  # the published column order, then the others
    for kind in sorted(by_type, key=lambda t: (info[t].family != DF, order.get(t, 0), t)):
        sev = dict(sorted(by_type[kind].items()))
        expected = info[kind].n_severities
        out[kind] = {"family": info[kind].family, "severities": list(sev), "expected": expected,
                     "complete": set(sev) == set(range(1, expected + 1)),
                     "mean": _mean([levels[lv] for lv in sev.values()]),
                     "levels": {str(s): lv for s, lv in sev.items()}}
    return out


def corruption_errors(kind: dict, levels: dict[str, float | None],
                      reference: dict[str, float | None]) -> tuple[float | None, float | None]:
    """(CE, relative CE) of one type against the reference detector's AUCs, over the type's severities in this
    run; None where an AUC is missing or the reference's error (degradation) sum is not positive."""
    mine = [levels.get(lv) for lv in kind["levels"].values()]
    ref = [reference.get(lv) for lv in kind["levels"].values()]
    if any(v is None for v in mine + ref):
        return None, None
    ce = _ratio(sum(1 - v for v in mine), sum(1 - v for v in ref))
    clean, ref_clean = levels.get(CLEAN), reference.get(CLEAN)
    if clean is None or ref_clean is None:
        return ce, None
    return ce, _ratio(sum(clean - v for v in mine), sum(ref_clean - v for v in ref))


def summarise(auc: dict[str, dict[str, float | None]], reference: str | None) -> dict:
    """Per detector: AUC change and AUC ratio per level; per graded type its mean and completeness; the published
    Avg/Drop over the complete DF types; CE, relative CE, mCE and relative mCE against `reference` when it is in
    `auc` (`auc[detector][level]` is the video AUC, None when undefined)."""
    out: dict = {"reference": reference if reference in auc else None, "df_types": list(perturbations.DF_TYPES),
                 "detectors": {}}
    for det, levels in auc.items():
        clean = levels.get(CLEAN)
        per_level = {}
        for lv, a in levels.items():
            if lv == CLEAN:
                continue
            ratio = None if a is None or not clean else a / clean
            per_level[lv] = {"auc": a, "drop": None if a is None or clean is None else clean - a,
                             "change": None if a is None or clean is None else a - clean,
                             "auc_ratio": ratio, "relative": ratio}
        kinds = type_table(levels)
        in_avg = [t for t, k in kinds.items() if k["family"] == DF and k["complete"]]
        avg = _mean([kinds[t]["mean"] for t in in_avg]) if in_avg else None
        entry = {"clean": clean, "levels": per_level, "types": {t: k["mean"] for t, k in kinds.items()},
                 "type_info": kinds, "avg": avg, "avg_types": in_avg,
                 "avg_complete": set(in_avg) == set(perturbations.DF_TYPES),
                 "drop": None if avg is None or clean is None else clean - avg,
                 "avg_change": None if avg is None or clean is None else avg - clean}
        if kinds and out["reference"]:
            errors = {t: corruption_errors(k, levels, auc[reference]) for t, k in kinds.items()}
            entry["ce"] = {t: e[0] for t, e in errors.items()}
            entry["relative_ce"] = {t: e[1] for t, e in errors.items()}
            entry["mce"] = _mean([entry["ce"][t] for t in in_avg]) if in_avg else None
            entry["relative_mce"] = _mean([entry["relative_ce"][t] for t in in_avg]) if in_avg else None
            entry["mce_types"] = in_avg
            ic_types = [t for t, k in kinds.items() if k["family"] == IC and k["complete"]]
            entry["ic_mce"] = _mean([entry["ce"][t] for t in ic_types]) if ic_types else None
            entry["ic_relative_mce"] = _mean([entry["relative_ce"][t] for t in ic_types]) if ic_types else None
            entry["ic_mce_types"] = ic_types
            entry["ic_mce_complete"] = set(ic_types) == set(IC_STANDARD)
        out["detectors"][det] = entry
    return out
