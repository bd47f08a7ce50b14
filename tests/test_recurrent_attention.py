"""Attention over a recurrent network's own past (issue #21, item 2).

References: :class:`~seqmodels.neural.attention.ContentAttention` against a hand-written
NumPy ``softmax(score + M)`` for both scores and several masks (causal, padded, a decoder's
"positions up to the origin", rows with nothing allowed); ``forecast`` against iterating
``predict`` on its own means. Causality is tested beyond the contract's check: gradients
in training mode with dropout, the predictions after fitting, and the weights
``attention_weights`` returns. Networks are tiny and most tests use few epochs: what they
test is the graph, not the training.
"""

import functools
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqmodels import RecurrentNetwork
from seqmodels.utils.estimator_checks import ar1_sequences, check_estimator

# -- the layer against its equations ------------------------------------------------------------


def _numpy_attention(query, keys, values, allowed, weights, score, value_units):
    """``softmax_s(score(t, s) + M) W_v v_s``, written out in NumPy (float64)."""
    query, keys, values = (a.astype(np.float64) for a in (query, keys, values))
    Wq, Wk, *rest = [w.astype(np.float64) for w in weights]
    q, k = query @ Wq, keys @ Wk
    if score == "additive":
        v, *rest = rest
        scores = np.tanh(q[:, :, None, :] + k[:, None, :, :]) @ v
    else:
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(Wq.shape[1])
    if value_units is not None:
        values = values @ rest[0]
    allowed = np.broadcast_to(allowed, scores.shape)
    a = np.where(allowed, np.exp(scores - np.where(allowed, scores, -np.inf).max(
        axis=-1, keepdims=True, initial=-np.inf)), 0.0)
    total = a.sum(axis=-1, keepdims=True)
    a = np.divide(a, total, out=np.zeros_like(a), where=total > 0)
    return a @ values, a


def _masks(n, Tq, Tk, rng):
    t, s = np.arange(Tq)[:, None], np.arange(Tk)[None, :]
    causal = np.broadcast_to(s <= t, (1, Tq, Tk))
    lengths = np.array([Tk, 3, 1])[:n]
    valid = np.arange(Tk)[None, :] < lengths[:, None]
    padded = (s <= t)[None] & valid[:, None, :] & (np.arange(Tq)[None, :, None]
                                                   < lengths[:, None, None])
    origin = np.array([2, 5, 0])[:n]                  # a decoder: keys up to each origin
    up_to_origin = np.broadcast_to(s[None] <= origin[:, None, None], (n, Tq, Tk))
    random = rng.random((n, Tq, Tk)) < 0.5
    return {"causal": causal, "padded": padded, "origin": up_to_origin, "random": random,
            "none": np.zeros((1, Tq, Tk), bool)}


@pytest.mark.parametrize("value_units", [None, 5])
@pytest.mark.parametrize("score", ["additive", "dot"])
def test_content_attention_matches_numpy(score, value_units):
    from seqmodels.neural.attention import ContentAttention

    rng = np.random.default_rng(0)
    n, Tq, Tk = 3, 6, 6
    query = rng.normal(size=(n, Tq, 4)).astype(np.float32)
    keys = rng.normal(size=(n, Tk, 3)).astype(np.float32)
    values = rng.normal(size=(n, Tk, 2)).astype(np.float32)
    layer = ContentAttention(score, units=7, value_units=value_units, dropout=0.5)
    masks = _masks(n, Tq, Tk, rng)
    layer(query, keys, values, masks["causal"])                     # builds the weights
    weights = [rng.normal(scale=0.7, size=w.shape).astype(np.float32)
               for w in layer.get_weights()]
    layer.set_weights(weights)
    for name, allowed in masks.items():
        context, a = layer(query, keys, values, allowed, return_weights=True)
        want_context, want_a = _numpy_attention(query, keys, values, allowed, weights, score,
                                                value_units)
        np.testing.assert_allclose(np.asarray(a), want_a, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(np.asarray(context), want_context, rtol=1e-5, atol=1e-5,
                                   err_msg=name)
        np.testing.assert_array_equal(np.asarray(a)[~np.broadcast_to(allowed, a.shape)], 0.0)
        np.testing.assert_allclose(layer.attention_weights(query, keys, allowed), want_a,
                                   rtol=1e-5, atol=1e-6)
        # Training mode: dropout rescales the kept weights, never revives a masked one.
        dropped = np.asarray(layer(query, keys, values, allowed, training=True))
        assert dropped.shape == want_context.shape
    # A different number of queries and keys (a decoder over its encoder), one query.
    allowed = np.arange(Tk)[None, None, :] <= np.array([1, 4, 5])[:, None, None]
    context, a = layer(query[:, :1], keys, values, allowed, return_weights=True)
    want_context, want_a = _numpy_attention(query[:, :1], keys, values, allowed, weights, score,
                                            value_units)
    np.testing.assert_allclose(np.asarray(context), want_context, rtol=1e-5, atol=1e-5)
    assert np.asarray(context).shape == (n, 1, 2 if value_units is None else value_units)


def test_content_attention_masked_keys_get_no_gradient_under_dropout():
    """With dropout in training mode a masked key still contributes nothing: no gradient flows
    from the keys and values of steps s > t to the context at t."""
    import tensorflow as tf

    from seqmodels.neural.attention import ContentAttention

    h = tf.constant(np.random.default_rng(1).normal(size=(2, 8, 3)), tf.float32)
    allowed = np.tril(np.ones((8, 8), bool))[None]
    for score in ("additive", "dot"):
        layer = ContentAttention(score, units=4, dropout=0.5)
        with tf.GradientTape() as tape:
            tape.watch(h)
            context = layer(h, h, h, allowed, training=True)
            total = tf.reduce_sum(context[:, :5] ** 2)
        grad = tape.gradient(total, h).numpy()
        assert np.all(grad[:, 5:] == 0.0) and np.abs(grad[:, :5]).sum() > 0


def test_past_steps_allow_earlier_real_steps_only_and_the_cache_step_writes_one_slot():
    from seqmodels.neural.attention import PastSteps, StepCache

    real = np.arange(6)[None, :] < np.array([6, 4, 0])[:, None]
    allowed = np.asarray(PastSteps()(real))
    t, s = np.arange(6)[:, None], np.arange(6)[None, :]
    np.testing.assert_array_equal(allowed, (s <= t)[None] & real[:, None, :] & real[:, :, None])
    assert not allowed[1, 4:].any() and not allowed[1, :, 4:].any() and not allowed[2].any()
    cache = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    h = -np.ones((2, 1, 3), np.float32)
    written, visible = StepCache()(h, np.array([[1], [4]], np.int32), cache)
    expected = cache.copy()
    expected[0, 1], expected[1, 4] = -1.0, -1.0
    np.testing.assert_array_equal(np.asarray(written), expected)
    np.testing.assert_array_equal(np.asarray(visible)[:, 0],
                                  np.arange(5)[None, :] <= np.array([[1], [4]]))


def test_content_attention_refuses_an_unknown_score_and_round_trips_its_config():
    from seqmodels.neural.attention import ContentAttention

    with pytest.raises(ValueError, match=r"score must be one of \('additive', 'dot'\); got 'cos"):
        ContentAttention("cosine")
    layer = ContentAttention("dot", units=3, value_units=2, dropout=0.1, name="a")
    copy = ContentAttention.from_config(layer.get_config())
    assert (copy.score, copy.units, copy.value_units, copy.dropout) == ("dot", 3, 2, 0.1)


# -- the estimator ----------------------------------------------------------------------------

X_TRAIN = ar1_sequences(4, 20, 2, seed=0)
TINY = dict(units=6, epochs=2, batch_size=4, random_state=0)
#: The fitted networks the tests share (fitted once each): both scores, with dropout.
NETWORKS = {
    "additive": dict(attention="additive", cell="gru", n_layers=2, dropout=0.3,
                     output="gaussian"),
    "dot": dict(attention="dot", cell="lstm", dropout=0.3, recurrent_dropout=0.2,
                learned_initial_state=True, output="gaussian"),
}


@functools.lru_cache(maxsize=None)
def _fitted(mode="forecast", network=None, **params):
    model = RecurrentNetwork(**{**TINY, **NETWORKS.get(network, {}), **params})
    if mode == "forecast":
        return model.fit(X_TRAIN)
    if mode == "univariate":
        return model.fit(X_TRAIN[..., :1])
    return model.fit(X_TRAIN, X_TRAIN[..., :1] - 0.5 * X_TRAIN[..., 1:])


def _perturbed(X, start):
    out = X.copy()
    out[:, start:] += np.random.default_rng(1).normal(scale=3.0, size=out[:, start:].shape)
    return out


@pytest.mark.parametrize("network", ["additive", "dot"])
@pytest.mark.parametrize("mode", ["forecast", "supervised"])
def test_changing_the_future_leaves_earlier_predictions_and_weights_unchanged(network, mode):
    """Fitted with dropout: predictions at t <= s (forecasting; t < s supervised) and the
    weights of those rows do not move when X[:, s:] does, and asking for the weights changes
    no prediction."""
    model = _fitted(mode, network)
    before = model.predict(X_TRAIN)
    weights = model.attention_weights(X_TRAIN)
    np.testing.assert_array_equal(model.predict(X_TRAIN), before)
    for s in (1, 15):
        X = _perturbed(X_TRAIN, s)
        keep = s + 1 if mode == "forecast" else s
        after = model.predict(X)
        np.testing.assert_allclose(after[:, :keep], before[:, :keep], rtol=1e-9, atol=1e-9)
        assert not np.allclose(after[:, keep:], before[:, keep:])
        moved = model.attention_weights(X)
        np.testing.assert_allclose(moved[:, :keep], weights[:, :keep], rtol=1e-9, atol=1e-9)
        assert not np.allclose(moved[:, keep:], weights[:, keep:])


@pytest.mark.parametrize("network", ["additive", "dot"])
def test_causal_in_training_mode_with_dropout(network):
    """With dropout active (``training=True``: the RNN's and the attention weights') no
    gradient flows from later inputs to earlier outputs."""
    import tensorflow as tf

    model = _fitted("supervised", network)
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 16, 2)), tf.float32)
    for s in (3, 10):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = model.model_(x, training=True)
            total = tf.reduce_sum(out[:, :s] ** 2)
        grad = tape.gradient(total, x).numpy()
        assert np.all(grad[:, s:] == 0.0)
        assert np.abs(grad[:, :s]).sum() > 0


def test_attention_weights_are_causal_normalised_distributions_in_the_callers_form():
    model = _fitted(network="additive")
    batch = [X_TRAIN[0, :5], X_TRAIN[1], X_TRAIN[2, :13]]
    weights = model.attention_weights(batch)
    assert isinstance(weights, list) and [w.shape for w in weights] == [(5, 5), (20, 20),
                                                                        (13, 13)]
    for i, (w, x) in enumerate(zip(weights, batch)):
        np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=1e-6)
        assert np.all(w >= 0) and np.all(np.triu(w, 1) == 0.0)
        np.testing.assert_allclose(w, model.attention_weights(x[None])[0], rtol=1e-5, atol=1e-7)
    assert weights[0][0, 0] == 1.0                      # step 0 sees only itself
    # 3-D input: (n, T, T); one head, so per_head adds an axis of 1.
    cube = model.attention_weights(X_TRAIN)
    assert cube.shape == (4, 20, 20)
    np.testing.assert_allclose(cube[1], weights[1], rtol=1e-5, atol=1e-7)
    heads = model.attention_weights(X_TRAIN, per_head=True)
    assert heads.shape == (4, 1, 20, 20)
    np.testing.assert_array_equal(heads[:, 0], cube)
    assert [w.shape for w in model.attention_weights(batch, per_head=True)] == [
        (1, 5, 5), (1, 20, 20), (1, 13, 13)]
    # A 1-D (univariate) input gives one (T, T) array, also for T = 1.
    univariate = _fitted("univariate", attention="dot", epochs=0)
    one = univariate.attention_weights(X_TRAIN[0, :, 0])
    assert isinstance(one, np.ndarray) and one.shape == (20, 20)
    np.testing.assert_allclose(one.sum(axis=-1), 1.0, rtol=1e-6)
    assert univariate.attention_weights(X_TRAIN[0, :1, 0]).shape == (1, 1)


def test_attention_weights_match_the_layer_on_the_hidden_states():
    """The weights are the layer's softmax over the last recurrent layer's states (of two), and
    the context they give is what the head reads."""
    import keras

    model = _fitted(network="additive")
    inputs = model._network_inputs(model._check_X(X_TRAIN))
    net = model.model_
    probe = keras.Model(net.input, [net.get_layer("recurrent_1").output[0],
                                    net.get_layer("attention").output])
    hidden, context = (np.asarray(a, np.float64) for a in probe(inputs))
    weights = model.attention_weights(X_TRAIN)
    Wq, Wk, v = (np.asarray(w, np.float64) for w in net.get_layer("attention").get_weights())
    scores = np.tanh((hidden @ Wq)[:, :, None] + (hidden @ Wk)[:, None]) @ v
    scores = np.where(np.tri(20, dtype=bool), scores, -np.inf)
    expected = np.exp(scores - scores.max(axis=-1, keepdims=True))
    expected /= expected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(context, weights @ hidden, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("network, lengths, horizon", [
    ("additive", (4, 9, 20), 18),      # 18 > 16 steps: the compiled step graph; two layers
    ("dot", (1, 20), 5),               # LSTM states, a learned start
])
def test_forecast_is_predict_iterated_on_its_own_means(network, lengths, horizon):
    """The cached steps give what rerunning the network on the extended sequences gives."""
    model = _fitted(network=network)
    grown = [X_TRAIN[i, :length] for i, length in enumerate(lengths)]
    mean, std = model.forecast(grown, horizon, return_std=True)
    means, stds = [], []
    for _ in range(horizon):
        m, s = model.predict([np.vstack([x, np.zeros((1, 2))]) for x in grown], return_std=True)
        means.append([mi[-1] for mi in m])
        stds.append([si[-1] for si in s])
        grown = [np.vstack([x, mi[-1:]]) for x, mi in zip(grown, m)]
    np.testing.assert_allclose(np.stack(mean), np.swapaxes(means, 0, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.stack(std), np.swapaxes(stds, 0, 1), rtol=1e-4, atol=1e-5)


def test_parameters_are_the_architecture_closed_form_and_none_is_the_plain_network():
    u, d = 6, 2
    plain = _fitted(cell="simple", epochs=0)
    assert plain.network_spec_["attention"] is None
    assert "attention" not in [layer.name for layer in plain.model_.layers]
    assert plain.n_params_ == (d * u + u * u + u) + (u * d + d)
    # W_q, W_k (u x u each), v (u, additive only); the head reads [h_t, c_t]: 2u inputs.
    for score, extra in (("additive", u), ("dot", 0)):
        model = _fitted(cell="simple", attention=score, epochs=0)
        assert model.n_params_ == (d * u + u * u + u) + 2 * u * u + extra + (2 * u * d + d)


def test_gradient_norms_follow_the_attention_paths():
    norms = _fitted(cell="simple", attention="additive", epochs=0).gradient_norms(X_TRAIN)
    assert norms.shape == (20,) and np.isfinite(norms).all() and norms[-1] > 0


# -- persistence ------------------------------------------------------------------------------


def _everything(model, X):
    mean, std = model.predict(X, return_std=True)
    return [mean, std, model.forecast(X, 3), model.log_likelihood(X), model.attention_weights(X)]


def test_save_load_and_pickle_give_identical_predictions(tmp_path):
    model = _fitted(network="additive")
    X = X_TRAIN[:, :12]
    expected = _everything(model, X)
    path = tmp_path / "attentive.keras"
    model.save(path)
    for copy in (RecurrentNetwork.load(path), pickle.loads(pickle.dumps(model))):
        assert copy.get_params() == model.get_params()
        for got, want in zip(_everything(copy, X), expected):
            np.testing.assert_array_equal(got, want)
    # A fresh process, where nothing has imported the attention layers yet, loads the file
    # in Keras' safe mode and unpickles the estimator.
    blob = tmp_path / "attentive.pickle"
    blob.write_bytes(pickle.dumps(model))
    script = textwrap.dedent(f"""
        import pickle
        import numpy as np
        from seqmodels import RecurrentNetwork
        X = np.asarray({X[0].tolist()!r})[None]
        loaded = RecurrentNetwork.load({str(path)!r})
        with open({str(blob)!r}, "rb") as handle:
            unpickled = pickle.load(handle)
        print(repr(float(loaded.predict(X)[0, -1, 0])), repr(float(unpickled.predict(X)[0, -1, 0])))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    for value in out.strip().splitlines()[-1].split():
        assert float(value) == pytest.approx(expected[0][0, -1, 0], abs=1e-6)


# -- bad input --------------------------------------------------------------------------------


def test_bad_attention_values_and_requests_are_refused_naming_the_argument():
    from sklearn.exceptions import NotFittedError

    from seqmodels.utils.validation import InvalidParameterError

    for bad in ("cosine", "Additive", True, 1):
        with pytest.raises(InvalidParameterError, match=r"attention must be None or one of "
                                                        r"'additive', 'dot'; got"):
            RecurrentNetwork(attention=bad, **TINY).fit(X_TRAIN)
    with pytest.raises(ValueError, match=r"attention='dot' .*bidirectional=True"):
        RecurrentNetwork(attention="dot", bidirectional=True, **TINY).fit(
            X_TRAIN, X_TRAIN[..., :1])
    plain = _fitted(cell="simple", epochs=0)
    assert not hasattr(plain, "attention_weights")
    with pytest.raises(AttributeError, match="attention_weights") as raised:
        plain.attention_weights(X_TRAIN)
    assert "attention=None" in str(raised.value.__cause__)
    with pytest.raises(NotFittedError):
        RecurrentNetwork(attention="dot").attention_weights(X_TRAIN)
    model = _fitted(network="dot")
    with pytest.raises(TypeError, match="per_head must be True or False"):
        model.attention_weights(X_TRAIN, per_head="yes")
    with pytest.raises(ValueError, match="X"):
        model.attention_weights(X_TRAIN[0, :, :1].T)           # 2-D: refused naming X


# -- the contract -----------------------------------------------------------------------------


@pytest.mark.slow                                # about 100 s on 2 busy cores
def test_check_estimator_passes_unchanged():
    results = check_estimator(RecurrentNetwork(attention="additive", dropout=0.1, units=4,
                                               epochs=2, batch_size=4, random_state=0))
    assert results["check_causal_forecasting"] == "passed"
    assert results["check_causal_supervised"] == "passed"
    assert results["check_attention_weights"] == "passed"
    assert results["check_pickle_round_trip"] == "passed"


def test_prediction_chunks_keep_the_attention_scores_within_their_budget():
    from seqmodels.neural.base import ATTENTION_CHUNK_NUMBERS, attention_batch_size

    assert attention_batch_size({"attention": None, "units": 8}, 10_000) == 2048
    # additive: T^2 x units numbers per sequence; dot: T^2
    assert attention_batch_size({"attention": "additive", "units": 32}, 512) == \
        ATTENTION_CHUNK_NUMBERS // (512**2 * 32)
    assert attention_batch_size({"attention": "dot", "units": 32}, 1024) == 32
    assert attention_batch_size({"attention": "dot", "units": 32}, 10) == 2048   # capped
    assert attention_batch_size({"attention": "additive", "units": 64}, 20_000) == 1
