"""Every fault case of tools/faults as a test: the fault is committed for real and the promised outcome checked."""
from __future__ import annotations

import pytest

from tools.faults import cases

CASES = cases()


def test_every_area_has_cases():
    areas = {case.area for case in CASES}
    assert areas, "no fault cases registered"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fault_case(case, tmp_path_factory):
    scratch = tmp_path_factory.mktemp(case.name.replace(".", "-"))
    outcome = case.check(scratch)
    assert outcome.strip(), f"{case.name} reported no outcome"
