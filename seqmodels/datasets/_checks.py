"""Argument checks shared by the dataset generators."""

import numpy as np

__all__ = ["check_count", "check_positive"]


def check_count(name, value, minimum=1):
    """An integer ``>= minimum`` (sizes, lengths, lags), else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_positive(**values):
    """Every keyword is a positive finite number, else a ValueError naming the first that is not."""
    for name, value in values.items():
        if not (np.isscalar(value) and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number; got {value!r}.")
