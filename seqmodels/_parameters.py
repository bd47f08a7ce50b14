"""Declared hyperparameter constraints, checked once in :meth:`SequenceEstimator.fit`.

Each estimator class declares what every ``__init__`` argument may be, as
scikit-learn's ``_parameter_constraints`` does::

    _parameter_constraints = {
        "n_iter": [Integer(1)],
        "tol": [Real(0.0, None, closed="left")],
        "covariance_type": [Options("full", "diag", "spherical", "tied")],
        "coef": [None, "array-like"],
        "random_state": ["random_state"],
    }

A value is valid when it meets ANY constraint of its list. The constraints:

* ``None`` -- the value None;
* :class:`Integer` ``(low, high)`` -- an integer (never a bool) in ``[low, high]``;
* :class:`Real` ``(low, high, closed)`` -- a finite real number (ints count, bools
  do not) in the interval, its ends closed as ``closed`` says;
* :class:`Options` ``(*choices)`` -- one of the given strings;
* ``"boolean"`` -- True or False (numpy booleans too);
* ``"array-like"`` -- a number, a list, a tuple or an ndarray (shapes are the
  family's business: they depend on the data);
* ``"names"`` -- a list, tuple or set of strings (which names are known is the family's
  business);
* ``"mapping"`` -- a dict;
* ``"random_state"`` -- None, an int in ``[0, 2**32 - 1]``, a
  ``numpy.random.RandomState`` or a ``numpy.random.Generator``
  (:func:`seqmodels._validation.check_random_state` turns it into draws);
* :class:`HasMethods` ``(*names)`` -- an object with those methods;
* ``callable`` -- any callable.

A failure raises :class:`InvalidParameterError`, which is both a ``ValueError`` and a
``TypeError`` (as scikit-learn's), so ``n_iter=2.5`` and ``epochs=2.5`` fail the same
way, and names the parameter, the estimator and what was expected.
"""

import math
import numbers

import numpy as np

__all__ = ["InvalidParameterError", "Integer", "Real", "Options", "HasMethods",
           "validate_parameters", "check_sample_sizes"]


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter outside its declared constraints (a ValueError and a TypeError)."""


def _interval(low, high, closed):
    left = "[" if closed in ("left", "both") and low is not None else "("
    right = "]" if closed in ("right", "both") and high is not None else ")"
    low = "-inf" if low is None else f"{low:g}"
    high = "inf" if high is None else f"{high:g}"
    return f"{left}{low}, {high}{right}"


def _within(value, low, high, closed):
    if low is not None and (value < low or (value == low and closed not in ("left", "both"))):
        return False
    return high is None or not (value > high or
                                (value == high and closed not in ("right", "both")))


class Integer:
    """An integer (not a bool) in the closed interval ``[low, high]`` (None: unbounded)."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def accepts(self, value):
        return (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
                and _within(value, self.low, self.high, "both"))

    def __str__(self):
        if self.high is None:
            return "an integer" if self.low is None else f"an integer >= {self.low}"
        if self.low is None:
            return f"an integer <= {self.high}"
        return f"an integer in [{self.low}, {self.high}]"


class Real:
    """A finite real number in an interval; ``closed`` in {"left", "right", "both", "neither"}."""

    def __init__(self, low=None, high=None, closed="both"):
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be left, right, both or neither; got {closed!r}.")
        self.low, self.high, self.closed = low, high, closed

    def accepts(self, value):
        return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
                and math.isfinite(value) and _within(value, self.low, self.high, self.closed))

    def __str__(self):
        low_closed = self.closed in ("left", "both")
        high_closed = self.closed in ("right", "both")
        if self.high is None:
            if self.low is None:
                return "a finite real number"
            return f"a real number {'>=' if low_closed else '>'} {self.low:g}"
        if self.low is None:
            return f"a real number {'<=' if high_closed else '<'} {self.high:g}"
        return f"a real number in {_interval(self.low, self.high, self.closed)}"


class Options:
    """One of the given strings."""

    def __init__(self, *choices):
        self.choices = choices

    def accepts(self, value):
        return isinstance(value, str) and value in self.choices

    def __str__(self):
        if len(self.choices) == 1:
            return repr(self.choices[0])
        return f"one of {', '.join(map(repr, self.choices))}"


class HasMethods:
    """An object with all the given methods (an estimator to wrap, say)."""

    def __init__(self, *methods):
        self.methods = methods

    def accepts(self, value):
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def __str__(self):
        return f"an object with the methods {', '.join(self.methods)}"


def _is_random_state(value):
    if value is None or isinstance(value, (np.random.RandomState, np.random.Generator)):
        return True
    return Integer(0, 2**32 - 1).accepts(value)


_NAMED = {
    "boolean": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "array-like": (lambda v: isinstance(v, (numbers.Number, list, tuple, np.ndarray))
                   and not isinstance(v, (bool, np.bool_)), "an array-like"),
    "names": (lambda v: isinstance(v, (list, tuple, set, frozenset))
              and all(isinstance(item, str) for item in v), "a list, tuple or set of names"),
    "mapping": (lambda v: isinstance(v, dict), "a dict"),
    "random_state": (_is_random_state, "None, an int in the range [0, 4294967295], a "
                     "numpy RandomState or a numpy Generator"),
}


def _accepts(constraint, value):
    if constraint is None:
        return value is None
    if constraint is callable:
        return callable(value)
    if isinstance(constraint, str):
        return _NAMED[constraint][0](value)
    return constraint.accepts(value)


def _describe(constraint):
    if constraint is None:
        return "None"
    if constraint is callable:
        return "a callable"
    if isinstance(constraint, str):
        return _NAMED[constraint][1]
    return str(constraint)


def _check_declaration(constraints, owner):
    for name, allowed in constraints.items():
        for constraint in allowed:
            if not (constraint is None or constraint is callable
                    or isinstance(constraint, (Integer, Real, Options, HasMethods))
                    or (isinstance(constraint, str) and constraint in _NAMED)):
                raise ValueError(f"{owner}._parameter_constraints[{name!r}] holds an unknown "
                                 f"constraint {constraint!r}.")


def check_sample_sizes(n_sequences, n_timesteps, owner):
    """``sample``'s sizes, each an integer >= 1, as ints (an InvalidParameterError naming
    the argument otherwise)."""
    sizes = {"n_sequences": n_sequences, "n_timesteps": n_timesteps}
    validate_parameters(dict.fromkeys(sizes, [Integer(1)]), sizes, owner)
    return int(n_sequences), int(n_timesteps)


def validate_parameters(constraints, params, owner):
    """Check every parameter against its declared constraints.

    Parameters
    ----------
    constraints : dict of str -> list
        The estimator's ``_parameter_constraints``.
    params : dict of str -> object
        ``estimator.get_params(deep=False)``.
    owner : str
        The estimator's class name, for messages.

    Raises
    ------
    InvalidParameterError
        The first parameter that meets none of its constraints, naming it, the
        estimator, the constraints and the value.
    ValueError
        A declaration that is not a constraint.

    Notes
    -----
    A parameter without a declaration (one a user's subclass added) is not checked;
    ``seqmodels.utils.estimator_checks`` checks that a class declaring constraints
    declares them for every parameter.
    """
    _check_declaration(constraints, owner)
    for name, value in params.items():
        if name not in constraints:   # a subclass's own parameter: its own business
            continue
        allowed = constraints[name]
        if any(_accepts(constraint, value) for constraint in allowed):
            continue
        expected = [_describe(c) for c in allowed]
        if len(expected) > 1:
            expected = ", ".join(expected[:-1]) + " or " + expected[-1]
        else:
            expected = expected[0]
        raise InvalidParameterError(f"{name} must be {expected}; got {value!r} ({owner}).")
