"""Name -> generator registry behind :func:`load` and :func:`list_datasets`."""

import inspect

__all__ = ["register", "load", "list_datasets", "dataset_parameters", "dataset_defaults",
           "has_oracle"]

_GENERATORS = {}
_HAS_ORACLE = {}


def register(name, *, oracle=False):
    """Decorator: register a dataset generator under ``name``.

    The generator's docstring's first line is the one-line summary that
    :func:`list_datasets` shows. ``oracle`` declares whether its records carry an
    oracle, so a comparison knows its grid before generating any data.
    """

    def decorate(function):
        if name in _GENERATORS:
            raise ValueError(f"dataset {name!r} is already registered.")
        _GENERATORS[name] = function
        _HAS_ORACLE[name] = bool(oracle)
        return function

    return decorate


def load(name, **params):
    """Build the dataset ``name`` with the given generator parameters.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.
    **params
        The generator's parameters (sizes, noise levels, ``random_state``).

    Returns
    -------
    Dataset

    Examples
    --------
    >>> from seqmodels.datasets import load
    >>> data = load("var", n_train=5, n_test=2, n_timesteps=50, random_state=0)
    >>> data.X_train.shape
    (5, 50, 2)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {type(name).__name__}.")
    if name not in _GENERATORS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {sorted(_GENERATORS)} "
            "(seqmodels.datasets.list_datasets() describes them)."
        )
    generator = _GENERATORS[name]
    accepted = inspect.signature(generator).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"load({name!r}) got unexpected parameter(s) {unknown}; it accepts {sorted(accepted)}."
        )
    return generator(**params)


def dataset_parameters(name):
    """Names of the parameters the generator of dataset ``name`` accepts."""
    if name not in _GENERATORS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(_GENERATORS)}.")
    return tuple(inspect.signature(_GENERATORS[name]).parameters)


def dataset_defaults(name):
    """{parameter: default} of the generator of dataset ``name``."""
    if name not in _GENERATORS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(_GENERATORS)}.")
    return {p: v.default for p, v in inspect.signature(_GENERATORS[name]).parameters.items()}


def has_oracle(name):
    """Whether the records of dataset ``name`` carry an oracle (declared at registration)."""
    if name not in _GENERATORS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(_GENERATORS)}.")
    return _HAS_ORACLE[name]


def list_datasets():
    """Registered dataset names with a one-line summary each.

    Returns
    -------
    dict of str -> str
    """
    return {
        name: (inspect.getdoc(function) or "").splitlines()[0]
        for name, function in sorted(_GENERATORS.items())
    }
