"""RecurrentNetwork / FeedForwardNetwork: cells against numpy, alignment, persistence.

The contract itself is tested by tests/test_contract.py (one cell per class); here
every cell type goes through the contract-like checks cheaply (epochs=1), and the
custom cells are checked against one step computed by hand.
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from seqmodels import FeedForwardNetwork, RecurrentNetwork
from seqmodels.utils.estimator_checks import ar1_sequences

CELLS = ["simple", "lstm", "gru", "peephole_lstm", "cifg_lstm", "leaky"]
TINY = {"units": 4, "epochs": 1, "batch_size": 4, "random_state": 0}


@pytest.fixture(scope="module")
def X3():
    return ar1_sequences()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- custom cells against one step computed by hand --------------------------------------


def _random_weights(cell, rng):
    for weight in cell.weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape).astype(np.float32))
    return {w.path.split("/")[-1]: np.asarray(w.numpy(), dtype=np.float64) for w in cell.weights}


@pytest.mark.parametrize("kind", ["peephole_lstm", "cifg_lstm", "leaky"])
def test_custom_cell_one_step_matches_numpy(kind):
    from seqmodels.neural.cells import CUSTOM_CELLS

    rng = np.random.default_rng(3)
    n, d, u = 5, 3, 4
    cell = CUSTOM_CELLS[kind](u, **({"leak": 0.3} if kind == "leaky" else {}))
    cell.build((n, d))
    w = _random_weights(cell, rng)
    x = rng.normal(size=(n, d))
    h = rng.normal(size=(n, u))
    c = rng.normal(size=(n, u))
    states = [h, c] if kind != "leaky" else [h]
    out, new = cell(x.astype(np.float32), [s.astype(np.float32) for s in states])
    out, new = np.asarray(out), [np.asarray(s) for s in new]

    z = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    if kind == "peephole_lstm":
        zi, zf, zc, zo = np.split(z, 4, axis=1)
        p = w["peephole"]
        i = _sigmoid(zi + p[0] * c)
        f = _sigmoid(zf + p[1] * c)
        c_new = f * c + i * np.tanh(zc)
        o = _sigmoid(zo + p[2] * c_new)
        h_new = o * np.tanh(c_new)
        expected = [h_new, c_new]
    elif kind == "cifg_lstm":
        zf, zc, zo = np.split(z, 3, axis=1)
        f = _sigmoid(zf)
        c_new = f * c + (1.0 - f) * np.tanh(zc)
        h_new = _sigmoid(zo) * np.tanh(c_new)
        expected = [h_new, c_new]
    else:
        h_new = 0.3 * h + 0.7 * np.tanh(z)
        expected = [h_new]
    np.testing.assert_allclose(out, expected[0], rtol=1e-5, atol=1e-6)
    for got, want in zip(new, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_lstm_variant_forget_bias_starts_at_one():
    from seqmodels.neural.cells import CIFGLSTMCell, PeepholeLSTMCell

    peephole = PeepholeLSTMCell(3)
    peephole.build((1, 2))
    np.testing.assert_array_equal(np.asarray(peephole.bias.numpy()).reshape(4, 3)[1], 1.0)
    cifg = CIFGLSTMCell(3)
    cifg.build((1, 2))
    np.testing.assert_array_equal(np.asarray(cifg.bias.numpy()).reshape(3, 3)[0], 1.0)


# -- every cell through the contract's main checks ---------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_fits_predicts_forecasts_causally(cell, X3):
    est = RecurrentNetwork(cell=cell, output="gaussian", **TINY).fit(X3)
    assert est.causal
    pred = est.predict(X3)
    assert pred.shape == X3.shape and np.isfinite(pred).all()
    assert est.forecast(X3, 3).shape == (6, 3, 2)
    assert est.log_likelihood(X3).shape == (6,)
    s = 12
    changed = X3.copy()
    changed[:, s:] += 3.0
    after = est.predict(changed)
    np.testing.assert_allclose(after[:, : s + 1], pred[:, : s + 1], rtol=1e-9, atol=1e-9)
    assert not np.allclose(after[:, s + 1:], pred[:, s + 1:])
    # the first prediction is the model's prior: the same for every sequence
    np.testing.assert_allclose(pred[:, 0], pred[:1, 0].repeat(6, axis=0), rtol=1e-6)


def test_n_params_of_known_architectures(X3):
    # LSTM: 4 (d u + u^2 + u); GRU (reset_after): 3 (d u + u^2 + 2 u); head: u m + m
    d, u, m = 2, 4, 2
    counts = {
        "simple": d * u + u * u + u,
        "lstm": 4 * (d * u + u * u + u),
        "gru": 3 * (d * u + u * u + 2 * u),
        "peephole_lstm": 4 * (d * u + u * u + u) + 3 * u,
        "cifg_lstm": 3 * (d * u + u * u + u),
        "leaky": d * u + u * u + u,
    }
    for cell, expected in counts.items():
        est = RecurrentNetwork(cell=cell, **TINY).fit(X3[:2, :5])
        assert est.n_params_ == expected + u * m + m, cell
    ff = FeedForwardNetwork(window=3, **TINY).fit(X3[:2, :5])
    assert ff.n_params_ == 3 * d * u + u + u * m + m


# -- alignment ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: RecurrentNetwork(cell="gru", n_layers=2, learned_initial_state=True, **TINY),
    lambda: FeedForwardNetwork(window=4, n_layers=2, **TINY),
], ids=["rnn", "ffn"])
def test_forecast_feeds_predictions_back(make, X3):
    est = make().fit(X3)
    t = 20
    history = [X3[0, :t], X3[1, :15], X3[2]]
    steps = est.forecast(history, 3)
    for i, hist in enumerate(history):
        extended = hist
        for h in range(3):
            one_step = est.predict(np.vstack([extended, np.zeros((1, 2))])[None])[0, -1]
            np.testing.assert_allclose(steps[i][h], one_step, rtol=1e-5, atol=1e-5)
            extended = np.vstack([extended, one_step[None]])


@pytest.mark.parametrize("make", [
    lambda: RecurrentNetwork(cell="gru", n_layers=2, learned_initial_state=True, **TINY),
    lambda: FeedForwardNetwork(window=4, **TINY),
], ids=["rnn", "ffn"])
def test_long_inputs_run_compiled_with_the_eager_results(make, X3, monkeypatch):
    """Past EAGER_MAX_INFERENCE_STEPS steps predict runs Keras' compiled function:
    same numbers as the eager call, still causal; long forecasts compile the step loop."""
    from seqmodels.neural import networks

    est = make().fit(X3)
    long = ar1_sequences(n=3, T=networks.EAGER_MAX_INFERENCE_STEPS + 40, seed=5)
    inputs = est._network_inputs(est._check_X(long))
    eager = networks.run(est.model_, inputs, compiled=False)
    assert est.model_.predict_function is None
    pred = est.predict(long)
    assert est.model_.predict_function is not None            # the compiled path ran
    np.testing.assert_allclose(networks.run(est.model_, inputs), eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred, est._decode(eager, False), rtol=1e-5, atol=1e-6)
    s = 70
    changed = long.copy()
    changed[:, s:] += 3.0
    np.testing.assert_allclose(est.predict(changed)[:, : s + 1], pred[:, : s + 1],
                               rtol=1e-9, atol=1e-9)
    horizon = networks.EAGER_MAX_FORECAST_STEPS + 4
    compiled = est.forecast(long, horizon)
    monkeypatch.setattr(networks, "EAGER_MAX_FORECAST_STEPS", horizon)
    np.testing.assert_allclose(compiled, est.forecast(long, horizon), rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_predictions(X3):
    est = RecurrentNetwork(cell="lstm", **TINY).fit([X3[0, :10], X3[1], X3[2, :20]])
    ragged = [X3[0, :10], X3[1], X3[2, :20]]
    together = est.predict(ragged)
    for seq, pred in zip(ragged, together):
        np.testing.assert_allclose(pred, est.predict(seq[None])[0], rtol=1e-5, atol=1e-6)


def test_supervised_input_includes_current_step(X3):
    y = X3[..., :1] * 2.0
    est = RecurrentNetwork(cell="lstm", **TINY).fit(X3, y)
    changed = X3.copy()
    changed[:, 12] += 3.0
    before, after = est.predict(X3), est.predict(changed)
    np.testing.assert_array_equal(before[:, :12], after[:, :12])
    assert not np.allclose(before[:, 12], after[:, 12])


def test_nan_targets_are_skipped():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12, 1))
    y = np.full((40, 12, 1), np.nan)
    y[:, -1, 0] = X[:, 3, 0]          # one target per sequence, far back
    est = RecurrentNetwork(cell="gru", units=8, epochs=40, batch_size=8, learning_rate=0.02,
                           random_state=0).fit(X, y)
    assert np.isfinite(est.history_).all()
    assert est.history_[-1] < 0.5 * est.history_[0]
    assert est.score(X, y) > 0.5      # R² on the labelled steps only


# -- bidirectional -------------------------------------------------------------------------


def test_bidirectional_is_non_causal_and_refused_for_forecasting(X3):
    est = RecurrentNetwork(bidirectional=True, **TINY)
    assert est.causal is False and RecurrentNetwork.causal is True
    with pytest.raises(ValueError, match="bidirectional=True.*forecasting"):
        est.fit(X3)
    y = X3[..., :1].copy()
    est.fit(X3, y)
    changed = X3.copy()
    changed[:, 20:] += 3.0
    assert not np.allclose(est.predict(changed)[:, :20], est.predict(X3)[:, :20])
    with pytest.raises(ValueError, match="unidirectional"):
        est.gradient_norms(X3, y)


# -- tagging ---------------------------------------------------------------------------


def test_integer_targets_switch_to_tagging():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 20, 1))
    y = np.where(X[..., :1] > 0.5, 2, np.where(X[..., :1] < -0.5, 0, 1)).astype(np.int64) + 5
    est = RecurrentNetwork(cell="gru", units=8, epochs=30, batch_size=16, learning_rate=0.02,
                           random_state=0).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [5, 6, 7])
    proba = est.predict_proba(X)
    assert proba.shape == (64, 20, 3)
    np.testing.assert_allclose(proba.sum(-1), 1.0, rtol=1e-9)
    labels = est.predict(X)
    np.testing.assert_array_equal(labels[..., 0], est.classes_[proba.argmax(-1)])
    assert est.score(X, y) > 0.9
    # log_likelihood: sum_t log p(y_t | x_1..t), the cross-entropy the softmax head trains on;
    # steps labelled -1 carry no target and add nothing.
    picked = np.take_along_axis(proba, (y - 5), axis=-1)[..., 0]
    np.testing.assert_allclose(est.log_likelihood(X, y), np.log(picked).sum(axis=1), rtol=1e-5)
    partial = y.copy()
    partial[:, 10:] = -1
    np.testing.assert_allclose(est.log_likelihood(X, partial),
                               np.log(picked[:, :10]).sum(axis=1), rtol=1e-5)
    with pytest.raises(ValueError, match="not fitted on"):
        est.log_likelihood(X, np.full_like(y, 9))
    with pytest.raises(ValueError, match="return_std"):
        est.predict(X, return_std=True)


def test_forget_bias_and_recurrent_gain_set_the_initial_weights():
    X = np.random.default_rng(0).normal(size=(4, 6, 2))
    for cell, blocks, forget in (("lstm", 4, 1), ("peephole_lstm", 4, 1), ("cifg_lstm", 3, 0)):
        for value in (0.0, 2.5):
            est = RecurrentNetwork(cell=cell, units=3, epochs=0, forget_bias=value,
                                   random_state=0).fit(X)
            bias = [w.numpy() for w in est.model_.weights if w.path.endswith("/bias")][0]
            expected = np.zeros((blocks, 3))
            expected[forget] = value
            np.testing.assert_allclose(bias.reshape(blocks, 3), expected)
    est = RecurrentNetwork(cell="simple", units=6, epochs=0, recurrent_gain=3.0,
                           random_state=0).fit(X)
    kernel = [w.numpy() for w in est.model_.weights if "recurrent_kernel" in w.path][0]
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(kernel)).max(), 3.0, rtol=1e-5)
    # epochs=0: the network at its initial weights, no training history
    assert est.history_ == [] and est.n_epochs_ == 0
    with pytest.raises(ValueError, match="recurrent_gain"):
        RecurrentNetwork(recurrent_gain=0.0, epochs=0).fit(X)
    with pytest.raises(TypeError, match="forget_bias"):
        RecurrentNetwork(forget_bias="one", epochs=0).fit(X)


# -- gaussian head ----------------------------------------------------------------------


def test_gaussian_log_likelihood_matches_predictive_density(X3):
    est = RecurrentNetwork(cell="lstm", output="gaussian", **TINY).fit(X3)
    mean, std = est.predict(X3, return_std=True)
    expected = (-0.5 * np.log(2 * np.pi * std**2) - 0.5 * ((X3 - mean) / std) ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(est.log_likelihood(X3), expected, rtol=1e-10)
    point = RecurrentNetwork(cell="lstm", output="point", **TINY).fit(X3)
    assert not hasattr(point, "log_likelihood")
    with pytest.raises(ValueError, match="return_std"):
        point.predict(X3, return_std=True)


def test_gaussian_head_learns_the_noise_level():
    rng = np.random.default_rng(0)
    X = np.zeros((64, 40, 1))
    for t in range(1, 40):
        X[:, t] = 0.8 * X[:, t - 1] + 0.5 * rng.normal(size=(64, 1))
    est = FeedForwardNetwork(window=1, units=8, output="gaussian", epochs=40, batch_size=16,
                             learning_rate=0.01, random_state=0).fit(X)
    mean, std = est.predict(X, return_std=True)
    assert abs(np.median(std[:, 5:]) - 0.5) < 0.1          # true innovation std 0.5
    rms = np.sqrt(np.mean((mean[:, 5:] - 0.8 * X[:, 4:-1]) ** 2))     # the oracle's mean
    assert rms < 0.1


# -- reproducibility, isolation, persistence -------------------------------------------------


def test_same_seed_same_weights_different_seed_different(X3):
    a = RecurrentNetwork(cell="peephole_lstm", dropout=0.2, recurrent_dropout=0.2, **TINY).fit(X3)
    b = RecurrentNetwork(cell="peephole_lstm", dropout=0.2, recurrent_dropout=0.2, **TINY).fit(X3)
    for wa, wb in zip(a.model_.get_weights(), b.model_.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    c = RecurrentNetwork(cell="peephole_lstm", **{**TINY, "random_state": 1}).fit(X3)
    assert not np.allclose(c.predict(X3), a.predict(X3))


def test_fit_leaves_global_random_streams_and_other_models_alone(X3):
    first = RecurrentNetwork(cell="gru", **TINY).fit(X3)
    before = first.predict(X3)
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    FeedForwardNetwork(**TINY).fit(X3)
    RecurrentNetwork(cell="leaky", **TINY).fit(X3)
    np.testing.assert_array_equal(np.random.rand(3), expected)
    np.testing.assert_array_equal(first.predict(X3), before)


def test_pickle_and_save_load_round_trip(tmp_path, X3):
    import keras

    est = RecurrentNetwork(cell="cifg_lstm", n_layers=2, learned_initial_state=True,
                           output="gaussian", **TINY).fit(X3)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.forecast(X3, 4), est.forecast(X3, 4))
    path = tmp_path / "model.keras"
    est.save(path)
    loaded = RecurrentNetwork.load(path)
    np.testing.assert_array_equal(loaded.predict(X3), est.predict(X3))
    np.testing.assert_array_equal(loaded.log_likelihood(X3), est.log_likelihood(X3))
    np.testing.assert_array_equal(loaded.forecast(X3, 4), est.forecast(X3, 4))
    assert loaded.history_ == est.history_ and loaded.get_params() == est.get_params()
    plain = keras.saving.load_model(path, compile=False)      # an ordinary Keras file
    assert plain.count_params() == est.model_.count_params()
    with pytest.raises(ValueError, match=".keras"):
        est.save(tmp_path / "model.h5")
    with pytest.raises(ValueError, match="holds a RecurrentNetwork"):
        FeedForwardNetwork.load(path)


def test_import_does_not_load_tensorflow():
    code = "import sys, seqmodels; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- training controls and teaching hooks -----------------------------------------------------


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 15, 1))
    est = RecurrentNetwork(cell="simple", units=16, epochs=60, batch_size=4, learning_rate=0.05,
                           validation_fraction=0.3, patience=3, random_state=0).fit(X)
    assert len(est.validation_history_) == len(est.history_) == est.n_epochs_
    if est.n_epochs_ < 60:
        assert int(np.argmin(est.validation_history_)) == est.n_epochs_ - 1 - 3


def test_gradient_norms_first_lag_matches_closed_form(X3):
    y = X3[..., :1].copy()
    est = RecurrentNetwork(cell="simple", **TINY).fit(X3, y)
    norms = est.gradient_norms(X3, y)
    assert norms.shape == (30,) and np.all(norms >= 0)
    # lag 0: loss_T = (w' h_T + b - y_T)^2 in network units, so d/dh_T = 2 (yhat - y) w
    w = est.model_.get_layer("head").kernel.numpy()[:, 0].astype(np.float64)
    pred = (est.predict(X3)[:, -1, 0] - est.y_mean_[0]) / est.y_scale_[0]
    target = (y[:, -1, 0] - est.y_mean_[0]) / est.y_scale_[0]
    expected = np.mean(np.abs(2 * (pred - target)) * np.linalg.norm(w))
    np.testing.assert_allclose(norms[0], expected, rtol=1e-4)


def test_simple_rnn_gradients_vanish_with_lag():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 60, 1))
    est = RecurrentNetwork(cell="simple", units=16, epochs=1, random_state=0).fit(X)
    norms = est.gradient_norms(X)
    assert norms[40:].mean() < 1e-3 * norms[:3].mean()


@pytest.mark.parametrize("params, error, match", [
    ({"cell": "transformer"}, ValueError, "cell must be one of"),
    ({"units": 0}, ValueError, "units must be an integer >= 1"),
    ({"units": 2.5}, TypeError, "units must be an integer"),
    ({"dropout": 1.0}, ValueError, r"dropout must be a real number in \[0, 1\)"),
    ({"output": "laplace"}, ValueError, "output must be one of"),
    ({"learning_rate": 0}, ValueError, "learning_rate"),
    ({"patience": 3}, ValueError, "validation_fraction > 0"),
    ({"validation_fraction": 0.99}, ValueError, "leaves no training sequence"),
    ({"random_state": "seed"}, TypeError, "random_state"),
    ({"leak": 1.0}, ValueError, "leak"),
    ({"batch_size": "big"}, ValueError, "batch_size must be 'auto' or an integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be 'auto' or an integer >= 1"),
    ({"epochs": 2.5}, ValueError, "epochs must be an integer >= 0"),
    ({"epochs": 2.5}, TypeError, "epochs must be an integer >= 0"),
    ({"random_state": np.random.default_rng(0)}, None, None),
])
def test_bad_hyperparameters_are_named(params, error, match, X3):
    if error is None:                                   # accepted: the fit runs
        assert RecurrentNetwork(**{**TINY, **params}).fit(X3).n_params_ > 0
        return
    with pytest.raises(error, match=match):
        RecurrentNetwork(**{**TINY, **params}).fit(X3)


def test_auto_batch_size_grows_with_the_data_keeping_eight_updates_per_epoch():
    from seqmodels.neural.estimators import auto_batch_size

    assert [auto_batch_size(n) for n in (1, 100, 512, 1000, 2048, 8192, 10**6)] == \
        [64, 64, 64, 125, 256, 256, 256]


def test_unpadded_training_graph_shares_weights_and_outputs(X3):
    # Without padding the estimator trains the mask-free graph; it must compute
    # exactly what the masked graph (model_) computes on the same weights.
    from seqmodels.neural import networks

    for cell in ("lstm", "gru"):
        est = RecurrentNetwork(cell=cell, learned_initial_state=True, **TINY).fit(X3)
        graphs = networks.build(est.network_spec_)
        graphs["train"].set_weights(est.model_.get_weights())
        inputs = est._network_inputs(est._check_X(X3))
        assert networks.training_graph(graphs, inputs) is graphs["train_unpadded"]
        padded = inputs.copy()
        padded[0, -3:] = np.nan
        assert networks.training_graph(graphs, padded) is graphs["train"]
        np.testing.assert_array_equal(networks.run(graphs["train_unpadded"], inputs),
                                      networks.run(graphs["train"], inputs))


def test_feedforward_window_limits_memory(X3):
    est = FeedForwardNetwork(window=3, **TINY).fit(X3)
    changed = X3.copy()
    changed[:, 5] += 3.0
    diff = np.abs(est.predict(changed) - est.predict(X3)).max(axis=(0, 2))
    assert np.all(diff[:6] == 0) and np.all(diff[6:9] > 0) and np.all(diff[9:] == 0)
