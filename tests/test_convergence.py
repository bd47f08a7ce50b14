"""The convergence monitor shared by every iterative fit (seqmodels/utils/convergence.py)."""

import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hl
from sklearn.exceptions import ConvergenceWarning

from seqmodels.utils.convergence import ConvergenceMonitor, ConvergenceResult


def test_rule_is_the_gain_per_observation_below_tol():
    monitor = ConvergenceMonitor("Est", n_iter=10, tol=1e-3, n_obs=200)
    # threshold: 1e-3 * 200 = 0.2 nats in one iteration
    assert [monitor.record(v) for v in (-500.0, -400.0, -399.7, -399.55)] == \
        [False, False, False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = monitor.finish()
    assert result == ConvergenceResult([-500.0, -400.0, -399.7, -399.55], 4, True)


def test_a_decrease_stops_but_a_nan_does_not():
    monitor = ConvergenceMonitor("Est", n_iter=10, tol=0.0, n_obs=1)
    assert not monitor.record(-10.0) and not monitor.record(float("nan"))
    assert not monitor.record(-9.0)
    assert monitor.record(-9.5)  # EM should never decrease: stop


def test_the_limit_warns_naming_estimator_limit_change_and_remedy():
    monitor = ConvergenceMonitor("KalmanFilter", n_iter=3, tol=1e-6, n_obs=100)
    for value in (-300.0, -290.0, -289.5):
        monitor.record(value)
    with pytest.warns(ConvergenceWarning) as record:
        result = monitor.finish()
    assert result.converged is False and result.n_iter == 3
    message = str(record[0].message)
    for part in ("KalmanFilter", "EM stopped at its iteration limit n_iter=3",
                 "+0.5 (+0.005 per observation)", "tol=1e-06 per observation",
                 "raise n_iter or loosen tol"):
        assert part in message
    assert record[0].filename == __file__  # the first frame outside the package


def test_an_optimiser_verdict_replaces_the_rule():
    monitor = ConvergenceMonitor("UKF", n_iter=5, n_obs=10, method="the L-BFGS-B optimiser")
    for value in (-50.0, -40.0, -39.0):
        assert not monitor.record(value)  # no tol: the optimiser decides
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert monitor.finish(converged=True, n_iter=3).converged
    with pytest.warns(ConvergenceWarning, match=r"stopped after 3 of n_iter=5 iterations before "
                      r"converging \(optimiser: ABNORMAL\).*check the data.*raise n_iter\."):
        result = monitor.finish(converged=False, n_iter=3, reason="ABNORMAL")
    assert not result.converged
    with pytest.warns(ConvergenceWarning, match="fewer than two iterations"):
        ConvergenceMonitor("UKF", n_iter=0).finish(converged=False)


def test_hmmlearn_tol_is_the_total_gain_and_bridges_to_the_same_verdict():
    """hmmlearn stops when L_k - L_{k-1} < its tol; ours is that, per observation."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, (300, 1)), rng.normal(2, 1, (300, 1))])
    tol, n_obs = 1e-5, len(X)
    ref = hl.GaussianHMM(2, n_iter=500, tol=tol * n_obs, random_state=0).fit(X)
    history = list(ref.monitor_.history)
    assert 2 < len(history) < 500
    monitor = ConvergenceMonitor("HMM", n_iter=500, tol=tol, n_obs=n_obs)
    assert monitor.record_all(history)
    # the verdict is reached exactly where hmmlearn stopped, not one iteration earlier
    early = ConvergenceMonitor("HMM", n_iter=500, tol=tol, n_obs=n_obs)
    assert not early.record_all(history[:-1])
    # hmmlearn calls a fit that ran out of iterations converged; the monitor does not
    capped = hl.GaussianHMM(2, n_iter=2, tol=0.0, random_state=0).fit(X)
    assert capped.monitor_.converged
    bridged = ConvergenceMonitor("HMM", n_iter=2, tol=0.0, n_obs=n_obs)
    assert not bridged.record_all(capped.monitor_.history)
    with pytest.warns(ConvergenceWarning, match="n_iter=2"):
        assert not bridged.finish().converged
