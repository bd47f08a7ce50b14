"""Attention models against raw Keras on the same graph, and attention's cost against length.

Harness lines (``run.py``; each side by side in one run, see _harness.py). Data: AR(1)
windows of 50 steps (as ``bench_neural.py``), forecasting mode:

* ``TransformerNetwork.fit`` (32 units, 4 heads, 2 layers, the defaults otherwise)
  against the same graph (:func:`seqmodels.neural.attention.build_transformer`, built
  after the same seed) trained by raw ``keras.Model.fit`` on the same standardised,
  shifted inputs, with the same optimizer, batch size and ``steps_per_execution``
  (target: at least 0.9x). Checked first: the two fits reach the same losses.
* ``TransformerNetwork.predict`` on 256 x 200 against ``Model.predict`` of the fitted
  graph on the same network inputs (target: at least 0.83x, as the recurrent networks).
* ``Seq2SeqNetwork.predict`` (GRU(32), horizon 10: decoder step 1 from every origin) on
  256 x 200 against ``Model.predict`` of its prediction graph on the same inputs (target:
  at least 0.83x).

Scaling (full mode): ``predict`` time against the sequence length, 2 sequences of
T = 250, 1,000 and 4,000 steps (shorter ones measure the fixed cost of a call, not the
work), one block of 16 units and 2 heads: full causal
attention (O(T^2): exponent about 2 once the quadratic part dominates), the same
network with ``window=16`` (blocks: O(T w), exponent about 1) and a GRU(16) for
reference (exponent 1).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _harness import Line, Scaling  # noqa: E402
from bench_neural import data  # noqa: E402
from seqmodels import RecurrentNetwork, Seq2SeqNetwork, TransformerNetwork  # noqa: E402
from seqmodels.neural import attention, base, networks  # noqa: E402

FAMILY = "Attention"
T, UNITS, HEADS, LAYERS = 50, 32, 4, 2


def _transformer(**params):
    return TransformerNetwork(**{**dict(units=UNITS, n_heads=HEADS, n_layers=LAYERS,
                                        random_state=0), **params})


def wrapper_fit(X, epochs):
    return _transformer(epochs=epochs).fit(X).history_


def raw_fit(X, epochs, batch_size, steps_per_execution):
    """The wrapper's data handling, by hand; its graph; Keras' own fit."""
    keras.utils.set_random_seed(0)
    mean, std = X.mean(), X.std()
    xs = (X - mean) / std
    inputs = np.concatenate([np.zeros((len(X), 1, 1)), xs[:, :-1]], axis=1).astype(np.float32)
    spec = dict(kind="transformer", units=UNITS, n_heads=HEADS, n_layers=LAYERS,
                ff_units=4 * UNITS, dropout=0.0, position_encoding="sinusoidal", window=None,
                max_length=None, n_inputs=1, n_outputs=1, head="point")
    model = attention.build_transformer(spec)["train"]
    optimizer = keras.optimizers.Adam(0.001, clipnorm=1.0)   # the Transformer's defaults
    model.compile(optimizer, "mse", steps_per_execution=steps_per_execution)
    optimizer.build(model.trainable_variables)
    history = model.fit(inputs, xs.astype(np.float32), epochs=epochs, batch_size=batch_size,
                        shuffle=True, verbose=0)
    return history.history["loss"]


def _same_losses(ours, theirs):
    """The wrapper and raw Keras trained the same network on the same batches."""
    np.testing.assert_allclose(ours, theirs, rtol=1e-3)


def lines(quick=False):
    n = 128 if quick else 2048
    X = data(n, seed=11)
    epochs = 2 if quick else 3
    batch = base.auto_batch_size(n)
    spe = min(networks.STEPS_PER_EXECUTION, -(-n // batch))
    out = [Line(
        "attention.fit.transformer", FAMILY,
        f"fit Transformer({UNITS}, {HEADS} heads, {LAYERS} layers), {n:,} x {T}, {epochs} ep.",
        lambda: wrapper_fit(X, epochs), lambda: raw_fit(X, epochs, batch, spe),
        f"Keras fit, same graph (batch {batch}, spe {spe})", check=_same_losses,
        repeats=2 if quick else 5, target=0.9, target_text=">= 0.9x",
        work=n * T * epochs, work_unit="sample-steps")]
    est = _transformer(epochs=1).fit(X[:256])
    n_seq, length = (32, 200) if quick else (256, 200)
    X_predict = data(n_seq, seed=12, length=length)
    inputs = est._network_inputs(est._check_X(X_predict))

    def check(ours, theirs):
        np.testing.assert_allclose(ours, est._decode(theirs.astype(np.float64), False),
                                   rtol=1e-4, atol=1e-5)

    out.append(Line(
        f"attention.predict.{n_seq}x{length}", FAMILY,
        f"predict Transformer({UNITS}), {n_seq} x {length}", lambda: est.predict(X_predict),
        lambda: est.model_.predict(inputs, batch_size=n_seq, verbose=0),
        "Keras Model.predict", check=check, repeats=3 if quick else 5, target=1 / 1.2,
        target_text=">= 0.83x", work=n_seq * length, work_unit="sample-steps"))
    out.append(_seq2seq_predict_line(X[:256], X_predict, n_seq, length, quick))
    return out


def _seq2seq_predict_line(X_fit, X_predict, n_seq, length, quick):
    est = Seq2SeqNetwork(cell="gru", units=UNITS, horizon=10, epochs=1,
                         random_state=0).fit(X_fit)
    inputs = est._network_inputs(est._check_X(X_predict))
    graph = est._graph("predict")

    def check(ours, theirs):
        np.testing.assert_allclose(ours, est._decode(theirs[:, :, 0].astype(np.float64), False),
                                   rtol=1e-4, atol=1e-5)

    return Line(
        f"attention.seq2seq.predict.{n_seq}x{length}", FAMILY,
        f"predict Seq2Seq GRU({UNITS}), horizon 10, {n_seq} x {length}",
        lambda: est.predict(X_predict),
        lambda: graph.predict(inputs, batch_size=min(n_seq, 2048), verbose=0),
        "Keras Model.predict", check=check, repeats=3 if quick else 5, target=1 / 1.2,
        target_text=">= 0.83x", work=n_seq * length, work_unit="sample-steps")


def scalings():
    X_fit = data(64, seed=13)
    models = {
        "full": TransformerNetwork(units=16, n_heads=2, n_layers=1, epochs=1,
                                   random_state=0).fit(X_fit),
        "window16": TransformerNetwork(units=16, n_heads=2, n_layers=1, window=16, epochs=1,
                                       random_state=0).fit(X_fit),
        "gru": RecurrentNetwork(cell="gru", units=16, epochs=1, random_state=0).fit(X_fit),
    }
    names = {"full": "Transformer(16), full attention", "window16": "Transformer(16), window 16",
             "gru": "GRU(16)"}

    def make(model):
        def at(length):
            X = data(2, seed=length, length=length)
            return lambda: model.predict(X)
        return at

    return [Scaling(f"attention.scale.T.{key}", FAMILY, f"predict {names[key]}, 2 x T steps",
                    "length", (250, 1000, 4000), make(model)) for key, model in models.items()]
