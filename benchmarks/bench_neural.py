"""Neural estimators against raw Keras: fit, training throughput, predict, forecast; defaults.

Harness lines (``run.py``; each side by side in one run, see _harness.py). Data:
8,192 windows x 50 steps of an AR(1) series, forecasting mode, a 32-unit recurrent
layer + Dense head, Adam(0.003, clipnorm=1), MSE -- the ``RecurrentNetwork`` defaults:

* ``RecurrentNetwork.fit`` against the same architecture, data and training settings
  (batch size, ``steps_per_execution``) built and trained with raw ``keras.Model.fit``,
  for LSTM, GRU and SimpleRNN (target: within 10 %); the rate column is the wrapper's
  training throughput in sample-steps per second (sequences x timesteps x epochs /
  the whole fit, its one-off graph build and trace included). Checked first: the two
  fits reach the same training losses (same seed, same batches);
* ``predict`` on one sequence of 5,000 steps and on 256 x 500 against
  ``Model.predict`` of the fitted model on the same network inputs (target: within
  1.2x), and ``forecast`` (256 sequences, 100 steps of history, horizon 50) against
  the same recursion written with ``Model.predict`` (the history through the state
  model, then the one-step model once per step); results equal to float32 precision.

* the clockwork cell (``cell="clockwork"``, periods 1, 2, 4, 8) and skip connections
  through time (``cell="simple", skip=4``) against the plain SimpleRNN, all of 32 units
  through the same wrapper (full mode only): cost per step as the ratio SimpleRNN time /
  cell time (< 1: the cell costs more), for one training epoch (the fastest after the
  first, which traces) on 2,048 x 50 and for ``predict`` on 256 x 500. No result check:
  the sides are different networks.

Scaling: ``predict`` against the number of sequences and the length.

``python benchmarks/bench_neural.py --defaults`` runs the measurements behind the
training defaults instead (about 3 minutes; ``--quick`` 1):

1. the wrapper against raw Keras with Keras' own defaults (``steps_per_execution=1``);
2. the alternatives behind the defaults, on raw Keras: batch size,
   ``steps_per_execution``, ``unroll``, ``jit_compile``;
3. why the batch does not simply go to 256: accuracy on a small data set
   (skipped with --quick).

Measured on the 2-core development machine (Keras 3.15, TensorFlow 2.21 CPU; the
machine is shared, so each figure is the range of the best-of values over four
runs of this script and three of its prototypes):

* wrapper / raw (same settings): 0.84 - 0.95; the wrapper is the faster one, by
  one trace of the train step (below). Wrapper steady throughput 0.96 - 1.13 M.
* steady M sample-steps/s on raw Keras:

  =====  =======================  ========================
  batch  steps_per_execution = 1  steps_per_execution = 16
  =====  =======================  ========================
  64     0.35 - 0.52              0.42 - 0.65
  128    0.60 - 0.73              0.58 - 0.86
  256    0.76 - 0.99              0.87 - 1.18
  512    0.87 - 1.14              0.98 - 1.23
  =====  =======================  ========================

* batch 256, spe 16, ``unroll=True``: 0.78 - 1.22 steady, i.e. no difference above
  the noise, while its first epoch (trace) takes 2.0 - 4.1 s instead of 0.9 - 1.5 s
  and the unrolled graph grows with the sequence length.
* batch 256, ``jit_compile=True``: 0.64 (spe 1), 0.84 - 1.02 (spe 16), plus 1 - 2 s
  of XLA compile; with ``unroll=True`` as well: 0.37 and a 30 - 40 s compile.
* accuracy, 256 sequences of a nonlinear AR(2), 100 epochs, test MSE / noise:
  1.0045 at batch 64, 1.0050 at 128, 1.0187 at 256 (one update per epoch): 4x the
  excess error.

Chosen: ``batch_size="auto"`` = clip(n_fit // 8, 64, 256) (256 here),
``steps_per_execution=16``, no unrolling, no XLA. Wrapper changes that removed
its overhead (1.15x raw before, best of 3 at batch 256): the padding mask is left out of the
training graph when no input is padded (the per-step selects cost ~15 % of an
epoch; the trained weights are bit-for-bit the same), and the optimizer's slots
are created before ``fit``, which spares TensorFlow a second trace of the train
step (~0.5 s per fit). The final figures of a run are printed at the end.
"""

import argparse
import contextlib
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _harness import Line, Scaling  # noqa: E402
from seqmodels import RecurrentNetwork  # noqa: E402
from seqmodels.neural import estimators, networks  # noqa: E402

FAMILY = "Neural"
N, T, UNITS = 8192, 50, 32
TARGET_RATIO, TARGET_RATE = 1.10, 0.8e6


def data(n=N, seed=0, phi=0.8, length=T):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, length + 1, 1))
    for t in range(1, length + 1):
        X[:, t] = phi * X[:, t - 1] + rng.normal(size=(n, 1))
    return X[:, 1:]


# -- timing -------------------------------------------------------------------------------

_EPOCHS = []


class _EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        _EPOCHS.append(time.perf_counter() - self.start)


@contextlib.contextmanager
def epoch_timer():
    """Add an epoch timer to every ``keras.Model.fit`` (the wrapper's included)."""
    original = keras.Model.fit

    def fit(self, *args, callbacks=None, **kwargs):
        return original(self, *args, callbacks=list(callbacks or []) + [_EpochTimer()], **kwargs)

    keras.Model.fit = fit
    try:
        yield
    finally:
        keras.Model.fit = original


def timed(fn):
    """(whole time, epoch times) of one call."""
    _EPOCHS.clear()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, list(_EPOCHS)


# -- the two contenders -------------------------------------------------------------------


LAYERS = {"lstm": "LSTM", "gru": "GRU", "simple": "SimpleRNN"}


def raw_fit(X, epochs, batch_size, steps_per_execution=1, jit_compile=False, unroll=False,
            cell="lstm"):
    """The wrapper's architecture and data handling, by hand, in raw Keras."""
    keras.utils.set_random_seed(0)
    mean, std = X.mean(), X.std()
    xs = (X - mean) / std
    inputs = np.concatenate([np.zeros((len(X), 1, 1)), xs[:, :-1]], axis=1).astype(np.float32)
    targets = xs.astype(np.float32)
    inp = keras.Input((T if unroll else None, 1))
    h = getattr(keras.layers, LAYERS[cell])(UNITS, return_sequences=True, unroll=unroll)(inp)
    model = keras.Model(inp, keras.layers.Dense(1)(h))
    model.compile(keras.optimizers.Adam(0.003, clipnorm=1.0), "mse", jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    history = model.fit(inputs, targets, epochs=epochs, batch_size=batch_size, shuffle=True,
                        verbose=0)
    return history.history["loss"]


def wrapper_fit(X, epochs, cell="lstm", **params):
    return RecurrentNetwork(cell=cell, units=UNITS, epochs=epochs, random_state=0,
                            **params).fit(X).history_


def rates(result, epochs):
    total, per_epoch = result
    steady = min(per_epoch[1:]) if len(per_epoch) > 1 else per_epoch[0]
    return N * T * epochs / total, N * T / steady, per_epoch[0]


# -- sections -----------------------------------------------------------------------------


def section_wrapper(X, epochs, repeats):
    batch = estimators.auto_batch_size(N)
    spe = min(networks.STEPS_PER_EXECUTION, -(-N // batch))
    contenders = {
        "RecurrentNetwork.fit (defaults)": lambda: wrapper_fit(X, epochs),
        f"raw Keras, same settings (batch {batch}, spe {spe})":
            lambda: raw_fit(X, epochs, batch, steps_per_execution=spe),
        f"raw Keras, Keras defaults (batch {batch}, spe 1)": lambda: raw_fit(X, epochs, batch),
    }
    results = {name: [] for name in contenders}
    for _ in range(repeats):                      # interleaved: same machine load for all
        for name, fn in contenders.items():
            results[name].append(timed(fn))
    best = {name: min(runs, key=lambda r: r[0]) for name, runs in results.items()}
    steady = {name: min(min(r[1][1:]) for r in runs) for name, runs in results.items()}
    print(f"1. wrapper against raw keras.Model.fit, {epochs} epochs, best of {repeats} "
          "(fit time includes build and trace):")
    for name in contenders:
        total = best[name][0]
        print(f"   {name:48s} {total:6.2f} s   fit {N * T * epochs / total / 1e6:5.2f}  "
              f"steady {N * T / steady[name] / 1e6:5.2f} M sample-steps/s")
    names = list(contenders)
    ratio = best[names[0]][0] / best[names[1]][0]
    ratio_keras = best[names[0]][0] / best[names[2]][0]
    print(f"   ratio wrapper / raw (same settings)  = {ratio:.3f}   (target <= {TARGET_RATIO:.2f})")
    print(f"   ratio wrapper / raw (Keras defaults) = {ratio_keras:.3f}\n")
    return ratio, N * T / steady[names[0]], N * T * epochs / best[names[0]][0]


def section_alternatives(X, epochs, repeats):
    spe = networks.STEPS_PER_EXECUTION
    configs = [dict(batch_size=b, steps_per_execution=s) for b in (64, 128, 256, 512)
               for s in (1, spe)]
    configs += [dict(batch_size=256, steps_per_execution=spe, unroll=True),
                dict(batch_size=256, steps_per_execution=spe, jit_compile=True)]
    runs = [[] for _ in configs]
    for _ in range(repeats):
        for k, config in enumerate(configs):
            runs[k].append(rates(timed(lambda: raw_fit(X, epochs, **config)), epochs))
    print(f"2. alternatives on raw Keras, {epochs} epochs, best of {repeats} "
          "(M sample-steps/s; first epoch includes the trace):")
    print("   batch  spe  unroll  jit    steady    fit   first epoch")
    for config, result in zip(configs, runs):
        steady = max(r[1] for r in result)
        fit = max(r[0] for r in result)
        first = min(r[2] for r in result)
        print(f"   {config['batch_size']:5d} {config['steps_per_execution']:4d}  "
              f"{str(config.get('unroll', False)):6s} {str(config.get('jit_compile', False)):5s} "
              f"{steady / 1e6:7.2f} {fit / 1e6:6.2f}   {first:5.2f} s")
    print("   (jit_compile with unroll=True is left out: a 30-40 s XLA compile, 0.37 M steady)\n")


def nonlinear(n, seed):
    """``x_t = 0.6 x_{t-1} - 0.5 tanh(2 x_{t-2}) + 0.5 e_t``: a little to learn, noise 0.25."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, T + 20, 1))
    for t in range(2, T + 20):
        X[:, t] = (0.6 * X[:, t - 1] - 0.5 * np.tanh(2.0 * X[:, t - 2])
                   + 0.5 * rng.normal(size=(n, 1)))
    return X[:, 20:]


def section_accuracy():
    n, epochs, noise = 256, 100, 0.25
    X, X_test = nonlinear(n, 1), nonlinear(2000, 99)
    print(f"3. batch size against accuracy on a small set ({n} sequences x {T} steps of a "
          f"nonlinear AR(2), {epochs} epochs): test one-step MSE / noise variance "
          "(1.000 = optimal):")
    for batch in (estimators.auto_batch_size(n), 128, 256):
        start = time.perf_counter()
        est = RecurrentNetwork(units=UNITS, epochs=epochs, batch_size=batch, random_state=0).fit(X)
        took = time.perf_counter() - start
        mse = np.mean((est.predict(X_test)[:, 5:] - X_test[:, 5:]) ** 2)
        label = "auto" if batch == estimators.auto_batch_size(n) else "    "
        print(f"   batch_size={batch:4d} {label}  {mse / noise:.4f}   fit {took:5.1f} s")
    print()


# -- harness lines ----------------------------------------------------------------------


def lines(quick=False):
    n = 512 if quick else N
    X = data(n)
    epochs = 2 if quick else 3
    batch = estimators.auto_batch_size(n)
    spe = min(networks.STEPS_PER_EXECUTION, -(-n // batch))
    out = []
    cells = ("lstm",) if quick else ("lstm", "gru", "simple")
    for cell in cells:
        out.append(Line(
            f"neural.fit.{cell}", FAMILY, f"fit {LAYERS[cell]}({UNITS}), {n:,} x {T}, {epochs} ep.",
            lambda cell=cell: wrapper_fit(X, epochs, cell=cell),
            lambda cell=cell: raw_fit(X, epochs, batch, steps_per_execution=spe, cell=cell),
            f"Keras fit (batch {batch}, spe {spe})", check=_same_losses,
            repeats=2 if quick else 5, target=1 / 1.1, target_text=">= 0.91x",
            work=n * T * epochs, work_unit="sample-steps"))
    est = RecurrentNetwork(cell="lstm", units=UNITS, epochs=1, random_state=0).fit(X[:256])
    long_T = 2000 if quick else 5000
    shapes = [(1, long_T)] if quick else [(1, long_T), (256, 500)]
    for n_seq, length in shapes:
        out.append(_predict_line(est, n_seq, length, repeats=3 if quick else 5))
    out.append(_forecast_line(est, 16 if quick else 256, 100, 20 if quick else 50,
                              repeats=2 if quick else 5))
    if not quick:
        out.extend(_cell_cost_lines())
    return out


#: The cells whose cost per step is stated against the SimpleRNN's (issue #23, item 7).
COST_CELLS = {"clockwork": ("Clockwork", dict(cell="clockwork", periods=[1, 2, 4, 8])),
              "skip": ("SimpleRNN skip 4", dict(cell="simple", skip=4))}


def _epoch_seconds(params, X, epochs=3):
    """(fastest epoch after the first, history): a training epoch's cost, trace excluded."""
    with epoch_timer():
        _EPOCHS.clear()
        est = RecurrentNetwork(units=UNITS, epochs=epochs, random_state=0, **params).fit(X)
        return min(_EPOCHS[1:]), est.history_


def _cost_summary(res):
    return f"{1 / res.ratio:.2f}x the SimpleRNN's time per step"


def _cell_cost_lines(n_fit=2048, n_predict=256, length=500, repeats=5):
    X_fit, X_predict = data(n_fit, seed=3), data(n_predict, seed=4, length=length)
    out = []
    for key, (name, params) in COST_CELLS.items():
        out.append(Line(
            f"neural.cost.{key}.fit", FAMILY, f"train epoch {name}({UNITS}), {n_fit:,} x {T}",
            lambda params=params: _epoch_seconds(params, X_fit),
            lambda: _epoch_seconds(dict(cell="simple"), X_fit), f"SimpleRNN({UNITS}) epoch",
            repeats=repeats, self_timed=True, work=n_fit * T, work_unit="sample-steps",
            summary=_cost_summary))
        ours = RecurrentNetwork(units=UNITS, epochs=1, random_state=0, **params).fit(X_fit[:256])
        plain = RecurrentNetwork(cell="simple", units=UNITS, epochs=1,
                                 random_state=0).fit(X_fit[:256])
        out.append(Line(
            f"neural.cost.{key}.predict", FAMILY,
            f"predict {name}({UNITS}), {n_predict} x {length}",
            lambda ours=ours: ours.predict(X_predict), lambda: plain.predict(X_predict),
            f"SimpleRNN({UNITS}) predict", repeats=repeats, work=n_predict * length,
            work_unit="sample-steps", summary=_cost_summary))
    return out


def _same_losses(ours, theirs):
    """The wrapper and raw Keras trained the same network on the same batches."""
    np.testing.assert_allclose(ours, theirs, rtol=1e-3)


def _predict_line(est, n, length, repeats):
    X = data(n, seed=7, length=length)
    inputs = est._network_inputs(est._check_X(X))
    model = est.model_

    def raw():
        return model.predict(inputs, batch_size=n, verbose=0)

    def check(ours, theirs):
        np.testing.assert_allclose(ours, est._decode(theirs.astype(np.float64), False),
                                   rtol=1e-4, atol=1e-5)

    return Line(f"neural.predict.{n}x{length}", FAMILY,
                f"predict LSTM({UNITS}), {n:,} x {length:,}", lambda: est.predict(X), raw,
                "Keras Model.predict", check=check,
                repeats=repeats, target=1 / 1.2, target_text=">= 0.83x", work=n * length,
                work_unit="sample-steps")


def _forecast_line(est, n, length, horizon, repeats):
    X = data(n, seed=8, length=length)
    history = est._network_inputs(est._check_X(X), extra=1)
    state, step = est._graph("state"), est._graph("step")
    m = est.n_targets_

    def raw():
        outputs, *states = state.predict(history, batch_size=n, verbose=0)
        current = outputs[:, length]
        steps = [current]
        for _ in range(horizon - 1):
            outputs, *states = step.predict([current[:, None, :m], *states], batch_size=n,
                                            verbose=0)
            current = outputs[:, 0]
            steps.append(current)
        return np.stack(steps, axis=1)

    def check(ours, theirs):
        np.testing.assert_allclose(ours, est._decode(theirs.astype(np.float64), False),
                                   rtol=1e-4, atol=1e-4)

    return Line(f"neural.forecast.{n}", FAMILY,
                f"forecast LSTM({UNITS}), {n} x {length}, horizon {horizon}",
                lambda: est.forecast(X, horizon), raw, "Keras Model.predict loop", check=check,
                repeats=repeats, target=1 / 1.2, target_text=">= 0.83x", work=n * horizon,
                work_unit="sample-steps")


def scalings():
    est = RecurrentNetwork(cell="lstm", units=UNITS, epochs=1, random_state=0).fit(data(256))

    def make(n, length):
        X = data(n, seed=n + length, length=length)
        return lambda: est.predict(X)

    return [Scaling("neural.scale.n", FAMILY, f"predict LSTM({UNITS}), 100 steps, n sequences",
                    "sequences", (256, 2560, 25_600), lambda n: make(n, 100)),
            Scaling("neural.scale.T", FAMILY, f"predict LSTM({UNITS}), 16 sequences of T steps",
                    "length", (1_000, 10_000, 100_000), lambda length: make(16, length))]


# -- the defaults' measurements (--defaults) ---------------------------------------------


def defaults(quick):
    epochs, repeats = (3, 2) if quick else (3, 3)
    X = data()
    print(f"LSTM({UNITS}) on {N} sequences x {T} steps; defaults: batch_size='auto' -> "
          f"{estimators.auto_batch_size(N)}, steps_per_execution={networks.STEPS_PER_EXECUTION}, "
          f"jit_compile={networks.JIT_COMPILE}, unroll=False\n")
    with epoch_timer():
        raw_fit(X, 1, 256)                        # warm up TensorFlow before timing anything
        ratio, steady, whole = section_wrapper(X, epochs, repeats)
        section_alternatives(X, epochs, 1 if quick else 3)
    if not quick:
        section_accuracy()
    print("Summary (defaults):")
    print(f"   wrapper / raw fit time    {ratio:.3f}   target <= {TARGET_RATIO:.2f}: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    print(f"   LSTM({UNITS}) training        {steady / 1e6:.2f} M sample-steps/s per epoch "
          f"({whole / 1e6:.2f} over a {epochs}-epoch fit with its trace)   target >= "
          f"{TARGET_RATE / 1e6:.1f}: {'met' if steady >= TARGET_RATE else 'NOT met'}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--defaults", action="store_true",
                        help="the measurements behind the training defaults")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no accuracy section")
    args, rest = parser.parse_known_args()
    if args.defaults:
        defaults(args.quick)
        return
    import run

    run.main(rest + (["--quick"] if args.quick else []), families=["neural"])


if __name__ == "__main__":
    main()
