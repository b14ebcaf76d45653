"""Training/validation splits that never share a video, and where possible never share a person.

A frame-level split leaks the test identity into training (the target leak that took one published accuracy
from 50% to 93%); splitting by video removes same-video leakage, splitting by identity also removes
same-person leakage. Identities come from the readers' `groups`: Celeb-DF `identity` / `target_identity` /
`source_identity`, FaceForensics++ `source_id` (a fake AAA_BBB shows AAA and BBB), DFDC `original` (a fake
and its original share a person), the demo's `source` portrait.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

SPLIT_MODES = ("auto", "identity", "video")
MIN_IDENTITY_GROUPS = 5  # fewer connected groups than this cannot give a sensible validation fraction


@dataclass
class Split:
    fit: np.ndarray            # indices into the item list
    val: np.ndarray
    mode: str                  # "identity" or "video"
    reason: str = ""           # why auto chose this mode
    groups: int = 0            # connected identity groups (0 when no identities are known)
    shared_identities: list[str] = field(default_factory=list)  # identities in both parts (empty for identity)

    def describe(self) -> dict:
        return {"mode": self.mode, "reason": self.reason, "fit_videos": len(self.fit), "val_videos": len(self.val),
                "identity_groups": self.groups, "shared_identities": len(self.shared_identities)}


def identities(item) -> frozenset[str]:
    """The people a video shows, as namespaced keys ('' groups ignored); empty when the reader knows none."""
    g = item.groups or {}
    people = {g.get(k, "") for k in ("identity", "target_identity", "source_identity")}
    if g.get("source_id"):   # FF++: originals NNN; fakes AAA_BBB carry source_id AAA, the stem names BBB too
        stem = PurePosixPath(str(item.video_id)).name
        people |= {g["source_id"], *(stem.split("_")[:2] if "_" in stem else [])}
    if "original" in g:      # DFDC: a fake and its original show the same person; a real is its own original
        people.add(g["original"] or PurePosixPath(str(item.path)).name)
    if g.get("source") and not people - {""}:   # demo portraits
        people.add(g["source"])
    return frozenset(f"id:{p}" for p in people if p)


def _components(people: list[frozenset[str]]) -> list[list[int]]:
    """Videos connected by any shared identity (union-find); videos without identities stay alone."""
    parent = list(range(len(people)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, ids in enumerate(people):
        for p in ids:
            if p in owner:
                parent[find(i)] = find(owner[p])
            else:
                owner[p] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(people)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _video_split(labels: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[list, list]:
    """Stratified by class: each class gives `val_fraction` of its videos (at least one) to validation."""
    fit, val = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_val = max(1, int(round(len(idx) * val_fraction))) if len(idx) > 1 else 0
        val += idx[:n_val].tolist()
        fit += idx[n_val:].tolist()
    return fit, val


def _identity_split(components: list[list[int]], labels: np.ndarray, val_fraction: float,
                    rng: np.random.Generator) -> tuple[list, list]:
    """Whole identity groups go to validation, in random order, until each class has its share."""
    target = np.array([(labels == c).sum() * val_fraction for c in (0, 1)])
    have = np.zeros(2)
    fit, val = [], []
    for k in rng.permutation(len(components)):
        members = components[k]
        counts = np.array([(labels[members] == c).sum() for c in (0, 1)])
        # Take the group if it helps a class that is short and overshoots no class by more than half its target.
        helps = ((have < target) & (counts > 0)).any()
        if helps and ((have + counts) <= np.maximum(target * 1.5, 1)).all():
            val += members
            have += counts
        else:
            fit += members
    return fit, val


def split_videos(items: list, labels: np.ndarray, val_fraction: float, rng: np.random.Generator,
                 mode: str = "auto") -> Split:
    """Split videos into fit/validation by identity (`identity`), by video (`video`), or the first that works.

    `auto` uses identities when the dataset has at least MIN_IDENTITY_GROUPS connected groups and the split gives
    validation videos of both classes; otherwise it falls back to a video split and says why.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"unknown split mode {mode!r}; use {', '.join(SPLIT_MODES)}")
    people = [identities(item) for item in items]
    components = _components(people) if any(people) else []
    reason = ""
    if mode in ("auto", "identity"):
        if not any(people):
            reason = "the dataset gives no identities"
        elif len(components) < MIN_IDENTITY_GROUPS:
            reason = f"only {len(components)} connected identity group(s), too few to hold out {val_fraction:.0%}"
        else:
            fit, val = _identity_split(components, labels, val_fraction, rng)
            if len(set(labels[val].tolist())) == 2 and len(set(labels[fit].tolist())) == 2:
                return Split(np.array(sorted(fit)), np.array(sorted(val)), "identity",
                             f"{len(components)} identity groups", len(components))
            reason = "no identity-disjoint split has both classes in fit and validation"
        if mode == "identity":
            raise ValueError(f"cannot split by identity: {reason}; use --split-by video")
    fit, val = _video_split(labels, val_fraction, rng)
    shared = sorted(set().union(*(people[i] for i in fit)) & set().union(*(people[i] for i in val))) if fit and val else []
    return Split(np.array(sorted(fit)), np.array(sorted(val)), "video", reason or "requested", len(components), shared)
