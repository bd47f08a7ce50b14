"""TransformerNetwork and its layers (issue #21, item 1).

References: the attention layer against a hand-written NumPy
``softmax(Q K^T / sqrt(d) + M) V`` with the same weights; the sinusoidal encodings
against the closed form of Vaswani et al. (2017); the parameter count against the
architecture's closed form; ``forecast`` against iterating ``predict`` by hand.
Causality is tested beyond the contract's check: for several windows, in training mode
with dropout (gradients), and the exact receptive field ``n_layers (window - 1) + 1``.
Networks are tiny and most tests use ``epochs=0`` (the architecture at its seeded
initial weights): what they test is the graph, not the training.
"""

import functools
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqmodels import TransformerNetwork
from seqmodels.utils.estimator_checks import ar1_sequences

X_TRAIN = ar1_sequences(4, 20, 2, seed=0)


def _model(**params):
    base = dict(units=8, n_heads=2, n_layers=2, epochs=0, batch_size=4, random_state=0)
    return TransformerNetwork(**{**base, **params})


@functools.lru_cache(maxsize=None)
def _fitted(mode="forecast", **params):
    model = _model(**params)
    if mode == "forecast":
        return model.fit(X_TRAIN)
    if mode == "labels":
        return model.fit(X_TRAIN, (X_TRAIN[..., :1] > 0).astype(np.int64))
    return model.fit(X_TRAIN, X_TRAIN[..., :1] - 0.5 * X_TRAIN[..., 1:])


# -- the layers against their equations ------------------------------------------------------


def _numpy_attention(x, weights, n_heads, window):
    """``concat_h(softmax(Q_h K_h^T / sqrt(d) + M) V_h) W_O + b_O``, written out in NumPy."""
    Wq, bq, Wk, bk, Wv, bv, Wo, bo = [w.astype(np.float64) for w in weights]
    x = x.astype(np.float64)
    n, T, units = x.shape
    d = units // n_heads
    Q, K, V = x @ Wq + bq, x @ Wk + bk, x @ Wv + bv
    t, s = np.arange(T)[:, None], np.arange(T)[None, :]
    visible = (s <= t) & ((s > t - window) if window is not None else True)
    M = np.where(visible, 0.0, -np.inf)
    heads = []
    for h in range(n_heads):
        q, k, v = (A[..., h * d:(h + 1) * d] for A in (Q, K, V))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d) + M
        scores -= scores.max(axis=-1, keepdims=True)
        A = np.exp(scores)
        A /= A.sum(axis=-1, keepdims=True)
        heads.append(A @ v)
    return np.concatenate(heads, axis=-1) @ Wo + bo


@pytest.mark.parametrize("window", [None, 1, 3, 4, 20])   # 1, 3, 4: in blocks (11 > 2 w)
def test_attention_layer_matches_numpy_softmax_attention(window):
    from seqmodels.neural.attention import CausalSelfAttention

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 11, 8)).astype(np.float32)
    layer = CausalSelfAttention(8, n_heads=2, window=window)
    layer.build(x.shape)
    weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32)
               for w in layer.get_weights()]
    layer.set_weights(weights)  # query, key, value kernels and biases, then the output's
    out = np.asarray(layer(x))
    np.testing.assert_allclose(out, _numpy_attention(x, weights, 2, window),
                               rtol=1e-5, atol=1e-5)

    # One cached step from the keys and values of the first 5 steps gives row 5 of the above.
    _, K, V = layer(x, return_cache=True)
    slots = 11
    cache = [np.pad(np.asarray(C)[:, :5], ((0, 0), (0, slots - 5), (0, 0))) for C in (K, V)]
    position = np.full((3, 1), 5, np.int32)
    step, K_new, _ = layer([x[:, 5:6], position, *cache])
    np.testing.assert_allclose(np.asarray(step)[:, 0], out[:, 5], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(K_new)[:, :6], np.asarray(K)[:, :6], atol=1e-6)


@pytest.mark.parametrize("units", [6, 7, 32])
def test_sinusoidal_encodings_follow_the_closed_form(units):
    from seqmodels.neural.attention import PositionEncoding, sinusoidal_encoding

    p = np.arange(200)[:, None].astype(np.float64)
    i = np.arange(units)[None, :]
    angle = p / 10000.0 ** (2 * (i // 2) / units)
    expected = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))  # PE(p, 2i), PE(p, 2i + 1)
    got = np.asarray(sinusoidal_encoding(np.arange(200), units))
    np.testing.assert_allclose(got, expected, atol=2e-5)   # float32 angles up to 200 rad
    layer = PositionEncoding("sinusoidal")
    np.testing.assert_allclose(np.asarray(layer(np.zeros((2, 200, units), np.float32)))[1],
                               expected, atol=2e-5)


@pytest.mark.parametrize("positions, output", [("sinusoidal", "point"), ("learned", "gaussian")])
def test_n_params_is_the_architecture_closed_form(positions, output):
    model = _fitted(position_encoding=positions, output=output, ff_units=12)
    u, f, d, L = 8, 12, 2, 2
    per_block = 4 * (u * u + u) + 2 * (2 * u) + (u * f + f) + (f * u + u)
    heads = (2 if output == "gaussian" else 1) * (u * d + d)
    table = 20 * u if positions == "learned" else 0   # one row per step of the longest sequence
    assert model.n_params_ == (d * u + u) + table + L * per_block + 2 * u + heads
    assert model.network_spec_["max_length"] == (20 if positions == "learned" else None)
    assert _fitted().network_spec_["ff_units"] == 4 * 8


# -- causality -------------------------------------------------------------------------------


def _perturbed(X, start, stop=None):
    out = X.copy()
    out[:, start:stop] += np.random.default_rng(1).normal(scale=3.0, size=out[:, start:stop].shape)
    return out


@pytest.mark.parametrize("window", [None, 1, 2, 5])
@pytest.mark.parametrize("mode", ["forecast", "supervised"])
def test_changing_the_future_leaves_earlier_predictions_unchanged(window, mode):
    model = _fitted(mode, window=window, dropout=0.3)
    before = model.predict(X_TRAIN)
    for s in (1, 7, 15):
        after = model.predict(_perturbed(X_TRAIN, s))
        keep = s + 1 if mode == "forecast" else s
        np.testing.assert_allclose(after[:, :keep], before[:, :keep], rtol=1e-9, atol=1e-9)
        assert not np.allclose(after[:, keep:], before[:, keep:])


def test_causal_in_training_mode_with_dropout():
    """With dropout active (``training=True``) no gradient flows from later inputs to earlier
    outputs."""
    import tensorflow as tf

    model = _fitted("supervised", dropout=0.5, window=4)
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 16, 2)), tf.float32)
    for s in (3, 10):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = model.model_(x, training=True)
            total = tf.reduce_sum(out[:, :s] ** 2)
        grad = tape.gradient(total, x).numpy()
        assert np.all(grad[:, s:] == 0.0)
        assert np.abs(grad[:, :s]).sum() > 0


@pytest.mark.parametrize("window, n_layers", [(1, 1), (2, 2), (3, 2), (4, 1), (2, 3)])
@pytest.mark.parametrize("mode", ["forecast", "supervised"])
def test_receptive_field_is_n_layers_times_window_minus_one_plus_one(window, n_layers, mode):
    """``predict[:, t]`` reads exactly the inputs ``t - L (w - 1) .. t`` (one step earlier when
    forecasting)."""
    model = _fitted(mode, window=window, n_layers=n_layers)
    X = ar1_sequences(3, 20, 2, seed=3)
    base = model.predict(X)
    reach = n_layers * (window - 1)
    lag = 1 if mode == "forecast" else 0       # forecasting reads x_{t-1} at t
    for t in (12, 19):
        oldest = t - lag - reach                # the oldest input the output at t reads
        older = model.predict(_perturbed(X, 0, oldest))
        np.testing.assert_allclose(older[:, t], base[:, t], rtol=1e-9, atol=1e-9)
        edge = model.predict(_perturbed(X, oldest, oldest + 1))
        assert np.all(np.abs(edge[:, t] - base[:, t]).max(axis=-1) > 1e-7)


# -- lengths, padding, forecasting --------------------------------------------------------------


@pytest.mark.parametrize("positions, window", [("sinusoidal", None), ("none", None),
                                               ("sinusoidal", 4)])
def test_runs_on_sequences_longer_than_any_in_training(positions, window):
    """70 steps: the compiled prediction path (and, with a window, the blocks in it)."""
    model = _fitted(position_encoding=positions, window=window)
    X_long = ar1_sequences(2, 70, 2, seed=4)
    long = model.predict(X_long)
    assert long.shape == (2, 70, 2) and np.isfinite(long).all()
    np.testing.assert_allclose(long[:, :20], model.predict(X_long[:, :20]), rtol=1e-5, atol=1e-6)
    assert np.isfinite(model.forecast(X_long, 5)).all()


def test_learned_positions_refuse_sequences_past_the_longest_training_sequence():
    model = _fitted(position_encoding="learned", window=3)
    X_long = [X_TRAIN[0], ar1_sequences(1, 21, 2, seed=5)[0]]
    with pytest.raises(ValueError, match=r"X\[1\] has 21 steps, but TransformerNetwork\("
                                         r"position_encoding='learned'\) has positions for at "
                                         r"most 20 steps"):
        model.predict(X_long)
    with pytest.raises(ValueError, match=r"forecast\(X, horizon=6\) from X\[0\] of 15 steps "
                                         r"needs 21 positions.* at most 20 steps"):
        model.forecast(X_TRAIN[:, :15], 6)
    assert model.forecast(X_TRAIN[:, :15], 5).shape == (4, 5, 2)
    assert model.predict(X_TRAIN).shape == X_TRAIN.shape


@pytest.mark.parametrize("params, lengths, horizon", [
    (dict(window=None), (4, 9, 20), 18),           # 18 > 16 steps: the compiled path
    (dict(window=3), (4, 9, 20), 18),
    (dict(position_encoding="learned", n_layers=1), (4, 2), 16),   # up to the 20 positions
])
def test_forecast_is_predict_iterated_on_its_own_means(params, lengths, horizon):
    """The cached steps give what rerunning the network on the extended sequence gives."""
    model = _model(output="gaussian", epochs=2, **params).fit(X_TRAIN)
    history = [X_TRAIN[i, :length] for i, length in enumerate(lengths)]
    mean, std = model.forecast(history, horizon, return_std=True)
    for i, x in enumerate(history):
        grown, means, stds = x, [], []
        for _ in range(horizon):
            m, s = model.predict(np.vstack([grown, np.zeros((1, 2))])[None], return_std=True)
            means.append(m[0, -1])
            stds.append(s[0, -1])
            grown = np.vstack([grown, m[0, -1:]])
        np.testing.assert_allclose(mean[i], np.array(means), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(std[i], np.array(stds), rtol=1e-4, atol=1e-5)


def test_unequal_lengths_are_masked_like_the_other_networks():
    """Tagging with a window: a padded batch gives each sequence what it gets alone."""
    model = _fitted("labels", window=3, position_encoding="learned")
    batch = [X_TRAIN[0, :5], X_TRAIN[1], X_TRAIN[2, :13]]
    proba = model.predict_proba(batch)
    for i, x in enumerate(batch):
        np.testing.assert_allclose(proba[i], model.predict_proba(x[None])[0], rtol=1e-5,
                                   atol=1e-6)
        assert proba[i].shape == (len(x), 2)
    np.testing.assert_allclose(proba[1].sum(axis=-1), 1.0, rtol=1e-6)


def test_units_must_be_a_multiple_of_n_heads():
    with pytest.raises(ValueError, match=r"units=10 must be a multiple of n_heads=4"):
        _model(units=10, n_heads=4).fit(X_TRAIN)
    with pytest.raises(ValueError, match="position_encoding must be"):
        _model(position_encoding="rotary").fit(X_TRAIN)
    with pytest.raises(ValueError, match="window must be"):
        _model(window=0).fit(X_TRAIN)


# -- persistence ----------------------------------------------------------------------------


def _everything(model, X):
    mean, std = model.predict(X, return_std=True)
    return [mean, std, model.forecast(X, 3), model.log_likelihood(X),
            model.attention_weights(X, per_head=True)]


def test_save_load_and_pickle_give_identical_predictions(tmp_path):
    model = _model(output="gaussian", position_encoding="learned", window=4, dropout=0.2,
                   epochs=2).fit(X_TRAIN)
    X = X_TRAIN[:, :12]
    expected = _everything(model, X)
    path = tmp_path / "transformer.keras"
    model.save(path)
    for copy in (TransformerNetwork.load(path), pickle.loads(pickle.dumps(model))):
        assert copy.get_params() == model.get_params()
        for got, want in zip(_everything(copy, X), expected):
            np.testing.assert_array_equal(got, want)
    # A fresh process, where nothing has imported the attention layers yet, loads it in
    # Keras' safe mode.
    script = textwrap.dedent(f"""
        import numpy as np
        from seqmodels import TransformerNetwork
        model = TransformerNetwork.load({str(path)!r})
        print(repr(float(model.predict(np.asarray({X[0].tolist()!r})[None])[0, -1, 0])))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert float(out.strip().splitlines()[-1]) == pytest.approx(expected[0][0, -1, 0], abs=1e-6)


# -- attention weights ------------------------------------------------------------------------


def _numpy_weights(model, X):
    """Weights ``softmax(Q K^T / sqrt(d) + M)`` of the first block, from the fitted weights."""
    net = model.model_
    x = np.nan_to_num((X - model.x_mean_) / model.x_scale_)
    W, b = net.get_layer("embedding").get_weights()
    z = x @ W + b
    if model.position_encoding == "sinusoidal":
        from seqmodels.neural.attention import sinusoidal_encoding
        z = z + np.asarray(sinusoidal_encoding(np.arange(X.shape[1]), model.units))
    block = net.get_layer("block_0")
    gamma, beta = block.norm_attention.get_weights()
    z = (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-5) * gamma + beta
    Wq, bq, Wk, bk = block.attention.get_weights()[:4]
    d = model.units // model.n_heads
    Q, K = z @ Wq + bq, z @ Wk + bk
    t, s = np.arange(X.shape[1])[:, None], np.arange(X.shape[1])[None, :]
    visible = (s <= t) & ((s > t - model.window) if model.window is not None else True)
    heads = []
    for h in range(model.n_heads):
        scores = Q[..., h * d:(h + 1) * d] @ K[..., h * d:(h + 1) * d].transpose(0, 2, 1)
        scores = np.where(visible, scores / np.sqrt(d), -np.inf)
        A = np.exp(scores - scores.max(-1, keepdims=True))
        heads.append(A / A.sum(-1, keepdims=True))
    return np.stack(heads, axis=1)


@pytest.mark.parametrize("positions, window", [("sinusoidal", None), ("none", 3)])
def test_attention_weights_are_the_first_blocks_softmax(positions, window):
    model = _fitted("supervised", n_layers=1, position_encoding=positions, window=window)
    X = X_TRAIN[:3]
    expected = _numpy_weights(model, X)
    np.testing.assert_allclose(model.attention_weights(X, per_head=True), expected, atol=1e-5)
    np.testing.assert_allclose(model.attention_weights(X), expected.mean(axis=1), atol=1e-5)
    short = model.attention_weights([X[0, :7], X[1]])
    np.testing.assert_allclose(short[0], expected[0].mean(0)[:7, :7], atol=1e-5)


def test_attention_weights_pick_a_layer_and_refuse_bad_arguments():
    from sklearn.exceptions import NotFittedError

    model = _fitted("forecast", window=2)
    first, last = model.attention_weights(X_TRAIN, layer=0), model.attention_weights(X_TRAIN)
    np.testing.assert_array_equal(last, model.attention_weights(X_TRAIN, layer=1))
    assert not np.allclose(first, last)
    assert (np.count_nonzero(first[0], axis=-1) == np.minimum(np.arange(20) + 1, 2)).all()
    with pytest.raises(ValueError, match=r"layer must be an int in \[-2, 1\] .* got 2"):
        model.attention_weights(X_TRAIN, layer=2)
    with pytest.raises(ValueError, match="layer must be an int"):
        model.attention_weights(X_TRAIN, layer=0.0)
    with pytest.raises(TypeError, match="per_head must be True or False; got 'yes'"):
        model.attention_weights(X_TRAIN, per_head="yes")
    with pytest.raises(NotFittedError):
        _model().attention_weights(X_TRAIN)


# -- training ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_learns_to_recall_a_lagged_input():
    """Tagging ``y_t = [x_{t-2} > 0]``: attention to two steps back, beyond the current input."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 16, 1))
    y = np.zeros((64, 16, 1), np.int64)
    y[:, 2:] = X[:, :-2] > 0
    y[:, :2] = -1                                         # no target before the lag
    model = TransformerNetwork(units=16, n_heads=2, n_layers=1, window=3, epochs=40,
                               learning_rate=0.01, batch_size=16, random_state=0).fit(X, y)
    X_test = rng.normal(size=(32, 16, 1))
    y_test = np.full((32, 16, 1), -1, np.int64)
    y_test[:, 2:] = X_test[:, :-2] > 0
    assert model.score(X_test, y_test) > 0.9
    assert model.history_[-1] < 0.5 * model.history_[0]
