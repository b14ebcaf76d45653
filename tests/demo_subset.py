"""A few demo videos as a `folder` dataset (copies), for end-to-end runs that must stay short on 2 CPU cores."""
from __future__ import annotations

import shutil
from pathlib import Path

import datasets


def demo_subset(root: Path, per_class: int) -> Path:
    """`per_class` real and `per_class` fake demo test videos under root/real and root/fake."""
    items = list(datasets.open("demo", None, split="test"))
    for label, folder in ((0, "real"), (1, "fake")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for item in [i for i in items if i.label == label][:per_class]:
            shutil.copy(item.path, root / folder / Path(item.path).name)
    return root
