"""Seq2SeqNetwork and its layers (issue #21, item 3): the direct multiple-output strategy.

References: ``predict`` and ``forecast`` (within the decoder's horizon and past it,
block by block) against the encoder-decoder equations written out in NumPy from the
network's weights, with and without attention; the teacher-forced inputs and the
targets of every origin against their definition on a tiny array; the masked loss over
4-D targets against a NumPy mean over the observed entries; the parameter count against
the architecture's closed form. Causality beyond the contract's check: in training mode
with dropout, every teacher-forced output reads only inputs before its own target.
The contract itself runs in tests/test_contract.py (default: no attention, dropout 0.1
from ``_unit_test_params``); here its checks that attention touches run on the attention
variant. Networks are tiny and most tests use ``epochs=0`` (the seeded initial weights).
"""

import functools
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqmodels import Seq2SeqNetwork
from seqmodels.neural.recurrent import CELLS
from seqmodels.utils.estimator_checks import ar1_sequences, check_estimator

X_TRAIN = ar1_sequences(4, 20, 2, seed=0)


def _model(**params):
    base = dict(cell="simple", units=6, horizon=3, epochs=0, batch_size=4, random_state=0)
    return Seq2SeqNetwork(**{**base, **params})


@functools.lru_cache(maxsize=None)
def _fitted(**params):
    return _model(**params).fit(X_TRAIN)


def _numpy(variable):
    return np.asarray(variable.numpy(), dtype=np.float64)


# -- the graph against its equations ------------------------------------------------------------


def _reference(model, X, horizon):
    """``predict(X)`` and ``forecast(X, horizon)`` of a one-layer simple-cell network, in NumPy.

    encoder ``e_t = tanh(u_t W + e_{t-1} U + b)`` over ``u_t = x_{t-1}`` (``u_0 = 0``);
    from origin t: ``s_0 = tanh(e_t B + c)``, ``s_k = tanh(v_k W' + s_{k-1} U' + b')`` with
    ``v_1 = u_t`` and ``v_k`` the previous mean; with attention the context
    ``sum_{s <= t} softmax(score(s_k, e_s)) e_s`` joins ``s_k`` before the head. Past the
    decoder's H steps, its means go through the encoder and it starts again.
    """
    net = model.model_
    W, U, b = (_numpy(w) for w in net.get_layer("recurrent_encoder_0").weights)
    Wd, Ud, bd = (_numpy(w) for w in net.get_layer("recurrent_decoder_0").weights)
    B, c = (_numpy(w) for w in net.get_layer("bridge_0_0").weights)
    Wh, bh = (_numpy(w) for w in net.get_layer("head").weights)
    score = model.network_spec_["attention"]
    if score is not None:
        layer = net.get_layer("attention").attention
        Wq, Wk = _numpy(layer.query_kernel), _numpy(layer.key_kernel)
        v = _numpy(layer.score_vector) if score == "additive" else None
    H = model.network_spec_["horizon"]

    def head(s, keys):
        if score is None:
            return s @ Wh + bh
        q, k = s @ Wq, keys @ Wk                                   # (n, a), (n, S, a)
        if score == "dot":
            scores = np.einsum("na,nsa->ns", q, k) / np.sqrt(q.shape[-1])
        else:
            scores = np.tanh(q[:, None] + k) @ v
        a = np.exp(scores - scores.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        context = np.einsum("ns,nsd->nd", a, keys)
        return np.concatenate([s, context], axis=-1) @ Wh + bh

    def decode(first, e, keys, steps):
        s, x, out = np.tanh(e @ B + c), first, []
        for _ in range(steps):
            s = np.tanh(x @ Wd + s @ Ud + bd)
            x = head(s, keys)
            out.append(x)
        return out

    z = (X - model.x_mean_) / model.x_scale_
    n, T, f = z.shape
    u = np.concatenate([np.zeros((n, 1, f)), z], axis=1)           # u_0 .. u_T
    e, E = np.zeros((n, W.shape[1])), []
    for t in range(T + 1):
        e = np.tanh(u[:, t] @ W + e @ U + b)
        E.append(e)
    E = np.stack(E, axis=1)
    predict = np.stack([decode(u[:, t], E[:, t], E[:, :t + 1], 1)[0] for t in range(T)], axis=1)
    steps, first, keys = [], u[:, T], E
    while len(steps) < horizon:
        block = decode(first, e, keys, H)
        steps.extend(block)
        for mean in block:                                          # the encoder reads them
            e = np.tanh(mean @ W + e @ U + b)
            keys = np.concatenate([keys, e[:, None]], axis=1)
        first = block[-1]
    forecast = np.stack(steps[:horizon], axis=1)
    unscale = model.x_scale_, model.x_mean_
    return predict * unscale[0] + unscale[1], forecast * unscale[0] + unscale[1]


@pytest.mark.parametrize("attention", [None, "additive", "dot"])
def test_predict_and_forecast_follow_the_encoder_decoder_equations(attention):
    model = _fitted(attention=attention)
    X = ar1_sequences(3, 9, 2, seed=3)
    predict, forecast = _reference(model, X, 8)                    # 8 > H = 3: three blocks
    np.testing.assert_allclose(model.predict(X), predict, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.forecast(X, 8), forecast, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.forecast(X, 2), forecast[:, :2], rtol=1e-4, atol=1e-5)


def test_teacher_forced_inputs_and_targets_of_every_origin():
    """Origin t: decoder step k reads ``x_{t+k-2}`` (``x_{t-1}`` at step 1) and emits ``x_{t+k-1}``;
    NaN targets past each end; the inputs there are 0."""
    from seqmodels.neural.decoder import DecoderWindows

    model = _fitted()
    X = [np.arange(1.0, 6.0)[:, None], np.arange(11.0, 14.0)[:, None]]   # lengths 5 and 3
    batch = model._check_X([np.hstack([x, -x]) for x in X])
    z = (batch.values - model.x_mean_) / model.x_scale_
    targets = model._network_targets(batch, None)
    assert targets.shape == (2, 5, 3, 2)
    u = model._network_inputs(batch)
    windows = np.asarray(DecoderWindows(3)(u)).reshape(2, 5, 3, 2)
    for i, length in enumerate((5, 3)):
        for t in range(5):
            for k in range(1, 4):                                  # decoder step k
                target = t + k - 1
                if t < length and target < length:
                    np.testing.assert_allclose(targets[i, t, k - 1], z[i, target], rtol=1e-6)
                else:
                    assert np.isnan(targets[i, t, k - 1]).all()
                read = t + k - 2
                # u has x_0 .. x_{length-2}: x_{length-1} is nobody's input (no step after it)
                expected = 0.0 if read < 0 or read >= length - 1 else z[i, read]
                np.testing.assert_allclose(windows[i, t, k - 1], expected, rtol=1e-6, atol=1e-7)


def test_the_loss_averages_over_the_observed_targets_of_every_origin_and_step():
    from seqmodels.neural import networks

    model = _fitted(output="gaussian")
    batch = model._check_X([X_TRAIN[0, :7], X_TRAIN[1], X_TRAIN[2, :12]])
    inputs, targets = model._network_inputs(batch), model._network_targets(batch, None)
    out = networks.run(model.model_, inputs)                       # (n, T, H, 2 f)
    loss = float(networks.MaskedSequenceLoss("gaussian")(targets, out))
    mean, variance = out[..., :2], np.logaddexp(0.0, out[..., 2:]) + networks.VARIANCE_FLOOR
    nll = 0.5 * (np.log(2 * np.pi * variance) + (targets - mean) ** 2 / variance)
    observed = np.isfinite(targets)
    assert observed.sum() == 2 * sum(length - k for length in (7, 20, 12) for k in range(3))
    assert loss == pytest.approx(nll[observed].mean(), rel=1e-5)
    trained = _model(output="gaussian", epochs=2).fit([X_TRAIN[0, :7], X_TRAIN[1]])
    assert np.isfinite(trained.history_).all() and np.isfinite(trained.predict(X_TRAIN)).all()


@pytest.mark.parametrize("attention", [None, "additive"])
def test_n_params_is_the_architecture_closed_form(attention):
    model = _fitted(cell="lstm", n_layers=2, output="gaussian", attention=attention)
    u, f = 6, 2
    lstm = lambda n_in: 4 * (n_in * u + u * u + u)                 # noqa: E731
    bridges = 2 * 2 * (u * u + u)                                   # [h, c] of each layer
    width = u if attention is None else 2 * u
    heads = 2 * (width * f + f)
    extra = 0 if attention is None else 2 * u * u + u               # W_q, W_k, v
    assert model.n_params_ == 2 * (lstm(f) + lstm(u)) + bridges + heads + extra


# -- causality -------------------------------------------------------------------------------


def test_teacher_forced_outputs_read_nothing_from_their_own_target_on_in_training_mode():
    """With dropout active (``training=True``): the output of step k from origin t (the
    estimate of ``x_{t+k-1}``) gets no gradient from network inputs after ``u_{t+k-1} =
    x_{t+k-2}``, with attention too; step 1 from origin t reads ``u_0 .. u_t`` only."""
    import tensorflow as tf

    model = _fitted(dropout=0.5, attention="additive", cell="gru")
    u = tf.constant(np.random.default_rng(2).normal(size=(8, 12, 2)), tf.float32)
    for t, k in ((0, 1), (4, 1), (4, 3), (9, 2)):
        with tf.GradientTape() as tape:
            tape.watch(u)
            out = model.model_(u, training=True)
            total = tf.reduce_sum(out[:, t, k - 1] ** 2)
        grad = tape.gradient(total, u).numpy()
        assert np.all(grad[:, t + k:] == 0.0), (t, k)
        assert np.abs(grad[:, t + k - 1]).sum() > 0                # its last input counts


def test_predict_is_causal_after_training_with_dropout():
    model = _model(dropout=0.3, attention="additive", epochs=2).fit(X_TRAIN)
    before = model.predict(X_TRAIN)
    for s in (1, 8, 15):
        X = X_TRAIN.copy()
        X[:, s:] += np.random.default_rng(s).normal(scale=3.0, size=X[:, s:].shape)
        after = model.predict(X)
        np.testing.assert_allclose(after[:, :s + 1], before[:, :s + 1], rtol=1e-9, atol=1e-9)
        assert not np.allclose(after[:, s + 1:], before[:, s + 1:])


# -- forecasting -----------------------------------------------------------------------------


def test_forecast_is_the_decoder_running_free_not_predict_iterated():
    """Step 1 is predict's next step; step 2 is the decoder's own, which predict iterated on
    the step-1 mean (the recursive strategy) does not give."""
    model = _fitted(cell="gru", attention="dot")
    mean = model.forecast(X_TRAIN, 3)
    grown = np.concatenate([X_TRAIN, mean[:, :1], np.zeros_like(mean[:, :1])], axis=1)
    iterated = model.predict(grown)
    np.testing.assert_allclose(mean[:, 0], iterated[:, 20], rtol=1e-5, atol=1e-6)
    assert np.abs(mean[:, 1] - iterated[:, 21]).min() > 1e-4
    assert np.abs(np.diff(mean, axis=1)).min() > 1e-5                 # the steps move


@pytest.mark.parametrize("attention", [None, "additive"])
def test_past_the_horizon_the_forecast_continues_from_its_own_means(attention):
    """``forecast(X, h > H)``: the first H steps are ``forecast(X, H)``; the next H are the
    forecast of X extended by them (the encoder reads them as if observed), for unequal
    lengths too; up to 10,000 steps."""
    model = _fitted(attention=attention, output="gaussian")
    history = [X_TRAIN[0, :6], X_TRAIN[1], X_TRAIN[2, :13]]
    mean, std = model.forecast(history, 7, return_std=True)
    first, first_std = model.forecast(history, 3, return_std=True)
    for i, x in enumerate(history):
        np.testing.assert_allclose(mean[i][:3], first[i], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(std[i][:3], first_std[i], rtol=1e-6, atol=1e-7)
        grown = np.vstack([x, first[i]])
        again = model.forecast(grown[None], 4)[0]
        np.testing.assert_allclose(mean[i][3:], again, rtol=1e-4, atol=1e-5)
    assert (np.concatenate(std) > 0).all()
    long = model.forecast(X_TRAIN[:2], 40)                          # compiled past 16 steps
    np.testing.assert_allclose(long[:, :7], model.forecast(X_TRAIN[:2], 7), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="horizon=10001 is above the limit of 10,000 steps"):
        model.forecast(X_TRAIN, 10_001)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_encodes_and_decodes(cell):
    """LSTM cells bridge ``[h, c]``; the clockwork decoder's clock starts at 0 at each origin."""
    model = _model(cell=cell, units=8).fit(X_TRAIN)
    n_states = {"lstm": 2, "peephole_lstm": 2, "cifg_lstm": 2, "clockwork": 2}.get(cell, 1)
    bridges = [layer.name for layer in model.model_.layers if layer.name.startswith("bridge_")]
    assert len(bridges) == (1 if cell == "clockwork" else n_states)
    grown = np.concatenate([X_TRAIN, np.zeros_like(X_TRAIN[:, :1])], axis=1)
    forecast = model.forecast(X_TRAIN, 5)
    assert np.isfinite(forecast).all()
    np.testing.assert_allclose(forecast[:, 0], model.predict(grown)[:, 20], rtol=1e-5, atol=1e-6)


# -- attention weights -----------------------------------------------------------------------


def test_attention_weights_are_the_first_steps_softmax_over_the_prefix():
    model = _fitted(attention="additive")
    X = ar1_sequences(2, 6, 2, seed=4)
    weights = model.attention_weights(X)
    assert weights.shape == (2, 6, 6)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(np.triu(weights, 1) == 0.0)
    assert model.attention_weights(X, per_head=True).shape == (2, 1, 6, 6)
    # the weights the NumPy reference uses: softmax_s(v^T tanh(W_q s_1 + W_k e_s)), s <= t
    net = model.model_
    layer = net.get_layer("attention").attention
    W, U, b = (_numpy(w) for w in net.get_layer("recurrent_encoder_0").weights)
    Wd, Ud, bd = (_numpy(w) for w in net.get_layer("recurrent_decoder_0").weights)
    B, c = (_numpy(w) for w in net.get_layer("bridge_0_0").weights)
    z = (X - model.x_mean_) / model.x_scale_
    u = np.concatenate([np.zeros((2, 1, 2)), z[:, :-1]], axis=1)
    e, E = np.zeros((2, 6)), []
    for t in range(6):
        e = np.tanh(u[:, t] @ W + e @ U + b)
        E.append(e)
    E = np.stack(E, axis=1)
    for t in range(6):
        s = np.tanh(u[:, t] @ Wd + np.tanh(E[:, t] @ B + c) @ Ud + bd)
        scores = np.tanh((s @ _numpy(layer.query_kernel))[:, None]
                         + E[:, :t + 1] @ _numpy(layer.key_kernel)) @ _numpy(layer.score_vector)
        a = np.exp(scores - scores.max(axis=1, keepdims=True))
        np.testing.assert_allclose(weights[:, t, :t + 1], a / a.sum(axis=1, keepdims=True),
                                   rtol=1e-4, atol=1e-6)
    assert not hasattr(_fitted(), "attention_weights")
    with pytest.raises(TypeError, match="per_head must be True or False"):
        model.attention_weights(X, per_head="yes")


def test_the_contract_checks_attention_touches_pass_with_attention_and_dropout():
    """check_estimator's own checks, unchanged, on the attention variant (the default variant
    runs them all in tests/test_contract.py)."""
    touched = {"check_causal_forecasting", "check_attention_weights", "check_forecast",
               "check_sequences_are_independent", "check_log_likelihood",
               "check_pickle_round_trip"}
    estimator = Seq2SeqNetwork(cell="gru", attention="additive", horizon=2, epochs=1)
    ran = []
    for est, check in check_estimator(estimator, generate_only=True):
        if check.func.__name__ in touched:
            check(est)
            ran.append(check.func.__name__)
    assert set(ran) == touched
    assert est.dropout > 0                                          # from _unit_test_params


# -- persistence -----------------------------------------------------------------------------


def _everything(model, X):
    mean, std = model.predict(X, return_std=True)
    out = [mean, std, model.forecast(X, 5), model.log_likelihood(X)]
    if model.attention is not None:
        out.append(model.attention_weights(X))
    return out


@pytest.mark.parametrize("attention", [None, "additive"])
def test_save_load_and_pickle_give_identical_predictions(tmp_path, attention):
    model = _model(cell="lstm", output="gaussian", attention=attention, dropout=0.2,
                   epochs=1).fit(X_TRAIN)
    X = X_TRAIN[:, :12]
    expected = _everything(model, X)
    path = tmp_path / "seq2seq.keras"
    model.save(path)
    for copy in (Seq2SeqNetwork.load(path), pickle.loads(pickle.dumps(model))):
        assert copy.get_params() == model.get_params()
        for got, want in zip(_everything(copy, X), expected):
            np.testing.assert_array_equal(got, want)
    if attention is None:
        return
    # A fresh process, where nothing has imported the decoder's layers yet, loads it in
    # Keras' safe mode.
    script = textwrap.dedent(f"""
        import numpy as np
        from seqmodels import Seq2SeqNetwork
        model = Seq2SeqNetwork.load({str(path)!r})
        print(repr(float(model.forecast(np.asarray({X[0].tolist()!r})[None], 5)[0, -1, 0])))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert float(out.strip().splitlines()[-1]) == pytest.approx(expected[2][0, -1, 0], abs=1e-6)


# -- training --------------------------------------------------------------------------------


def test_learns_a_sines_multi_step_forecast_better_than_the_mean():
    """Sines of random phase (period 12 steps): after a short training the five-step forecast
    beats predicting the mean at every step, and the seeded fit repeats exactly."""
    rng = np.random.default_rng(0)

    def sines(n):
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
        return np.sin(2 * np.pi * np.arange(30)[None, :, None] / 12 + phase)

    X, X_test = sines(32), sines(16)
    params = dict(cell="gru", units=12, horizon=5, epochs=12, batch_size=8,
                  learning_rate=0.01, random_state=0)
    model = Seq2SeqNetwork(**params).fit(X)
    forecast = model.forecast(X_test[:, :25], 5)
    rmse = np.sqrt(((forecast - X_test[:, 25:]) ** 2).mean(axis=(0, 2)))
    baseline = np.sqrt(((X_test[:, 25:] - X.mean()) ** 2).mean(axis=(0, 2)))
    assert (rmse < 0.3 * baseline).all(), (rmse, baseline)
    assert model.history_[-1] < 0.5 * model.history_[0]
    np.testing.assert_array_equal(Seq2SeqNetwork(**params).fit(X).forecast(X_test[:, :25], 5),
                                  forecast)


# -- bad input -------------------------------------------------------------------------------


def test_bad_hyperparameters_and_targets_are_refused_naming_the_argument():
    y = X_TRAIN[..., :1]
    with pytest.raises(ValueError, match=r"Seq2SeqNetwork forecasts only.*y must be None"):
        _model().fit(X_TRAIN, y)
    with pytest.raises(ValueError, match=r"y must be None \(got integer class labels y\)"):
        _model().fit(X_TRAIN, (y > 0).astype(np.int64))
    with pytest.raises(ValueError, match="horizon must be"):
        _model(horizon=0).fit(X_TRAIN)
    with pytest.raises(ValueError, match="attention must be"):
        _model(attention="multiplicative").fit(X_TRAIN)
    with pytest.raises(ValueError, match="cell must be"):
        _model(cell="transformer").fit(X_TRAIN)
    with pytest.raises(ValueError, match=r"units \(3\) must be at least the number of clockwork"):
        _model(cell="clockwork", units=3).fit(X_TRAIN)
    model = _fitted()
    assert not hasattr(model, "predict_proba")
    with pytest.raises(ValueError, match="y must be None"):
        model.score(X_TRAIN, y)
    with pytest.raises(TypeError, match="horizon must be a positive integer"):
        model.forecast(X_TRAIN, 2.5)
