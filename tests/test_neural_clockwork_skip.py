"""The clockwork RNN cell and skip connections through time (issue #23, items 2 and 3).

Each is checked against a recurrence written out in numpy with the network's own weights,
for its structure (a clockwork module idles between its updates; the masked blocks of its
recurrent matrix have neither a gradient nor an effect; a skip's gradient travels d steps
at a time), and through the whole estimator contract (``check_estimator``, causality
included) and persistence.
"""

import pickle

import numpy as np
import pytest

from seqmodels import RecurrentNetwork
from seqmodels.utils.estimator_checks import ar1_sequences, check_estimator

TINY = {"units": 8, "epochs": 1, "batch_size": 4, "random_state": 0}


@pytest.fixture(scope="module")
def X3():
    return ar1_sequences()


def _networks():
    from seqmodels.neural import networks

    return networks


def _hidden(est, X):
    """The first recurrent layer's outputs h_t (n, T, units) and its final states."""
    nw = _networks()
    layer = est.model_.get_layer("recurrent_0")
    inputs = nw.ops.convert_to_tensor(est._network_inputs(est._check_X(X)))
    out = layer(inputs)
    return nw.to_numpy(out[0]).astype(np.float64), [nw.to_numpy(s) for s in out[1:]]


def _weights(layer):
    return {w.path.split("/")[-1]: np.asarray(w.numpy(), dtype=np.float64)
            for w in layer.cell.weights}


def _randomise(layer, rng, scale=0.5):
    for weight in layer.cell.weights:
        value = rng.normal(scale=scale, size=weight.shape)
        if weight.path.endswith("recurrent_kernel") and hasattr(layer.cell, "connectivity"):
            value = value * layer.cell.connectivity
        weight.assign(value.astype(np.float32))


def _head(est, h):
    w = est.model_.get_layer("head")
    return h @ np.asarray(w.kernel.numpy(), np.float64) + np.asarray(w.bias.numpy(), np.float64)


# -- clockwork ------------------------------------------------------------------------------


def test_clockwork_modules_update_on_their_clock_and_hold_their_state_between(X3):
    est = RecurrentNetwork(cell="clockwork", periods=[1, 2, 4, 8], **TINY).fit(X3)
    h, (final_h, step) = _hidden(est, X3)
    T = X3.shape[1]
    np.testing.assert_array_equal(step[:, 0], T)           # the step counter in the state
    np.testing.assert_array_equal(final_h, h[:, -1].astype(np.float32))
    for module, period in enumerate([1, 2, 4, 8]):
        units = slice(2 * module, 2 * module + 2)
        for t in range(1, T):
            same = np.array_equal(h[:, t, units], h[:, t - 1, units])
            # module i is rewritten where t mod T_i = 0 and kept exactly otherwise
            assert same == (t % period != 0), (period, t)


def test_clockwork_forward_pass_matches_the_recurrence_in_numpy(X3):
    est = RecurrentNetwork(cell="clockwork", units=7, n_modules=3, epochs=0,
                           random_state=0).fit(X3)
    layer = est.model_.get_layer("recurrent_0")
    _randomise(layer, np.random.default_rng(1))
    w = _weights(layer)
    sizes = [3, 2, 2]                                       # 7 units in 3 modules
    period = np.repeat([1, 2, 4], sizes)
    mask = (period[:, None] >= period[None, :]).astype(float)
    np.testing.assert_array_equal(layer.cell.connectivity, mask)
    x = est._network_inputs(est._check_X(X3)).astype(np.float64)
    h = np.zeros((x.shape[0], 7))
    expected = []
    for t in range(x.shape[1]):
        a = np.tanh(x[:, t] @ w["kernel"] + h @ (w["recurrent_kernel"] * mask) + w["bias"])
        h = np.where(t % period == 0, a, h)
        expected.append(h)
    expected = np.stack(expected, axis=1)
    got, _ = _hidden(est, X3)
    np.testing.assert_allclose(got, expected, atol=2e-6)
    out = _networks().run(est.model_, est._network_inputs(est._check_X(X3)))
    np.testing.assert_allclose(out, _head(est, expected), atol=5e-6)


def test_clockwork_recurrent_matrix_is_block_triangular(X3):
    import tensorflow as tf

    est = RecurrentNetwork(cell="clockwork", periods=[1, 2, 4, 8], **TINY).fit(X3)
    layer = est.model_.get_layer("recurrent_0")
    cell = layer.cell
    mask = cell.connectivity
    blocks = np.kron(np.tril(np.ones((4, 4))), np.ones((2, 2)))
    np.testing.assert_array_equal(mask, blocks)             # slow (rows) feed fast (columns)
    U = np.asarray(cell.recurrent_kernel.numpy())
    # masked entries start at zero and training leaves them there; the others are learned
    assert (U[mask == 0] == 0).all() and (U[mask == 1] != 0).all()
    inputs = tf.constant(est._network_inputs(est._check_X(X3)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(est.model_(inputs)))
    grad = tape.gradient(loss, cell.recurrent_kernel).numpy()
    assert (grad[mask == 0] == 0).all() and np.abs(grad[mask == 1]).max() > 0
    # no effect: values written into the masked blocks change nothing
    before = _networks().run(est.model_, inputs.numpy())
    cell.recurrent_kernel.assign(np.where(mask == 0, 5.0, U).astype(np.float32))
    np.testing.assert_array_equal(_networks().run(est.model_, inputs.numpy()), before)
    # slow modules never read fast ones: a different start of the fastest module leaves
    # the slowest untouched, and the reverse reaches the fastest
    zeros = [np.zeros((6, 8), np.float32), np.zeros((6, 1), np.float32)]
    fast, slow = [z.copy() for z in zeros], [z.copy() for z in zeros]
    fast[0][:, :2] = 0.9
    slow[0][:, 6:] = 0.9
    run = [np.asarray(layer(inputs, initial_state=s)[0]) for s in (zeros, fast, slow)]
    np.testing.assert_array_equal(run[1][..., 6:], run[0][..., 6:])
    assert not np.allclose(run[1][..., :2], run[0][..., :2])
    assert not np.allclose(run[2][..., :2], run[0][..., :2])


def test_clockwork_gradient_passes_idle_steps_unchanged(X3):
    # U = 0 and a head that reads only the slowest module (period 8): the loss at the last
    # step T-1 = 29 depends on h_t of that module for t from its last update (t = 24) on,
    # through identity steps, and on nothing before.
    est = RecurrentNetwork(cell="clockwork", periods=[1, 2, 4, 8], **TINY).fit(X3)
    cell = est.model_.get_layer("recurrent_0").cell
    cell.recurrent_kernel.assign(np.zeros((8, 8), np.float32))
    head = est.model_.get_layer("head")
    kernel = np.asarray(head.kernel.numpy())
    kernel[:6] = 0.0
    head.kernel.assign(kernel)
    norms = est.gradient_norms(X3)
    T = X3.shape[1]
    last_update = (T - 1) - (T - 1) % 8
    k = T - 1 - last_update                                 # lags 0..5 are idle copies
    assert norms[0] > 0
    np.testing.assert_allclose(norms[:k + 1], norms[0], rtol=1e-6)
    np.testing.assert_array_equal(norms[k + 1:], 0.0)


def test_clockwork_periods_and_modules_are_checked(X3):
    est = RecurrentNetwork(cell="clockwork", n_modules=3, **(TINY | {"units": 10}))
    assert est.fit(X3).network_spec_["periods"] == [1, 2, 4]
    with pytest.raises(ValueError, match="periods must be a list of strictly increasing"):
        RecurrentNetwork(cell="clockwork", periods=[1, 4, 2], **TINY).fit(X3)
    with pytest.raises(ValueError, match="periods must be"):
        RecurrentNetwork(cell="clockwork", periods=[0.5, 2], **TINY).fit(X3)
    with pytest.raises(ValueError, match="n_modules=3"):
        RecurrentNetwork(cell="clockwork", periods=[1, 2], n_modules=3, **TINY).fit(X3)
    with pytest.raises(ValueError, match=r"units \(8\) must be at least"):
        RecurrentNetwork(cell="clockwork", n_modules=9, **TINY).fit(X3)
    with pytest.raises(ValueError, match="^n_modules must be an integer >= 1"):
        RecurrentNetwork(cell="clockwork", n_modules=0, **TINY).fit(X3)


# -- skip connections through time ----------------------------------------------------------


@pytest.mark.parametrize("cell, leak", [("simple", 0.0), ("leaky", 0.3)])
def test_skip_output_matches_the_recurrence_in_numpy(cell, leak, X3):
    d = 3
    est = RecurrentNetwork(cell=cell, leak=leak, skip=d, epochs=0, units=5,
                           random_state=0).fit(X3)
    layer = est.model_.get_layer("recurrent_0")
    _randomise(layer, np.random.default_rng(2))
    w = _weights(layer)
    x = est._network_inputs(est._check_X(X3)).astype(np.float64)
    n, T, _ = x.shape
    past = [np.zeros((n, 5))] * d                          # h_{t-1}, ..., h_{t-d}
    expected = []
    for t in range(T):
        z = x[:, t] @ w["kernel"] + past[0] @ w["recurrent_kernel"] \
            + past[d - 1] @ w["skip_kernel"] + w["bias"]
        h = leak * past[0] + (1.0 - leak) * np.tanh(z)
        past = [h] + past[:-1]
        expected.append(h)
    expected = np.stack(expected, axis=1)
    got, (buffer,) = _hidden(est, X3)
    np.testing.assert_allclose(got, expected, atol=2e-6)    # float32 over 30 steps
    # the state is the buffer of the last d states, newest first
    np.testing.assert_allclose(buffer, np.concatenate(past, axis=1), atol=2e-6)
    out = _networks().run(est.model_, est._network_inputs(est._check_X(X3)))
    np.testing.assert_allclose(out, _head(est, expected), atol=5e-6)


def test_skip_gradient_travels_d_steps_at_a_time(X3):
    # With U = 0 the state h_t reads only h_{t-d}: the last step's loss reaches h_{T-k}
    # only at lags k that are multiples of d.
    d = 4
    est = RecurrentNetwork(cell="simple", skip=d, **TINY).fit(X3)
    cell = est.model_.get_layer("recurrent_0").cell
    cell.recurrent_kernel.assign(np.zeros((8, 8), np.float32))
    norms = est.gradient_norms(X3)
    lags = np.arange(norms.size)
    assert (norms[lags % d == 0] > 0).all()
    np.testing.assert_array_equal(norms[lags % d != 0], 0.0)


def test_skip_is_refused_for_other_cells_and_below_two(X3):
    with pytest.raises(ValueError, match=r"skip \(connections through time\).*cell='lstm'"):
        RecurrentNetwork(cell="lstm", skip=2, **TINY).fit(X3)
    with pytest.raises(ValueError, match="^skip must be None or an integer >= 2"):
        RecurrentNetwork(cell="simple", skip=1, **TINY).fit(X3)


def test_n_params_count_the_free_weights(X3):
    d, m = 2, 2
    skip = RecurrentNetwork(cell="simple", skip=3, **TINY).fit(X3)
    assert skip.n_params_ == d * 8 + 2 * 8 * 8 + 8 + 8 * m + m
    clock = RecurrentNetwork(cell="clockwork", periods=[1, 2, 4, 8], **TINY).fit(X3)
    assert clock.n_params_ == d * 8 + 10 * 4 + 8 + 8 * m + m    # 10 of 16 2x2 blocks free


# -- the contract, causality and persistence ------------------------------------------------


@pytest.mark.slow                                # about a minute each on 2 cores
@pytest.mark.parametrize("params", [{"cell": "clockwork"}, {"cell": "simple", "skip": 2}],
                         ids=["clockwork", "skip"])
def test_check_estimator_passes_unchanged(params):
    results = check_estimator(RecurrentNetwork(**params))
    assert results["check_causal_forecasting"] == "passed"
    assert results["check_causal_supervised"] == "passed"
    assert results["check_pickle_round_trip"] == "passed"


@pytest.mark.parametrize("params", [
    {"cell": "clockwork", "periods": [1, 3, 9], "learned_initial_state": True},
    {"cell": "leaky", "skip": 4, "n_layers": 2, "learned_initial_state": True},
], ids=["clockwork", "skip"])
def test_causal_with_unequal_lengths_and_persistent(params, X3, tmp_path):
    est = RecurrentNetwork(output="gaussian", **params, **TINY).fit(X3)
    # a learned start of h, never of the clockwork's step counter
    initial = est.model_.get_layer("initial_state_0")
    assert [w.trainable for w in initial.weights] == (
        [True, False] if params["cell"] == "clockwork" else [True])
    X = [X3[0], X3[1, :17], X3[2, :9]]
    pred = est.predict(X)
    s = 6
    changed = [x.copy() for x in X]
    for x in changed:
        x[s:] += 3.0
    after = est.predict(changed)
    for a, b in zip(after, pred):
        np.testing.assert_array_equal(a[:s + 1], b[:s + 1])
        assert not np.allclose(a[s + 1:], b[s + 1:])
    # the forecast carries the clock / the skip buffer on from each sequence's own end:
    # step k of a forecast is the one-step forecast from the history extended by the
    # first k forecast means (there the state is recomputed from the start)
    forecast = est.forecast(X, 12)
    for k in (1, 5, 11):
        extended = [np.concatenate([x, f[:k]]) for x, f in zip(X, forecast)]
        for f, g in zip(forecast, est.forecast(extended, 1)):
            np.testing.assert_allclose(f[k], g[0], rtol=1e-4, atol=1e-5)
    path = tmp_path / "model.keras"
    est.save(path)
    for copy in (RecurrentNetwork.load(path), pickle.loads(pickle.dumps(est))):
        for a, b in zip(copy.predict(X), pred):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(copy.forecast(X, 12), forecast):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(copy.gradient_norms(X3), est.gradient_norms(X3))
