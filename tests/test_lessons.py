"""Every lesson's claim, asserted on its quick variant run through the public engine.

A lesson that teaches something false is the worst defect this project can have. Each test
runs ``compare(suite, quick=True)`` and checks the suite's written claims against the
results, over every seed of the quick variant (never a seed picked to pass).
"""


import pytest

from seqmodels.compare import compare, oracle_gaps

pytestmark = pytest.mark.slow


def _run(name):
    results = compare(name, quick=True, progress=False)
    failed = results[results["status"] != "ok"]
    assert failed.empty, failed[["model", "error"]].to_string()
    return oracle_gaps(results)


def _by(results, model, **axes):
    rows = results[results["model"] == model]
    for column, value in axes.items():
        rows = rows[rows[column] == value]
    assert len(rows), (model, axes)
    return rows


def test_default_structure_beats_data_on_linear_tracking():
    results = _run("default")
    kalman = "Kalman, constant velocity (learned)"
    sizes = sorted(results["train_size"].unique())
    small, large = sizes[0], sizes[-1]
    # The learned Kalman filter: within a few per cent of the oracle from 10 tracks, level
    # with it (< 1 %) at the largest size, on every seed.
    assert (_by(results, kalman, train_size=small)["gap_relative"] < 0.05).all()
    assert (_by(results, kalman, train_size=large)["gap_relative"] < 0.01).all()
    # The distributed-lag regression: roughly 30 % worse at every size.
    ar = results[results["model"] == "AR, 3 lags (distributed-lag regression)"]
    assert ar["gap_relative"].between(0.15, 0.5).all()
    for network in ("MLP, window 5", "GRU(16)"):
        # One to two orders of magnitude worse than the oracle at every size ...
        assert (results[results["model"] == network]["gap_relative"] > 9).all()
        # ... and better with more tracks (mean over seeds).
        assert _by(results, network, train_size=large)["headline"].mean() < \
            _by(results, network, train_size=small)["headline"].mean()
    # Cost: the filter fits in milliseconds, the networks in seconds.
    assert results[results["model"] == kalman]["fit_seconds"].max() < 0.5
    assert _by(results, kalman, train_size=large)["n_params"].iloc[0] == 17
    assert results[results["model"] == "GRU(16)"]["fit_seconds"].min() > 0.5
