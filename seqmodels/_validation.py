"""Input validation: every accepted sequence container to one internal form, and back.

Accepted forms of ``X`` (and, in the same form as ``X``, of ``y``):

* a 3-D array ``(n_sequences, n_timesteps, n_features)`` -- the Keras / tslearn order;
* a list (or tuple) of 2-D arrays ``(n_timesteps_i, n_features)`` -- unequal lengths;
* a 1-D array -- one univariate sequence.

A 2-D array is refused: it could be one multivariate sequence or many univariate
ones, and guessing wrong silently changes the model.

Internally every input becomes a :class:`SequenceBatch`: a float64 array of shape
``(n_sequences, max_length, n_features)`` padded with NaN past each sequence's end,
the lengths, and the caller's container form, so outputs computed on the padded
array can be handed back in the form the caller used.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["SequenceBatch", "check_sequences", "check_targets", "check_horizon",
           "check_random_state", "check_generator", "split_sequences", "subset_sequences",
           "n_sequences",
           "MAX_ABS_VALUE", "MAX_HORIZON", "MAX_FORECAST_VALUES"]

FORMS = ("3d", "list", "1d")

#: Largest magnitude accepted in X and y. The models square and sum values (variances,
#: Gram matrices, Gaussian densities), and diffuse priors scale the data's variance by 1e6:
#: beyond about 1e100 that arithmetic overflows float64 (largest 1.8e308) and would give
#: NaN or infinity. Data that large is almost surely in the wrong unit: rescale it.
MAX_ABS_VALUE = 1e100

#: Most forecast steps accepted: a forecast runs one step at a time, so an unreasonable
#: horizon would run for hours (or ask for terabytes) before failing.
MAX_HORIZON = 100_000

#: Most numbers a forecast may return: n_sequences * horizon * n_features ** 2 (the
#: predictive covariances are (n_features, n_features) per step).
MAX_FORECAST_VALUES = 10**8


@dataclass(frozen=True)
class SequenceBatch:
    """Sequences padded to a common length, with the caller's container form.

    Attributes
    ----------
    values : ndarray of shape (n_sequences, max_length, n_features)
        The data as float64, NaN past the end of each sequence (and NaN where the
        caller gave NaN).
    lengths : ndarray of int of shape (n_sequences,)
        Number of timesteps of each sequence.
    form : {"3d", "list", "1d"}
        The container the caller used; :meth:`restore` returns outputs in it.
    """

    values: np.ndarray
    lengths: np.ndarray
    form: str

    @property
    def n_sequences(self):
        return self.values.shape[0]

    @property
    def max_length(self):
        return self.values.shape[1]

    @property
    def n_features(self):
        return self.values.shape[2]

    @property
    def mask(self):
        """Boolean array (n_sequences, max_length): True on real timesteps, False on padding."""
        return np.arange(self.max_length)[None, :] < self.lengths[:, None]

    def restore(self, padded, lengths=None):
        """Return ``padded`` (n_sequences, T, ...) in the caller's container form.

        Parameters
        ----------
        padded : ndarray of shape (n_sequences, T, ...)
            An output aligned with the sequences (per timestep, or a forecast), with any
            trailing shape: ``(n, T)`` for labels or states, ``(n, T, k)`` for values,
            ``(n, T, k, k)`` for covariances.
        lengths : array-like of int, optional
            Lengths to cut each sequence to; defaults to the input lengths
            (pass ``[horizon] * n`` for forecasts).

        Returns
        -------
        ndarray or list of ndarray
            3-D form: ``padded`` itself. List form: a list of ``(T_i, ...)`` arrays.
            1-D form: the single sequence ``(T, ...)``, with the feature axis dropped
            when the output is ``(T, 1)`` (so a univariate input gets a 1-D output).
        """
        lengths = self.lengths if lengths is None else np.asarray(lengths)
        if self.form == "3d":
            return padded
        if self.form == "list":
            return [padded[i, : lengths[i]] for i in range(padded.shape[0])]
        single = padded[0, : lengths[0]]
        return single[:, 0] if single.ndim == 2 and single.shape[1] == 1 else single


def _describe(name, value):
    return f"{name} of type {type(value).__name__}"


def _ragged_message(where, value):
    """Why ``value`` (nested lists) is not a rectangular array, naming where."""
    rows = _row_lengths(value)
    if rows is not None:
        lengths = sorted(set(rows))
        first = next(t for t, length in enumerate(rows) if length != rows[0])
        return (
            f"{where} is ragged: its timesteps have different numbers of values ({rows[0]} at "
            f"timestep 0, {rows[first]} at timestep {first}; lengths seen: {lengths}). Every "
            "timestep of a sequence must have the same number of features."
        )
    return (
        f"{where} is not a rectangular array: its nested lists have different lengths (or mix "
        "numbers and lists). Pass a 3-D array, a list of 2-D arrays (n_timesteps, n_features) "
        "or a 1-D array."
    )


def _row_lengths(value):
    """Lengths of the rows of a list of rows (None unless every row is a flat list)."""
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        return None
    rows = []
    for row in value:
        dim = _ndim(row)
        if isinstance(row, (list, tuple, np.ndarray)) and dim == 1:
            rows.append(len(row))
        elif dim == 0:
            rows.append(1)
        else:
            return None
    return rows if len(set(rows)) > 1 else None


def _ndim(item):
    """np.ndim, or None for nested lists that are not rectangular."""
    try:
        return np.ndim(item)
    except (ValueError, TypeError):
        return None


def _as_numeric(array, name, index=None):
    """Convert to a float64 array, raising TypeError for non-numeric data."""
    where = name if index is None else f"{name}[{index}]"
    original = array
    try:
        array = np.asarray(array)
    except ValueError:
        raise ValueError(_ragged_message(where, original)) from None
    if array.dtype.kind in "biuf":
        return array.astype(np.float64, copy=True)
    if array.dtype.kind == "O":
        try:
            return array.astype(np.float64)
        except OverflowError:
            raise ValueError(
                f"{where} holds an integer too large for a float (beyond 1.8e308)."
            ) from None
        except (TypeError, ValueError):
            pass
    raise TypeError(
        f"{where} must contain real numbers; got an array of dtype {array.dtype}. "
        "Convert it with np.asarray(..., dtype=float) or encode categories as integers."
    )


def _split_form(X, name):
    """Return (3-D float array or list of 2-D float arrays, form) for an accepted container."""
    if X is None:
        raise ValueError(f"{name} is None; expected sequences (a 3-D array, a list of 2-D arrays "
                         "or a 1-D array).")
    if isinstance(X, (list, tuple)) and len(X) == 0:
        raise ValueError(f"{name} is empty; expected at least one sequence.")
    if isinstance(X, (list, tuple)):
        dims = [_ndim(item) for item in X]
        if None in dims:  # a member is itself ragged: say which, and how
            bad = dims.index(None)
            raise ValueError(_ragged_message(f"{name}[{bad}]", X[bad]))
        if all(dim == 2 for dim in dims):
            sequences = [_as_numeric(item, name, i) for i, item in enumerate(X)]
            return sequences, "list"
        if any(dim >= 2 for dim in dims):
            bad = next(i for i, dim in enumerate(dims) if dim != 2)
            raise ValueError(
                f"{name} is a list whose item {bad} has {dims[bad]} dimension(s); every item "
                f"of a list of sequences must be a 2-D array (n_timesteps, n_features)."
            )
        if all(dim == 1 for dim in dims) and len({len(item) for item in X}) > 1:
            raise ValueError(
                f"{name} is a list of 1-D arrays of different lengths "
                f"({sorted({len(item) for item in X})}); a list of sequences takes 2-D items "
                f"(n_timesteps, n_features): for univariate sequences pass "
                f"[x[:, None] for x in {name}]."
            )
    if isinstance(X, (str, bytes, dict, set, frozenset)):
        raise TypeError(f"{name} must be numeric sequences; got {_describe(name, X)}.")
    array = _as_numeric(X, name)
    if array.ndim == 3:
        return array, "3d"
    if array.ndim == 1:
        return [array[:, None]], "1d"
    if array.ndim == 2:
        n0, n1 = array.shape
        raise ValueError(
            f"{name} is a 2-D array of shape {array.shape}, which is ambiguous: it could be one "
            f"sequence of {n0} timesteps with {n1} features, or {n0} univariate sequences of "
            f"{n1} timesteps. Pass {name}[None] (shape (1, {n0}, {n1})) for one multivariate "
            f"sequence, or {name}[..., None] (shape ({n0}, {n1}, 1)) for many univariate ones."
        )
    raise ValueError(
        f"{name} must be a 3-D array (n_sequences, n_timesteps, n_features), a list of 2-D "
        f"arrays or a 1-D array; got an array with {array.ndim} dimension(s) of shape "
        f"{array.shape}."
    )


def _first_bad(values, test):
    """(sequence, timestep) of the first entry where ``test`` holds."""
    i, t = np.argwhere(test(values).any(axis=-1))[0]
    return int(i), int(t)


def check_sequences(X, name="X", *, allow_nan=False, min_length=1, n_features=None,
                    estimator_name=None):
    """Validate sequences and convert them to a :class:`SequenceBatch`.

    Parameters
    ----------
    X : array-like
        A 3-D array (n_sequences, n_timesteps, n_features), a list of 2-D arrays
        (n_timesteps_i, n_features) or a 1-D array (one univariate sequence).
    name : str
        The argument's name, used in error messages.
    allow_nan : bool
        Whether NaN is accepted (it then means "missing observation"). Infinity
        is never accepted.
    min_length : int
        Minimum number of timesteps every sequence must have.
    n_features : int, optional
        Required number of features (the number seen in ``fit``).
    estimator_name : str, optional
        Named in the "too short" message.

    Returns
    -------
    SequenceBatch

    Raises
    ------
    TypeError
        Non-numeric data.
    ValueError
        Wrong number of dimensions, a 2-D array, no sequences, a sequence shorter
        than ``min_length``, inconsistent or wrong ``n_features``, infinity, or
        NaN where it is not allowed. The message names the sequence and timestep.
    """
    sequences, form = _split_form(X, name)
    if len(sequences) == 0:
        raise ValueError(f"{name} is empty; expected at least one sequence.")
    if form == "3d":                 # one array: no per-sequence Python work
        widths = {sequences.shape[2]}
    else:
        widths = {seq.shape[1] for seq in sequences}
    if len(widths) > 1:
        first = sequences[0].shape[1]
        bad = next(i for i, seq in enumerate(sequences) if seq.shape[1] != first)
        raise ValueError(
            f"{name}[{bad}] has {sequences[bad].shape[1]} features but {name}[0] has {first}; "
            "all sequences must have the same number of features."
        )
    width = widths.pop()
    if width == 0:
        raise ValueError(f"{name} has 0 features; expected at least one.")
    if n_features is not None and width != n_features:
        raise ValueError(
            f"{name} has {width} feature(s) but the estimator was fitted with {n_features}."
        )
    if form == "3d":
        lengths = np.full(sequences.shape[0], sequences.shape[1], dtype=np.intp)
    else:
        lengths = np.array([seq.shape[0] for seq in sequences], dtype=np.intp)
    short = np.flatnonzero(lengths < max(min_length, 1))
    if short.size:
        i = int(short[0])
        who = f"{estimator_name} needs" if estimator_name else "expected"
        raise ValueError(
            f"{name}[{i}] has {lengths[i]} timestep(s); {who} at least {max(min_length, 1)}."
        )
    if form == "3d":
        values = sequences
    else:
        values = np.full((len(sequences), lengths.max(), width), np.nan)
        for i, seq in enumerate(sequences):
            values[i, : lengths[i]] = seq
    if np.isfinite(values).all():    # the usual case: nothing to report
        _check_magnitude(values, name, values.max(initial=0.0), values.min(initial=0.0))
        return SequenceBatch(values, lengths, form)
    if np.isinf(values).any():
        i, t = _first_bad(values, np.isinf)
        raise ValueError(f"{name} contains infinity at sequence {i}, timestep {t}.")
    mask = np.arange(values.shape[1])[None, :] < lengths[:, None]
    if not allow_nan and np.isnan(values[mask]).any():
        i, t = _first_bad(np.where(mask[..., None], values, 0.0), np.isnan)
        raise ValueError(
            f"{name} contains NaN at sequence {i}, timestep {t}. NaN means a missing observation, "
            "which only estimators that handle missing data (e.g. KalmanFilter) accept."
        )
    _check_magnitude(values, name, np.nanmax(values, initial=0.0),
                     np.nanmin(values, initial=0.0))
    return SequenceBatch(values, lengths, form)


def _check_magnitude(values, name, high, low):
    """Refuse values beyond :data:`MAX_ABS_VALUE`, naming the first one."""
    if max(high, -low) <= MAX_ABS_VALUE:
        return
    i, t = _first_bad(np.nan_to_num(values), lambda v: np.abs(v) > MAX_ABS_VALUE)
    top = max(high, -low)
    raise ValueError(
        f"{name} holds values up to {top:.3g} in magnitude (the first at sequence {i}, timestep "
        f"{t}); the models' arithmetic (squares, variances, densities) overflows float64 beyond "
        f"about {MAX_ABS_VALUE:.0e}: rescale {name}, e.g. divide it by its standard deviation."
    )


def check_targets(y, X_batch, name="y"):
    """Validate per-timestep targets against the sequences they belong to.

    ``y`` must be in the same container form as ``X`` and have the same number of
    sequences and timesteps. NaN in float targets means "no target at this step"
    (losses and metrics skip it). Integer or boolean targets are class labels; a
    negative label (e.g. -1) means "no target at this step", as NaN does for floats.

    Parameters
    ----------
    y : array-like
        Targets, same container form as ``X``.
    X_batch : SequenceBatch
        The validated inputs.
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    batch : SequenceBatch
        The targets (float64; labels are stored as exact floats).
    is_labels : bool
        True when ``y`` holds integer class labels.
    """
    is_labels = _is_integer_container(y)
    batch = check_sequences(y, name, allow_nan=True)
    if is_labels:
        # Integer arrays cannot hold NaN: a negative label means "no target at this step".
        values = np.where(batch.values < 0, np.nan, batch.values)
        batch = SequenceBatch(values, batch.lengths, batch.form)
    if batch.form != X_batch.form:
        raise ValueError(
            f"{name} must be in the same container form as X: X is "
            f"{_FORM_NAMES[X_batch.form]} but {name} is {_FORM_NAMES[batch.form]}."
        )
    if batch.n_sequences != X_batch.n_sequences:
        raise ValueError(
            f"{name} has {batch.n_sequences} sequence(s) but X has {X_batch.n_sequences}."
        )
    mismatch = np.flatnonzero(batch.lengths != X_batch.lengths)
    if mismatch.size:
        i = int(mismatch[0])
        raise ValueError(
            f"{name}[{i}] has {batch.lengths[i]} timestep(s) but X[{i}] has "
            f"{X_batch.lengths[i]}; targets are per timestep."
        )
    if not np.isfinite(batch.values[batch.mask]).any():
        raise ValueError(f"{name} has no target at any timestep (all NaN).")
    return batch, is_labels


_FORM_NAMES = {"3d": "a 3-D array", "list": "a list of 2-D arrays", "1d": "a 1-D array"}


def _is_integer_container(y):
    if isinstance(y, (list, tuple)) and len(y) > 0 and all(np.ndim(item) == 2 for item in y):
        return all(np.asarray(item).dtype.kind in "biu" for item in y)
    return np.asarray(y).dtype.kind in "biu" if y is not None else False


def check_horizon(horizon, n_sequences=None, n_features=None, max_horizon=MAX_HORIZON):
    """Validate a forecast horizon: a positive integer of reasonable size.

    Parameters
    ----------
    horizon : int
        Number of steps to forecast.
    n_sequences, n_features : int, optional
        The sequences to continue: with them, the forecast's size
        ``n_sequences * horizon * n_features ** 2`` (the covariances of every step) must
        stay within :data:`MAX_FORECAST_VALUES`.
    max_horizon : int, default=MAX_HORIZON
        Most steps accepted (an estimator may lower it: networks step slowly).

    Returns
    -------
    int

    Raises
    ------
    TypeError
        Not an integer (booleans and floats included).
    ValueError
        Below 1, above ``max_horizon``, or a forecast beyond the size limit. The limits
        are checked before any work, so an unreasonable horizon fails at once.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
        raise TypeError(f"horizon must be a positive integer; got {horizon!r} of type "
                        f"{type(horizon).__name__}.")
    if horizon < 1:
        raise ValueError(f"horizon must be a positive integer; got {horizon}.")
    if horizon > max_horizon:
        shown = f"{horizon}" if horizon < 10**15 else f"about 1e{len(str(int(horizon))) - 1}"
        raise ValueError(
            f"horizon={shown} is above the limit of {max_horizon:,} steps; forecasts run one "
            "step at a time and converge to the model's long-run mean long before. Forecast "
            "fewer steps (or refit on coarser time steps)."
        )
    horizon = int(horizon)
    if n_sequences is not None and n_features is not None:
        size = n_sequences * horizon * n_features**2
        if size > MAX_FORECAST_VALUES:
            raise ValueError(
                f"horizon={horizon} for {n_sequences} sequence(s) of {n_features} feature(s) "
                f"asks for {size:.3g} numbers (n_sequences * horizon * n_features**2, the "
                f"forecast covariances), above the limit of {MAX_FORECAST_VALUES:.0e}; forecast "
                "fewer steps or fewer sequences at a time."
            )
    return horizon


def check_random_state(random_state, name="random_state"):
    """Turn a ``random_state`` argument into a :class:`numpy.random.RandomState`.

    Parameters
    ----------
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        * None: numpy's global RandomState (``np.random.seed`` sets it), as in
          scikit-learn;
        * an int in ``[0, 2**32 - 1]``: a new RandomState seeded with it;
        * a RandomState: itself (draws advance it);
        * a Generator: a RandomState that draws from the Generator's bit generator,
          so the same seeded Generator gives the same numbers, and draws advance the
          Generator as they would a RandomState.
    name : str, default="random_state"
        The argument's name, used in error messages.

    Returns
    -------
    numpy.random.RandomState

    Raises
    ------
    TypeError
        Any other type, booleans included.
    ValueError
        An int outside ``[0, 2**32 - 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> a = check_random_state(np.random.default_rng(0)).randint(100, size=3)
    >>> b = check_random_state(np.random.default_rng(0)).randint(100, size=3)
    >>> bool((a == b).all())
    True
    """
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(random_state.bit_generator)
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if not 0 <= random_state <= 2**32 - 1:
            raise ValueError(
                f"{name} must be an integer in [0, 2**32 - 1]; got {random_state}."
            )
        return np.random.RandomState(int(random_state))
    raise TypeError(
        f"{name} must be None, an int, a numpy.random.RandomState or a "
        f"numpy.random.Generator; got {random_state!r} of type {type(random_state).__name__}."
    )


def check_generator(random_state, name="random_state"):
    """Turn a ``random_state`` argument into a :class:`numpy.random.Generator`.

    The other face of :func:`check_random_state`, for code that draws with the new API.

    Parameters
    ----------
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        * None: a Generator seeded from fresh OS entropy;
        * an int in ``[0, 2**32 - 1]``: ``numpy.random.default_rng(random_state)``;
        * a Generator: itself (draws advance it);
        * a RandomState: a new Generator seeded with one draw below ``2**31 - 1`` from
          it (so it advances).
    name : str, default="random_state"
        The argument's name, used in error messages.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> import numpy as np
    >>> float(check_generator(0).normal()) == float(np.random.default_rng(0).normal())
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if random_state is None:
        return np.random.default_rng()
    check_random_state(random_state, name)              # the type and range checks
    return np.random.default_rng(int(random_state))


def check_distribution(value, name, shape):
    """Probabilities of the given shape whose last axis sums to 1 (a vector or a stochastic
    matrix), as a float array; a ValueError naming ``name`` otherwise."""
    array = np.asarray(value, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {array.shape}.")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must hold finite non-negative probabilities.")
    sums = array.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-8):
        raise ValueError(f"{name} must sum to 1 along its last axis; got sums {sums}.")
    return array


# -- containers as the caller gave them (no validation: outputs and known-good inputs) --


def split_sequences(container):
    """The arrays a container holds: a list's (or tuple's) items, or the array itself.

    For pooling the timesteps of every sequence (metrics), where a 3-D array can stay
    one block; nothing is validated.

    Examples
    --------
    >>> import numpy as np
    >>> [part.shape for part in split_sequences([np.zeros((3, 2)), np.zeros((1, 2))])]
    [(3, 2), (1, 2)]
    >>> [part.shape for part in split_sequences(np.zeros((2, 4, 1)))]
    [(2, 4, 1)]
    """
    if isinstance(container, (list, tuple)) and len(container) and np.ndim(container[0]) >= 1:
        return [np.asarray(seq) for seq in container]
    return [np.asarray(container)]


def subset_sequences(container, stop=None, *, start=0, index=None):
    """Sequences ``index`` (all by default), timesteps ``start:stop``, in the same form.

    Works on a 3-D array, a list of 2-D arrays, a 1-D array (one sequence) or None.

    Examples
    --------
    >>> import numpy as np
    >>> subset_sequences(np.arange(12.0).reshape(3, 4, 1), 2, index=[2]).shape
    (1, 2, 1)
    >>> subset_sequences(np.arange(4.0), start=1)
    array([1., 2., 3.])
    """
    if container is None:
        return None
    if isinstance(container, (list, tuple)):
        chosen = container if index is None else [container[i] for i in index]
        return [np.asarray(seq)[start:stop] for seq in chosen]
    array = np.asarray(container)
    if array.ndim == 1:
        return array[start:stop]
    chosen = array if index is None else array[list(index)]
    return chosen[:, start:stop]


def n_sequences(container):
    """Number of sequences in any container form (a 1-D array is one sequence)."""
    if isinstance(container, (list, tuple)):
        return len(container)
    return 1 if np.ndim(container) == 1 else len(container)
