"""Attention over a recurrent network's own past (issue #21, item 2).

References: :class:`~seqmodels.neural.attention.ContentAttention` against a hand-written
NumPy ``softmax(score + M)`` for both scores and several masks (causal, padded, a decoder's
"positions up to the origin", rows with nothing allowed); ``forecast`` against iterating
``predict`` on its own means. Causality is tested beyond the contract's check: gradients
in training mode with dropout, the predictions after fitting, and the weights
``attention_weights`` returns. Networks are tiny and most tests use few epochs: what they
test is the graph, not the training.
"""

import numpy as np
import pytest

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


def test_content_attention_refuses_an_unknown_score_and_round_trips_its_config():
    from seqmodels.neural.attention import ContentAttention

    with pytest.raises(ValueError, match=r"score must be one of \('additive', 'dot'\); got 'cos"):
        ContentAttention("cosine")
    layer = ContentAttention("dot", units=3, value_units=2, dropout=0.1, name="a")
    copy = ContentAttention.from_config(layer.get_config())
    assert (copy.score, copy.units, copy.value_units, copy.dropout) == ("dot", 3, 2, 0.1)
