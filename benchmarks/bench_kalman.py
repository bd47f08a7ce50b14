"""The vectorised Kalman filter against filterpy, simdkalman, pykalman and statsmodels.

Lines (each side by side in one run, results checked equal first; see _harness.py):

* 1,000 sequences x 500 steps, 4-D constant-velocity state, 2-D position measurement:
  seqmodels' core (one recursion over time for all sequences) against filterpy's
  predict/update loop, pykalman's filter and statsmodels' Cython filter (each one
  sequence at a time: timed on a subset and scaled per sequence) and simdkalman
  (vectorised numpy, all sequences at once);
* one sequence of 100,000 steps against statsmodels' Cython filter: the steady
  state (frozen gain, blocks of time) against a compiled per-step loop;
* EM: 10 iterations learning Q and R on one sequence of 500 steps against
  pykalman's ``em`` (pykalman is given a leading missing measurement so that its
  first state is our x_0, the state before the first measurement: the two EMs are
  then the same algorithm and reach the same Q and R).

Scaling: the filter against the number of sequences and against the length.

Run alone: ``python benchmarks/bench_kalman.py [--quick]``. Needs the bench extra.
"""

import numpy as np

from _harness import Line, Scaling
from seqmodels import KalmanFilter
from seqmodels.inference import kalman as core
from seqmodels.state_space.motion import motion_model

FAMILY = "Kalman"


def cv_params():
    F, H, Qt, _ = motion_model("constant_velocity", 2, dt=1.0)
    return core.StateSpaceParams(F, H, 0.5 * Qt, 4.0 * np.eye(2), np.zeros(4),
                                 100.0 * np.eye(4), np.zeros(4), np.zeros(2))


def _close(a, b, rtol=1e-9):
    """Equal to ``rtol`` of the array's scale (positions of a random walk reach 1e7)."""
    a, b = np.asarray(a), np.asarray(b)
    scale = max(float(np.abs(b).max()), 1.0)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


# -- the anchors ----------------------------------------------------------------------------


def filterpy_loop(p, Z):
    from filterpy.kalman import KalmanFilter as FilterpyKF

    out = np.empty(Z.shape[:2] + (4,))
    for i in range(Z.shape[0]):
        kf = FilterpyKF(dim_x=4, dim_z=2)
        kf.F, kf.H, kf.Q, kf.R, kf.x, kf.P = p.F, p.H, p.Q, p.R, p.x0.copy(), p.P0.copy()
        for t in range(Z.shape[1]):
            kf.predict()
            kf.update(Z[i, t])
            out[i, t] = kf.x
    return out


def prior_one_step_ahead(p):
    """x_{1|0} and P_{1|0}: the first state's prior, where pykalman and statsmodels start."""
    return p.F @ p.x0 + p.b, p.F @ p.P0 @ p.F.T + p.Q


def pykalman_model(p, **kwargs):
    from pykalman import KalmanFilter as PyKF

    x1, P1 = prior_one_step_ahead(p)
    return PyKF(transition_matrices=p.F, observation_matrices=p.H, transition_covariance=p.Q,
                observation_covariance=p.R, initial_state_mean=x1, initial_state_covariance=P1,
                **kwargs)


def pykalman_loop(p, Z):
    model = pykalman_model(p)
    return np.stack([model.filter(z)[0] for z in Z])


def statsmodels_filter(p, z):
    """statsmodels' Cython filter bound to one sequence (T, d); call ``.filter()``."""
    from statsmodels.tsa.statespace.kalman_filter import KalmanFilter as SMKalman

    x1, P1 = prior_one_step_ahead(p)
    sm = SMKalman(k_endog=2, k_states=4, design=p.H, transition=p.F, selection=np.eye(4),
                  state_cov=p.Q, obs_cov=p.R)
    sm.initialize_known(x1, P1)
    sm.bind(np.asfortranarray(z.T))
    return sm


def statsmodels_loop(models):
    return [m.filter() for m in models]


def simdkalman_run(p, Z):
    import simdkalman

    skf = simdkalman.KalmanFilter(state_transition=p.F, process_noise=p.Q,
                                  observation_model=p.H, observation_noise=p.R)
    x1, P1 = prior_one_step_ahead(p)       # simdkalman's prior is the first state's
    return skf.compute(Z, 0, initial_value=x1, initial_covariance=P1, smoothed=False,
                       filtered=True, log_likelihood=True)


# -- lines ----------------------------------------------------------------------------------


def lines(quick=False):
    p = cv_params()
    rng = np.random.default_rng(0)
    n, T = 1000, 500
    _, Z = core.sample_states(p, n, T, rng)
    ours = core.kalman_filter(p, Z)
    work = n * T
    reps = 3 if quick else 5
    out = []

    def filter_many():
        return core.kalman_filter(p, Z)

    sub = 10 if quick else 20
    out.append(Line(
        "kalman.many.filterpy", FAMILY, f"filter {n:,} x {T}, 4-D state, 2-D meas.", filter_many,
        lambda: filterpy_loop(p, Z[:sub]), f"filterpy loop ({sub} seq. scaled)",
        check=lambda a, b: _close(a.filtered_mean[:sub], b), repeats=reps, target=200,
        target_text=">= 200x", work=work, work_unit="series-steps", anchor_scale=n / sub))
    out.append(Line(
        "kalman.many.simdkalman", FAMILY, f"filter {n:,} x {T}", filter_many,
        lambda: simdkalman_run(p, Z), "simdkalman (vectorised)",
        # simdkalman's log-likelihood leaves out the constant -T d log(2 pi) / 2
        check=lambda a, b: (_close(a.filtered_mean, b.filtered.states.mean, 1e-6),
                            _close(a.loglik.sum(axis=1) + T * np.log(2 * np.pi),
                                   b.log_likelihood, 1e-6)),
        repeats=reps, target=10, target_text=">= 10x", work=work, work_unit="series-steps"))
    if not quick:
        models = [statsmodels_filter(p, z) for z in Z[:100]]
        out.append(Line(
            "kalman.many.statsmodels", FAMILY, f"filter {n:,} x {T}",
            filter_many, lambda: statsmodels_loop(models), "statsmodels loop (100 scaled)",
            check=lambda a, b: _close(a.loglik[:100].sum(axis=1), [r.llf for r in b]),
            repeats=reps, work=work, work_unit="series-steps", anchor_scale=n / 100))
        out.append(Line(
            "kalman.many.pykalman", FAMILY, f"filter {n:,} x {T}", filter_many,
            lambda: pykalman_loop(p, Z[:5]), "pykalman loop (5 seq. scaled)",
            check=lambda a, b: _close(a.filtered_mean[:5], b), repeats=3, work=work,
            work_unit="series-steps", anchor_scale=n / 5))

    T1 = 100_000
    _, Z1 = core.sample_states(p, 1, T1, rng)
    sm = statsmodels_filter(p, Z1[0])
    out.append(Line(
        "kalman.long.statsmodels", FAMILY, f"filter one sequence of {T1:,} steps",
        lambda: core.kalman_filter(p, Z1), sm.filter, "statsmodels (Cython)",
        check=lambda a, b: (_close(a.filtered_mean[0].T, b.filtered_state),
                            np.testing.assert_allclose(a.loglik.sum(), b.llf, rtol=1e-9)),
        repeats=7 if quick else 9, target=1 / 1.5, target_text=">= 0.67x", work=T1,
        work_unit="steps"))
    _ = ours
    if not quick:
        out.append(_em_line(p, rng))
    return out


def _em_line(p, rng, T=500, n_iter=10):
    _, Z = core.sample_states(p, 1, T, rng)
    start_Q, start_R = 2.0 * p.Q, 0.5 * p.R
    ours = KalmanFilter(F=p.F, H=p.H, Q=start_Q, R=start_R, x0=p.x0, P0=p.P0, learn=["Q", "R"],
                        Q_covariance_type="full", R_covariance_type="full", n_iter=n_iter, tol=0.0)
    # pykalman's state 0 has no measurement (masked): it is our x_0 before the first one
    masked = np.ma.masked_all((T + 1, 2))
    masked[1:] = Z[0]
    x0 = p.x0

    def theirs():
        from pykalman import KalmanFilter as PyKF

        model = PyKF(transition_matrices=p.F, observation_matrices=p.H,
                     transition_covariance=start_Q, observation_covariance=start_R,
                     initial_state_mean=x0, initial_state_covariance=p.P0,
                     em_vars=["transition_covariance", "observation_covariance"])
        return model.em(masked, n_iter=n_iter)

    def check(a, b):
        np.testing.assert_allclose(a.Q_, b.transition_covariance, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(a.R_, b.observation_covariance, rtol=1e-6, atol=1e-9)

    return Line("kalman.em.pykalman", FAMILY, f"EM fit of Q, R: {n_iter} iterations, 1 x {T}",
                lambda: ours.fit(Z), theirs, "pykalman em", check=check, repeats=3,
                work=n_iter * T, work_unit="series-steps")


def scalings():
    """Sizes where the work outweighs the fixed per-step cost (BENCHMARKS.md, scaling)."""
    p = cv_params()

    def make(n, T):
        _, Z = core.sample_states(p, n, T, np.random.default_rng(n + T))
        return lambda: core.kalman_filter(p, Z)

    return [Scaling("kalman.scale.n", FAMILY, "filter, 50 steps, n sequences", "sequences",
                    (1000, 10_000, 100_000), lambda n: make(n, 50)),
            Scaling("kalman.scale.T", FAMILY, "filter, 100 sequences of T steps", "length",
                    (500, 5000, 50_000), lambda T: make(100, T))]


if __name__ == "__main__":
    import run

    run.main(families=["kalman"])
