"""The numerical cores of every model family: pure functions over arrays.

One module per family, as dynamax keeps ``linear_gaussian_ssm/inference.py``:

* :mod:`seqmodels.inference.autoregressive` -- lag tensors, least squares, stationary
  moments, multi-step predictors and forecasts of a vector autoregression;
* :mod:`seqmodels.inference.hmm` -- emission densities, the scaled forward recursion,
  smoothing, Viterbi, forecasts and sampling of a hidden Markov model;
* :mod:`seqmodels.inference.hmm_fit` -- its fits without EM (counting on labelled
  states, mixtures per state), degenerate-state repair and parameter counts (EM runs in
  hmmlearn, through :mod:`seqmodels.hmmlearn_bridge`);
* :mod:`seqmodels.inference.kalman` -- the Kalman filter, the RTS smoother, EM
  statistics and M-step, readout and forecasts of the linear-Gaussian state-space model;
* :mod:`seqmodels.inference.kalman_fit` -- its fits: EM, maximum likelihood, least
  squares on true states, starting values, and the likelihood optimiser the sigma-point
  filters share;
* :mod:`seqmodels.inference.recursion` -- the blocked linear recursion the steady-state
  Kalman filter runs on;
* :mod:`seqmodels.inference.reservoir` -- the echo-state network: random reservoirs, the
  state recursion, the closed-form ridge readout and free-run forecasts;
* :mod:`seqmodels.inference.sigma_points` -- the unscented transform, the unscented
  Kalman filter and the interacting multiple model filter;
* :mod:`seqmodels.inference.extended` -- the extended Kalman filter (the nonlinear
  functions for the means, their Jacobians for the covariances);
* :mod:`seqmodels.inference.counting` -- the context counter: online Beta-Bernoulli
  counts of each context over binary sequences, the exact log-likelihood from the
  final counts and exact multi-step forecasts.

Every function takes and returns arrays (parameters and results as named tuples), runs
one recursion over time for all sequences at once, and keeps no state. The estimator
classes (:class:`seqmodels.AutoRegressive`, :class:`seqmodels.HiddenMarkovModel`,
:class:`seqmodels.KalmanFilter`, ...) validate their input, call these functions and
store what they return.
"""
