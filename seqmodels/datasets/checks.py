"""Argument checks shared by the dataset generators (public: a generator of your own can
use them too).

One convention for every helper: ``check_*(value, name, ...)`` returns the value
converted to the type the generator computes with (``int``, ``float``, ``bool``,
float ndarray, ...); a value of the wrong *type* raises ``TypeError``, a value of the
right type but outside what is allowed raises ``ValueError``, and every message
names the parameter as the user passed it (``name``) and says what is allowed.

Limits shared by the generators, documented in their docstrings:

* :data:`MAX_VALUES` -- no record holds more than 10**8 numbers (about 800 MB as
  float64) in its sequences, targets and stored true paths; every size parameter is
  at most that on its own, and their product is checked before anything is allocated.
* :data:`STD_RANGE` -- standard deviations (and other scales) lie in ``[1e-12, 1e12]``,
  so their squares and the data stay far from float64 underflow and overflow.
* :data:`VALUE_BOUND` -- locations (means, intercepts) lie within ``±1e12``.
"""

import numbers
import operator

import numpy as np

from .._validation import check_random_state

__all__ = ["MAX_VALUES", "STD_RANGE", "VALUE_BOUND", "check_int", "check_real", "check_std",
           "check_probability", "check_bool", "check_choice", "check_array", "check_interval",
           "check_size", "check_split_sizes", "check_random_state"]

MAX_VALUES = 10**8
STD_RANGE = (1e-12, 1e12)
VALUE_BOUND = 1e12


def _type_name(value):
    return type(value).__name__


def _interval(low, high, include_low, include_high):
    opening, closing = "[" if include_low else "(", "]" if include_high else ")"
    return f"{opening}{low:.12g}, {high:.12g}{closing}"


def check_int(value, name, minimum=1, maximum=MAX_VALUES):
    """An integer in ``[minimum, maximum]`` (sizes, lengths, lags, dimensions).

    Python and numpy integers are accepted; bools and floats (even ``2.0``) are a
    TypeError, an integer out of range a ValueError.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer; got {value!r} of type {_type_name(value)}.")
    value = operator.index(value)
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum:_}]; got {value}.")
    return value


def check_real(value, name, low=-np.inf, high=np.inf, *, include_low=True, include_high=True):
    """A finite real number in the interval from ``low`` to ``high``.

    Python and numpy ints and floats are accepted; bools, strings, complex numbers
    and arrays are a TypeError; NaN, infinity and numbers outside the interval
    (open or closed at each end as asked) a ValueError.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number; got {value!r} of type {_type_name(value)}.")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = np.inf if value > 0 else -np.inf
    if not np.isfinite(number):
        raise ValueError(f"{name} must be a finite number; got {value!r}.")
    above = number >= low if include_low else number > low
    below = number <= high if include_high else number < high
    if not (above and below):
        raise ValueError(f"{name} must lie in {_interval(low, high, include_low, include_high)};"
                         f" got {value!r}.")
    return number


def check_std(value, name, *, allow_zero=False, maximum=STD_RANGE[1]):
    """A standard deviation or other positive scale in :data:`STD_RANGE` (or exactly 0)."""
    if allow_zero and check_real(value, name) == 0:
        return 0.0
    low = STD_RANGE[0]
    try:
        return check_real(value, name, low, maximum)
    except ValueError:
        zero = "0 or " if allow_zero else ""
        raise ValueError(f"{name} must be {zero}a number in [{low:g}, {maximum:g}]; "
                         f"got {value!r}.") from None


def check_probability(value, name, *, include_low=False, include_high=False):
    """A probability: in ``(0, 1)`` by default, ends included as asked."""
    return check_real(value, name, 0.0, 1.0, include_low=include_low, include_high=include_high)


def check_bool(value, name):
    """A real bool (``True`` / ``False`` or numpy's); anything else, 0 and 1 included, is a
    TypeError (a string such as ``"no"`` would otherwise read as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} of type "
                        f"{_type_name(value)}.")
    return bool(value)


def check_choice(value, name, choices):
    """One of ``choices`` (strings): TypeError for a non-string, ValueError otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {tuple(choices)}; got {value!r} of type "
                        f"{_type_name(value)}.")
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}.")
    return value


def check_array(value, name, *, ndim, bound=VALUE_BOUND, min_size=1, max_size=None):
    """A numeric array of ``ndim`` dimensions, finite, every entry within ``±bound``.

    ``min_size`` and ``max_size`` bound the length of every axis (shapes that must
    match another argument are the caller's check, whose message can name both).
    Strings, booleans, objects and complex numbers are a TypeError; a ragged array,
    the wrong number of dimensions or axis lengths, NaN, infinity or an entry beyond
    ``bound`` a ValueError. Returns a float64 copy.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers; got {value!r}.")
    try:
        array = np.array(value)
    except ValueError:  # ragged nesting
        raise ValueError(f"{name} must be a rectangular array of numbers; got {value!r}.") \
            from None
    numeric = array.dtype.kind in "iuf" or (array.dtype.kind == "O" and array.size and all(
        isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
        for v in array.ravel()))
    if not numeric:
        raise TypeError(f"{name} must be an array of real numbers; got {value!r} "
                        f"(dtype {array.dtype}).")
    try:
        array = array.astype(np.float64)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"{name} must hold finite numbers; got {value!r}.") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s); got shape {array.shape}.")
    for axis, length in enumerate(array.shape):
        if length < min_size or (max_size is not None and length > max_size):
            most = "" if max_size is None else f" and at most {max_size}"
            raise ValueError(f"{name} must have at least {min_size}{most} entries along axis "
                             f"{axis}; got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers (no NaN or infinity).")
    if array.size and np.abs(array).max() > bound:
        raise ValueError(f"{name} entries must lie within ±{bound:g}; got "
                         f"{np.abs(array).max():g}.")
    return array


def check_interval(value, name, low, high, *, include_low=True):
    """A pair ``(a, b)`` of real numbers with ``low <= a <= b <= high`` (a range to draw from).

    ``include_low=False`` makes the lower end open (``a > low``).
    """
    if not isinstance(value, (tuple, list, np.ndarray)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high) of numbers; got {value!r}.")
    a = check_real(value[0], f"{name}[0]", low, high, include_low=include_low)
    b = check_real(value[1], f"{name}[1]", low, high, include_low=include_low)
    if a > b:
        raise ValueError(f"{name} must be (low, high) with low <= high; got {tuple(value)!r}.")
    return a, b


def check_split_sizes(n_train, n_test, n_timesteps, values_per_step, *, min_timesteps=1,
                      timesteps_name="n_timesteps"):
    """``n_train`` and ``n_test`` (>= 1), the sequence length, and the record they make.

    ``values_per_step`` is how many numbers each step of each sequence stores (inputs,
    targets, true states); the total is checked against :data:`MAX_VALUES` by
    :func:`check_size`. Returns the three sizes as ints.
    """
    n_train, n_test = check_int(n_train, "n_train"), check_int(n_test, "n_test")
    n_timesteps = check_int(n_timesteps, timesteps_name, minimum=min_timesteps)
    check_size((n_train + n_test) * n_timesteps * values_per_step,
               f"n_train + n_test = {n_train + n_test} sequences of {timesteps_name} = "
               f"{n_timesteps} steps with {values_per_step} numbers each")
    return n_train, n_test, n_timesteps


def check_size(n_values, names):
    """Refuse a record of more than :data:`MAX_VALUES` numbers before allocating it.

    ``n_values`` is the count the generator would allocate (an exact Python int);
    ``names`` the parameters that set it, for the message.
    """
    if n_values > MAX_VALUES:
        raise ValueError(
            f"{names} ask for {n_values:.3g} numbers, more than the limit of {MAX_VALUES:.0e} "
            f"per dataset (about {MAX_VALUES * 8 // 10**6} MB as float64); make them smaller.")
    return n_values
