"""The fault-case registry (tools/faults) is complete and well formed. The cases themselves are committed for real by
`python -m tools.fault_injection`, which CI runs (.ci/run); each area's promises are also tested directly, case by
case, in tests/test_detector_faults.py, test_cache_integrity.py, test_run_folder_integrity.py, test_signals.py and
test_input_faults.py, so running the cases here again would double the slowest part of the suite."""
from __future__ import annotations

import inspect

from tools.faults import AREAS, cases

CASES = cases()


def test_every_area_has_cases_and_every_case_says_what_it_checks():
    assert {case.area for case in CASES} == set(AREAS)
    for case in CASES:
        assert case.name.startswith(f"{case.area}.")
        assert len(case.doc) > 20, f"{case.name}: the docstring must state the fault and the promised outcome"
        assert list(inspect.signature(case.check).parameters) == ["scratch"], case.name


def test_the_script_selects_by_area_and_refuses_an_empty_selection(capsys):
    from tools.fault_injection import main

    assert main(["-k", "no-such-case"]) == 2
    assert "no fault case selected" in capsys.readouterr().err
