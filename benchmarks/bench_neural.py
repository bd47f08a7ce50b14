"""Neural estimators: wrapper overhead against raw Keras, and CPU training throughput.

Run:  python benchmarks/bench_neural.py [--quick]

Prints, measured side by side in one run (best of the repeats, runs interleaved):

1. fit time of ``RecurrentNetwork(cell="lstm", units=32)`` against the same
   architecture (LSTM(32) + Dense head, Adam, MSE) built and trained with raw
   ``keras.Model.fit``: the ratio wrapper / raw (target: <= 1.10);
2. training throughput in sample-steps per second (sequences x timesteps per
   second) on 8,192 windows x 50 steps (target: >= 0.8 M on 2 cores);
3. the candidate defaults: batch size, ``jit_compile`` (XLA), ``unroll``, measured
   on raw Keras with the same data.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from seqmodels import RecurrentNetwork  # noqa: E402

N, T, UNITS = 8192, 50, 32


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((N, T + 1, 1))
    for t in range(1, T + 1):
        X[:, t] = 0.8 * X[:, t - 1] + rng.normal(size=(N, 1))
    return X[:, :T]


def raw_fit(X, epochs, batch_size, jit_compile=False, unroll=False):
    """The wrapper's architecture and data handling, by hand, in raw Keras."""
    keras.utils.set_random_seed(0)
    mean, std = X.mean(), X.std()
    xs = (X - mean) / std
    inputs = np.concatenate([np.zeros((N, 1, 1)), xs[:, :-1]], axis=1).astype(np.float32)
    targets = xs.astype(np.float32)
    inp = keras.Input((T if unroll else None, 1))
    h = keras.layers.LSTM(UNITS, return_sequences=True, unroll=unroll)(inp)
    model = keras.Model(inp, keras.layers.Dense(1)(h))
    model.compile(keras.optimizers.Adam(0.003, clipnorm=1.0), "mse", jit_compile=jit_compile)
    model.fit(inputs, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)


def wrapper_fit(X, epochs, batch_size):
    RecurrentNetwork(cell="lstm", units=UNITS, epochs=epochs, batch_size=batch_size,
                     random_state=0).fit(X)


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repeats")
    args = parser.parse_args()
    epochs, repeats = (1, 1) if args.quick else (3, 2)
    X = data()
    batch = RecurrentNetwork().batch_size
    print(f"LSTM({UNITS}) on {N} sequences x {T} steps, {epochs} epoch(s), best of {repeats}\n")

    # warm up TensorFlow (thread pools, kernels) before timing anything
    raw_fit(X, 1, 1024)

    raw_times, wrap_times = [], []
    for _ in range(repeats):                      # interleaved: same machine load for both
        raw_times.append(best(lambda: raw_fit(X, epochs, batch), 1))
        wrap_times.append(best(lambda: wrapper_fit(X, epochs, batch), 1))
    raw_t, wrap_t = min(raw_times), min(wrap_times)
    steps = N * T * epochs
    print(f"1. fit time, batch_size={batch} (the default), fit() including model build/trace:")
    print(f"   raw keras.Model.fit  {raw_t:7.2f} s   {steps / raw_t / 1e6:5.2f} M sample-steps/s")
    print(f"   RecurrentNetwork.fit {wrap_t:7.2f} s   {steps / wrap_t / 1e6:5.2f} M sample-steps/s")
    print(f"   ratio wrapper / raw = {wrap_t / raw_t:.3f}   (target <= 1.10)\n")

    print("2. candidate defaults on raw Keras (M sample-steps/s):")
    for batch_size in (32, 64, 128, 256):
        for jit in (False, True):
            t = best(lambda: raw_fit(X, epochs, batch_size, jit_compile=jit), 1)
            print(f"   batch_size={batch_size:4d} jit_compile={str(jit):5s} unroll=False  "
                  f"{steps / t / 1e6:5.2f}")
    for batch_size in (64, 256):
        t = best(lambda: raw_fit(X, epochs, batch_size, unroll=True), 1)
        print(f"   batch_size={batch_size:4d} jit_compile=False unroll=True   {steps / t / 1e6:5.2f}")
    t = best(lambda: wrapper_fit(X, epochs, 256), 1)
    print(f"\n3. RecurrentNetwork(batch_size=256): {steps / t / 1e6:5.2f} M sample-steps/s "
          "(target >= 0.8 on 2 cores)")


if __name__ == "__main__":
    main()
