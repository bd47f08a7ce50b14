"""The vectorised Kalman filter against filterpy, simdkalman and statsmodels, side by side.

1. 1,000 sequences x 500 steps, 4-D constant-velocity state, 2-D position measurement:
   seqmodels' core (one recursion over time for all sequences) against filterpy's
   predict/update loop (timed on a subset of sequences and scaled per sequence) and
   simdkalman (vectorised numpy). Results are checked equal before timing.
2. One sequence of 100,000 steps: microseconds per step of seqmodels next to
   statsmodels' Cython Kalman filter on the same model.

Prints ratios (anchor time / seqmodels time); > 1 means seqmodels is faster.
Needs the bench extra (simdkalman, statsmodels).
"""


import numpy as np
from _timing import best_of
from filterpy.kalman import KalmanFilter as FilterpyKF

from seqmodels.state_space import _core
from seqmodels.state_space.motion import motion_model


def cv_params():
    F, H, Qt, _ = motion_model("constant_velocity", 2, dt=1.0)
    return _core.StateSpaceParams(F, H, 0.5 * Qt, 4.0 * np.eye(2), np.zeros(4),
                                  100.0 * np.eye(4), np.zeros(4), np.zeros(2))


def filterpy_loop(p, Z):
    out = np.empty(Z.shape[:2] + (4,))
    for i in range(Z.shape[0]):
        kf = FilterpyKF(dim_x=4, dim_z=2)
        kf.F, kf.H, kf.Q, kf.R, kf.x, kf.P = p.F, p.H, p.Q, p.R, p.x0.copy(), p.P0.copy()
        for t in range(Z.shape[1]):
            kf.predict()
            kf.update(Z[i, t])
            out[i, t] = kf.x
    return out


def main():
    p = cv_params()
    rng = np.random.default_rng(0)
    _, Z = _core.sample_states(p, 1000, 500, rng)

    ours = best_of(lambda: _core.kalman_filter(p, Z))
    res = _core.kalman_filter(p, Z)

    subset = 20
    ref = filterpy_loop(p, Z[:subset])
    assert np.allclose(ref, res.filtered_mean[:subset], rtol=1e-9, atol=1e-9)
    fp = best_of(lambda: filterpy_loop(p, Z[:subset]), repeat=1) * (Z.shape[0] / subset)

    print("1,000 sequences x 500 steps, 4-D state, 2-D measurement")
    print(f"  seqmodels core           {ours * 1e3:9.1f} ms")
    print(f"  filterpy loop (scaled)   {fp * 1e3:9.1f} ms   ratio {fp / ours:7.1f}x")
    try:
        import simdkalman
    except ImportError:
        print("  simdkalman not installed (pip install '.[bench]')")
    else:
        skf = simdkalman.KalmanFilter(state_transition=p.F, process_noise=p.Q,
                                      observation_model=p.H, observation_noise=p.R)
        # simdkalman's prior is the state at step 1 (no predict first): give it x_{1|0}
        init_x = p.F @ p.x0
        init_P = p.F @ p.P0 @ p.F.T + p.Q

        def run_simd():
            return skf.compute(Z, 0, initial_value=init_x, initial_covariance=init_P,
                               smoothed=False, filtered=True, log_likelihood=True)

        simd = run_simd()
        assert np.allclose(simd.filtered.states.mean, res.filtered_mean, rtol=1e-6, atol=1e-6)
        t_simd = best_of(run_simd)
        print(f"  simdkalman               {t_simd * 1e3:9.1f} ms   ratio {t_simd / ours:7.1f}x")

    T = 100_000
    _, Z1 = _core.sample_states(p, 1, T, rng)
    t_one = best_of(lambda: _core.kalman_filter(p, Z1))
    print(f"one sequence of {T:,} steps")
    print(f"  seqmodels core           {t_one / T * 1e6:9.2f} us/step")
    try:
        from statsmodels.tsa.statespace.kalman_filter import KalmanFilter as SMKalman
    except ImportError:
        print("  statsmodels not installed")
        return
    # statsmodels' x_{t|t-1} at t=1 is its initial state: give it the predicted prior.
    sm = SMKalman(k_endog=2, k_states=4, design=p.H, transition=p.F, selection=np.eye(4),
                  state_cov=p.Q, obs_cov=p.R)
    sm.initialize_known(p.F @ p.x0, p.F @ p.P0 @ p.F.T + p.Q)
    sm.bind(np.asfortranarray(Z1[0].T))
    out = sm.filter()
    ll_ours = _core.kalman_filter(p, Z1).loglik.sum()
    assert np.isclose(out.llf_obs.sum(), ll_ours, rtol=1e-8)
    t_sm = best_of(lambda: sm.filter())
    print(f"  statsmodels (Cython)     {t_sm / T * 1e6:9.2f} us/step   ratio {t_sm / t_one:7.2f}x")


if __name__ == "__main__":
    main()
