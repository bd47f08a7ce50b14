"""Long-memory tasks: the classic tests of what a recurrent network can remember.

Each generator records the chance-level baseline in ``Dataset.baselines`` (the score
of the best predictor that ignores the inputs), so a report can say whether a model
learned anything at all. None of these has a probabilistic oracle; the best possible
accuracy is 1 (zero error for the adding problem).
"""

import numpy as np

from ..metrics import Metric
from .checks import (check_choice, check_int, check_random_state, check_size,
                     check_split_sizes)
from ._record import Dataset
from ._registry import register

__all__ = ["adding", "copy_memory", "delayed_xor", "binary_addition", "parity"]


def _check_sizes(n_train, n_test, length, values_per_step, length_name="length"):
    """n_train and n_test, and the record's size (``length``: already checked)."""
    n_train, n_test, _ = check_split_sizes(n_train, n_test, length, values_per_step,
                                           timesteps_name=length_name)
    return n_train, n_test


def _split(make, n_train, n_test, rng):
    X, y = make(n_train + n_test, rng)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


PLACEMENTS = ("early", "halves")


@register("adding")
def adding(n_train=1000, n_test=200, length=50, placement="early", random_state=None):
    """Adding problem (Hochreiter & Schmidhuber 1997): the sum of two marked numbers, at the end.

    Each step carries two features: a value ``u_t ~ U(0, 1)`` and a marker that is 1 at
    exactly two steps and 0 elsewhere. The single target, at the last step, is the sum
    of the two marked values; every other step has no target (NaN). Where the markers
    fall sets how far back the memory must reach:

    * ``placement="early"`` (Hochreiter & Schmidhuber's form): the first marker among
      the first ``a = min(10, length // 4)`` steps, the second in ``[a, length // 2)``:
      both values are at least half the sequence in the past;
    * ``placement="halves"`` (Le, Jaitly & Hinton 2015): one marker in each half, so
      the second value may be recent.

    Baselines: predicting the mean 1.0 gives MSE ``Var(u1 + u2) = 1/6 ≈ 0.167``;
    remembering only one of the two values leaves ``Var(u) = 1/12 ≈ 0.083``.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    length : int
        Sequence length T (>= 4).
    placement : {"early", "halves"}
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Every size is at most 1e8, and ``(n_train + n_test) * length * 3`` (inputs and
    targets) too.

    Returns
    -------
    Dataset
        Task "regression"; X of shape (n, T, 2), y of shape (n, T, 1).
    """
    length = check_int(length, "length", minimum=4)
    placement = check_choice(placement, "placement", PLACEMENTS)
    n_train, n_test = _check_sizes(n_train, n_test, length, 3)
    rng = check_random_state(random_state)
    if placement == "early":
        first_range = (0, min(10, length // 4))
        second_range = (first_range[1], length // 2)
    else:
        first_range, second_range = (0, length // 2), (length // 2, length)

    def make(n, rng):
        values = rng.uniform(size=(n, length))
        first = rng.randint(*first_range, size=n)
        second = rng.randint(*second_range, size=n)
        markers = np.zeros((n, length))
        markers[np.arange(n), first] = 1.0
        markers[np.arange(n), second] = 1.0
        y = np.full((n, length, 1), np.nan)
        y[:, -1, 0] = values[np.arange(n), first] + values[np.arange(n), second]
        return np.stack([values, markers], axis=-1), y

    X_train, y_train, X_test, y_test = _split(make, n_train, n_test, rng)
    return Dataset(
        name="adding", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        task="regression", truth={"length": length, "placement": placement}, oracle=None,
        baselines={"mse": 1.0 / 6.0, "mse_one_value_remembered": 1.0 / 12.0},
        # Hochreiter & Schmidhuber (1997): a sequence is solved when |error| < 0.04.
        metric=Metric("success_rate", threshold=0.04, label="success rate (|error| < 0.04)"),
        description=(f"Adding problem, length {length}, markers placed {placement!r}: the "
                     "target at the last step is the sum of the two marked values. Predicting "
                     "the mean scores MSE 1/6; remembering one value only, 1/12."),
        params=dict(n_train=n_train, n_test=n_test, length=length, placement=placement,
                    random_state=random_state),
    )


COPY_FORMS = ("recall", "arjovsky")
MAX_SYMBOLS = 10_000


@register("copy_memory")
def copy_memory(n_train=1000, n_test=200, n_symbols=8, n_recall=10, lag=20, form="recall",
                random_state=None):
    """Copy / delayed recall: reproduce a random symbol string after a blank delay.

    Inputs are one-hot over ``n_symbols + 2`` channels (the symbols, a blank, a cue);
    the first ``n_recall`` steps show random symbols, blanks follow, and a cue marks
    where the recall starts. Sequences have ``T = 2 n_recall + lag`` steps.

    * ``form="recall"``: ``lag`` blank steps, then the cue starts ``n_recall`` recall
      steps at which the symbols must be produced in order. Labels are the symbols at
      the recall steps and -1 ("no target") elsewhere. Baseline: guessing gives
      accuracy ``1 / n_symbols``. Headline metric: accuracy on the recall steps.
    * ``form="arjovsky"`` (Arjovsky, Shah & Bengio 2016, with their ``T = lag``):
      ``lag - 1`` blanks, the cue, then ``n_recall`` recall steps. Every step has a
      label: the blank class (label ``n_symbols``) until the recall, the symbols
      during it. Headline metric: cross-entropy per step (negative log-likelihood,
      nats) over all ``T`` steps. A memoryless model that knows the layout predicts
      blanks with certainty and guesses the recalled symbols uniformly:
      ``n_recall log(n_symbols) / (lag + 2 n_recall)`` nats per step, the baseline
      in ``Dataset.baselines["nll_per_step"]`` (``10 log 8 / (T + 20)`` in the paper).

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    n_symbols : int
        Alphabet size, in ``[2, 10000]``.
    n_recall : int
        Symbols to remember (>= 1).
    lag : int
        Blank steps between the string and the recall (the cue included for
        ``form="arjovsky"``, which needs ``lag >= 1``).
    form : {"recall", "arjovsky"}
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Every size is at most 1e8, and ``(n_train + n_test) * T * (n_symbols + 3)``
    (one-hot inputs and labels) too.

    Returns
    -------
    Dataset
        Task "tagging"; X of shape (n, T, n_symbols + 2), y integer (n, T, 1).
    """
    n_symbols = check_int(n_symbols, "n_symbols", minimum=2, maximum=MAX_SYMBOLS)
    n_recall = check_int(n_recall, "n_recall")
    form = check_choice(form, "form", COPY_FORMS)
    lag = check_int(lag, "lag", minimum=0)
    if form == "arjovsky" and lag < 1:
        raise ValueError("lag must be at least 1 with form='arjovsky' (the cue is its last "
                         "step); got 0.")
    T = 2 * n_recall + lag
    n_train, n_test = _check_sizes(n_train, n_test, T, n_symbols + 3, "2 n_recall + lag")
    rng = check_random_state(random_state)
    blank, cue = n_symbols, n_symbols + 1
    start = n_recall + lag                                # first recall step
    cue_step = start - 1 if form == "arjovsky" else start

    def make(n, rng):
        symbols = rng.randint(0, n_symbols, size=(n, n_recall))
        channel = np.full((n, T), blank)
        channel[:, :n_recall] = symbols
        channel[:, cue_step] = cue
        X = np.eye(n_symbols + 2)[channel]
        y = np.full((n, T, 1), blank if form == "arjovsky" else -1, dtype=np.int64)
        y[:, start:, 0] = symbols
        return X, y

    X_train, y_train, X_test, y_test = _split(make, n_train, n_test, rng)
    if form == "arjovsky":
        baseline = n_recall * np.log(n_symbols) / T
        baselines = {"nll_per_step": float(baseline)}
        metric = Metric("nll_per_step", label="cross-entropy per step (nats)")
        description = (f"Copy task (Arjovsky et al. 2016): {n_recall} symbols of {n_symbols}, "
                       f"recalled after a delay of {lag}; memoryless baseline "
                       f"{baseline:.4f} nats per step.")
    else:
        baselines = {"accuracy": 1.0 / n_symbols}
        metric = Metric("accuracy", label="recall accuracy")
        description = (f"Copy task: recall {n_recall} symbols (of {n_symbols}) after {lag} "
                       f"blank steps. Chance accuracy {1.0 / n_symbols:.3f}.")
    return Dataset(
        name="copy_memory", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        task="tagging", truth={"n_symbols": n_symbols, "n_recall": n_recall, "lag": lag,
                               "form": form},
        oracle=None, baselines=baselines, metric=metric, description=description,
        params=dict(n_train=n_train, n_test=n_test, n_symbols=n_symbols, n_recall=n_recall,
                    lag=lag, form=form, random_state=random_state),
    )


@register("delayed_xor")
def delayed_xor(n_train=1000, n_test=200, length=40, lag=5, random_state=None):
    """Delayed XOR (temporal order): the XOR of the current bit and the bit ``lag`` steps back.

    Inputs are random bits ``b_t``; the label at step ``t >= lag`` is
    ``b_t XOR b_{t-lag}`` (-1, no target, before that). A model must hold the last
    ``lag`` bits in memory; a memoryless model is at chance.

    Baseline: accuracy 0.5.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    length : int
        Sequence length (> lag).
    lag : int
        Delay in steps (>= 1).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Every size is at most 1e8, and ``(n_train + n_test) * length * 2`` too.

    Returns
    -------
    Dataset
        Task "tagging"; X of shape (n, length, 1), y integer (n, length, 1).
    """
    lag = check_int(lag, "lag")
    length = check_int(length, "length", minimum=2)
    if length <= lag:
        raise ValueError(f"length must exceed lag ({lag}); got {length}.")
    n_train, n_test = _check_sizes(n_train, n_test, length, 2)
    rng = check_random_state(random_state)

    def make(n, rng):
        bits = rng.randint(0, 2, size=(n, length))
        y = np.full((n, length, 1), -1, dtype=np.int64)
        y[:, lag:, 0] = bits[:, lag:] ^ bits[:, :-lag]
        return bits[..., None].astype(float), y

    X_train, y_train, X_test, y_test = _split(make, n_train, n_test, rng)
    return Dataset(
        name="delayed_xor", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        task="tagging", truth={"lag": lag}, oracle=None, baselines={"accuracy": 0.5},
        description=f"Delayed XOR with lag {lag}: y_t = b_t XOR b_(t-{lag}). Chance 0.5.",
        params=dict(n_train=n_train, n_test=n_test, length=length, lag=lag,
                    random_state=random_state),
    )


def _bits(numbers, n_bits):
    """Least-significant-bit-first binary digits, shape (n, n_bits)."""
    return (numbers[:, None] >> np.arange(n_bits)[None, :]) & 1


@register("binary_addition")
def binary_addition(n_train=1000, n_test=200, n_bits_train=8, n_bits_test=16,
                    random_state=None):
    """Binary addition: the bits of two numbers in, least significant first; the sum's bits out.

    Step t carries bit t of a and of b; the label is bit t of a + b. One extra step
    (inputs 0) emits the final carry. The rule is one bit of memory (the carry), so a
    model that learned it adds numbers longer than any it was trained on: test
    numbers have ``n_bits_test`` bits.

    Baseline: accuracy 0.5 per bit. Headline metric: the fraction of test sums with every
    bit right (guessing: ``0.5 ** (n_bits_test + 1)``).

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sums (each at most 1e8, and ``3 (n_bits + 1)``
        numbers per sum at most 1e8 in all).
    n_bits_train, n_bits_test : int
        Bits of the training and test numbers, in ``[1, 62]``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Returns
    -------
    Dataset
        Task "tagging"; X_train (n, n_bits_train + 1, 2), X_test (n, n_bits_test + 1, 2),
        y integer with one feature.
    """
    n_bits_train = check_int(n_bits_train, "n_bits_train", maximum=62)
    n_bits_test = check_int(n_bits_test, "n_bits_test", maximum=62)
    n_train, n_test = check_int(n_train, "n_train"), check_int(n_test, "n_test")
    check_size(3 * (n_train * (n_bits_train + 1) + n_test * (n_bits_test + 1)),
               "n_train, n_test, n_bits_train and n_bits_test")
    rng = check_random_state(random_state)

    def make(n, n_bits):
        a = rng.randint(0, 2**n_bits, size=n, dtype=np.int64)
        b = rng.randint(0, 2**n_bits, size=n, dtype=np.int64)
        X = np.stack([_bits(a, n_bits + 1), _bits(b, n_bits + 1)], axis=-1).astype(float)
        return X, _bits(a + b, n_bits + 1)[..., None].astype(np.int64)

    X_train, y_train = make(n_train, n_bits_train)
    X_test, y_test = make(n_test, n_bits_test)
    return Dataset(
        name="binary_addition", X_train=X_train, y_train=y_train, X_test=X_test,
        y_test=y_test, task="tagging",
        truth={"n_bits_train": n_bits_train, "n_bits_test": n_bits_test}, oracle=None,
        baselines={"accuracy": 0.5, "success_rate": 0.5 ** (n_bits_test + 1)},
        # A sum is right only when every bit is: the largest per-bit error is below 1/2.
        metric=Metric("success_rate", threshold=0.5, label="sums exactly right"),
        description=(f"Binary addition: trained on {n_bits_train}-bit numbers, tested on "
                     f"{n_bits_test}-bit ones (longer than any seen). Chance 0.5 per bit."),
        params=dict(n_train=n_train, n_test=n_test, n_bits_train=n_bits_train,
                    n_bits_test=n_bits_test, random_state=random_state),
    )


@register("parity")
def parity(n_train=1000, n_test=200, length=30, random_state=None):
    """Running parity: label each step with the XOR of all bits so far.

    ``y_t = b_1 XOR ... XOR b_t``: one bit of memory, but every input matters to every
    later label. Baseline: accuracy 0.5.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test sequences.
    length : int
        Sequence length (>= 1).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator

    Every size is at most 1e8, and ``(n_train + n_test) * length * 2`` too.

    Returns
    -------
    Dataset
        Task "tagging"; X of shape (n, length, 1), y integer (n, length, 1).
    """
    length = check_int(length, "length")
    n_train, n_test = _check_sizes(n_train, n_test, length, 2)
    rng = check_random_state(random_state)

    def make(n, rng):
        bits = rng.randint(0, 2, size=(n, length))
        return bits[..., None].astype(float), (np.cumsum(bits, axis=1) % 2)[..., None]

    X_train, y_train, X_test, y_test = _split(make, n_train, n_test, rng)
    return Dataset(
        name="parity", X_train=X_train, y_train=y_train.astype(np.int64), X_test=X_test,
        y_test=y_test.astype(np.int64), task="tagging", truth={"length": length}, oracle=None,
        baselines={"accuracy": 0.5},
        description=f"Running parity over {length} bits. Chance 0.5.",
        params=dict(n_train=n_train, n_test=n_test, length=length, random_state=random_state),
    )
