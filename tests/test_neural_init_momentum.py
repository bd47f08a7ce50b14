"""RecurrentNetwork's identity recurrent start, ReLU simple cell and momentum optimiser.

The pieces of "good initialisation with momentum" (Sutskever, Martens, Dahl & Hinton 2013;
Le, Jaitly & Hinton 2015): ``recurrent_init="identity"`` starts ``U`` at ``gain * I``,
``activation="relu"`` makes the simple cell an IRNN, ``optimizer="momentum"`` is Keras'
SGD with Nesterov momentum 0.9. No long training here.
"""

import numpy as np
import pytest

from seqmodels import RecurrentNetwork
from seqmodels._parameters import InvalidParameterError


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(4, 6, 2))


def _recurrent_kernel(est):
    return [w.numpy() for w in est.model_.weights if w.path.endswith("recurrent_kernel")][0]


@pytest.mark.parametrize("cell", ["simple", "leaky", "clockwork"])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_identity_init_starts_the_recurrent_kernel_at_gain_times_identity(X, cell, gain):
    est = RecurrentNetwork(cell=cell, units=4, epochs=0, recurrent_init="identity",
                           recurrent_gain=gain, n_modules=2, random_state=0).fit(X)
    np.testing.assert_array_equal(_recurrent_kernel(est), gain * np.eye(4, dtype=np.float32))
    # the default is unchanged: gain times an orthogonal matrix, not the identity
    default = RecurrentNetwork(cell=cell, units=4, epochs=0, recurrent_gain=gain, n_modules=2,
                               random_state=0).fit(X)
    U = _recurrent_kernel(default)
    assert not np.allclose(U, gain * np.eye(4))
    if cell != "clockwork":                      # the mask zeroes blocks of the clockwork's U
        np.testing.assert_allclose(U.T @ U, gain**2 * np.eye(4), atol=1e-5)


def test_relu_simple_cell_is_an_irnn_that_copies_a_positive_state(X, tmp_path):
    est = RecurrentNetwork(cell="simple", units=3, epochs=0, recurrent_init="identity",
                           activation="relu", random_state=0).fit(X)
    layer = est.model_.get_layer("recurrent_0")
    assert layer.cell.activation.__name__ == "relu"
    # h_t = relu(W x_t + I h_{t-1} + 0): with zero input a positive state is kept exactly
    h = np.array([[0.5, 2.0, 0.0]], dtype=np.float32)
    out, _ = layer.cell(np.zeros((1, 2), dtype=np.float32), [h])
    np.testing.assert_array_equal(np.asarray(out), h)
    # persistence keeps the activation and the initialisation choice
    assert est.network_spec_["activation"] == "relu"
    assert est.network_spec_["recurrent_init"] == "identity"
    est.save(tmp_path / "irnn.keras")
    loaded = RecurrentNetwork.load(tmp_path / "irnn.keras")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.model_.get_layer("recurrent_0").cell.activation.__name__ == "relu"


def test_momentum_optimizer_is_keras_sgd_with_nesterov_momentum_0_9(X):
    from seqmodels.neural import networks as nw

    spec = RecurrentNetwork(cell="simple", units=3)._architecture(None, None)
    spec.update(n_inputs=2, n_outputs=1, head="point")
    graph = nw.build(spec)["train"]
    targets = np.zeros((4, 6, 1), dtype=np.float32)
    nw.train(graph, spec, X.astype(np.float32), targets, optimizer="momentum",
             learning_rate=0.01, clipnorm=1.0, clipvalue=None, epochs=1, batch_size=4,
             validation_fraction=0.0, patience=None, seed=0, verbose=0)
    optimizer = graph.optimizer
    assert type(optimizer).__name__ == "SGD"
    assert optimizer.momentum == pytest.approx(0.9) and optimizer.nesterov is True
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(0.01)
    assert optimizer.clipnorm == 1.0
    # the estimator accepts it and trains (one tiny epoch)
    est = RecurrentNetwork(cell="simple", units=3, epochs=1, optimizer="momentum",
                           learning_rate=0.01, random_state=0).fit(X, X[..., :1])
    assert len(est.history_) == 1 and np.isfinite(est.history_[0])


@pytest.mark.parametrize("params, name", [
    ({"recurrent_init": "zeros"}, "recurrent_init"),
    ({"recurrent_init": "identity", "cell": "lstm"}, "recurrent_init"),
    ({"recurrent_init": "identity", "cell": "gru"}, "recurrent_init"),
    ({"recurrent_init": "identity", "cell": "simple", "skip": 2}, "recurrent_init"),
    ({"activation": "sigmoid", "cell": "simple"}, "activation"),
    ({"activation": "relu", "cell": "leaky"}, "activation"),
    ({"activation": "relu", "cell": "lstm"}, "activation"),
    ({"optimizer": "nesterov"}, "optimizer"),
])
def test_refused_values_name_the_argument(X, params, name):
    with pytest.raises(InvalidParameterError, match=name):
        RecurrentNetwork(units=3, epochs=0, **params).fit(X)
