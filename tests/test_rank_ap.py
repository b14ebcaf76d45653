"""`rank_ap`, the vectorised average precision every bootstrap resample uses, against sklearn's definition."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from benchmarks.metrics.binary import rank_ap
from benchmarks.metrics.bootstrap import replicates, resample_indices


@pytest.mark.parametrize("decimals", [1, 2, 6])
def test_equals_sklearn_with_and_without_ties(decimals):
    rng = np.random.default_rng(decimals)
    for _ in range(200):
        n = int(rng.integers(2, 80))
        y = rng.integers(0, 2, n)
        y[0] = 1
        p = np.round(rng.random(n), decimals)
        assert rank_ap(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_rows_are_resamples_and_rows_without_positives_are_nan():
    y = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]])
    p = np.array([[0.9, 0.8, 0.3, 0.1], [0.5, 0.4, 0.3, 0.2], [0.2, 0.2, 0.2, 0.2]])
    out = rank_ap(y, p)
    assert out[0] == pytest.approx(average_precision_score(y[0], p[0]))
    assert np.isnan(out[1])
    assert out[2] == pytest.approx(0.5)  # one threshold holding everything: precision 2/4 at recall 1


def test_bootstrap_replicates_match_a_per_resample_sklearn_loop():
    rng = np.random.default_rng(7)
    y, p = rng.integers(0, 2, 120), np.round(rng.random(120), 2)
    idx = resample_indices(len(y), 300, seed=3)
    reps, valid = replicates(y, p, idx, metrics=("ap",))
    expected = np.array([average_precision_score(y[i], p[i]) for i in idx])
    assert valid.all()
    np.testing.assert_allclose(reps["ap"], expected, atol=1e-12)
