"""The grid of a comparison: which cells exist, what each one means, and its key.

A **cell** is one model x one dataset x one data seed x one model seed x one value of
each experiment axis (training-set size, swept dataset parameters). The oracle of a
dataset is a flag on a cell (``is_oracle``), never a model label. Every cell has a
stable **key**: a hash of its canonical description and the package version, which the
results store uses to skip cells that are already done.
"""

import hashlib
import itertools
import json
import math
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from .. import __version__
from ..datasets import (Dataset, dataset_defaults, dataset_parameters, has_oracle,
                        list_datasets, load)

__all__ = ["ModelEntry", "DatasetEntry", "Cell", "build_grid", "model_entries",
           "dataset_entries", "ORACLE_LABEL"]

#: How oracle rows are labelled in results and reports; no model may take this label.
ORACLE_LABEL = "oracle"


# -- canonical descriptions -----------------------------------------------------------


def canonical(value):
    """A JSON-able description of ``value`` that is the same in every process and run.

    Estimators become their class path and parameters, arrays their contents (or a
    digest when large), callables their import path; other objects a digest of their
    pickle. Used for cell keys and for the parameter columns of the results.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.ndarray):
        if value.size <= 64 and value.dtype.kind in "biuf":
            return {"array": canonical(value.tolist()), "dtype": str(value.dtype)}
        return {"array_sha256": _digest(np.ascontiguousarray(value).tobytes()),
                "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, BaseEstimator):
        return {"estimator": _path(type(value)),
                "params": canonical(value.get_params(deep=False))}
    if isinstance(value, Dataset):
        return {"dataset": value.name, "sha256": dataset_digest(value)}
    if callable(value) and hasattr(value, "__qualname__"):
        return {"callable": _path(value)}
    try:
        return {"object": _path(type(value)), "sha256": _digest(pickle.dumps(value))}
    except Exception:  # unpicklable: its type is all that is stable
        return {"object": _path(type(value))}


def _path(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def dataset_digest(data):
    """SHA-256 over a dataset's splits: identifies a user's own data in cell keys."""
    h = hashlib.sha256()
    for part in (data.X_train, data.y_train, data.X_test, data.y_test):
        items = part if isinstance(part, (list, tuple)) else [part]
        for item in items:
            if item is not None:
                array = np.ascontiguousarray(np.asarray(item))
                h.update(str((array.shape, array.dtype.str)).encode())
                h.update(array.tobytes())
    h.update(f"{data.task}|{data.n_history}|{data.metric}".encode())
    return h.hexdigest()


def cell_key(description):
    """The store key of a cell: a hash of its canonical description and the package version."""
    text = json.dumps({"cell": description, "seqmodels": __version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# -- specs ----------------------------------------------------------------------------


#: The opt-in per-cell measurements (a Cell field, a build_grid argument and a suite key
#: each): off by default, and only when on do they enter a cell's key.
MEASUREMENTS = ("gradient_norms", "attention_weights")


@dataclass(frozen=True)
class ModelEntry:
    """A model of a comparison: its row label and an unfitted estimator to clone."""

    label: str
    estimator: Any

    @property
    def estimator_name(self):
        return type(self.estimator).__name__


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset of a comparison.

    Either a registered generator (``name`` and ``params``; each data seed draws a new
    record where the generator takes ``random_state``) or a user's own fixed
    :class:`~seqmodels.datasets.Dataset` (``data``).
    """

    label: str
    name: str
    params: dict = field(default_factory=dict)
    data: Any = None

    @property
    def seeded(self):
        """Whether different data seeds give different data."""
        return self.data is None and "random_state" in dataset_parameters(self.name)

    @property
    def has_oracle(self):
        if self.data is not None:
            return self.data.oracle is not None
        return has_oracle(self.name)

    def description(self):
        if self.data is not None:
            return {"name": self.name, "data_sha256": dataset_digest(self.data)}
        return {"name": self.name, "params": canonical(self.params)}

    def load(self, data_seed, sweep=()):
        """The record for one data seed and one set of swept parameter values."""
        if self.data is not None:
            return self.data
        params = {**self.params, **dict(sweep)}
        if self.seeded:
            params["random_state"] = data_seed
        return load(self.name, **params)


@dataclass(frozen=True)
class Cell:
    """One unit of work: fit one model on one dataset draw and evaluate it (or the oracle)."""

    model: str
    estimator: Any
    dataset: DatasetEntry
    data_seed: int
    model_seed: Any
    train_size: Any = None
    sweep: tuple = ()
    horizons: tuple = ()
    n_examples: int = 3
    is_oracle: bool = False
    gradient_norms: bool = False
    attention_weights: bool = False

    def description(self):
        """Everything that determines the cell's result, canonically."""
        return {
            "model": None if self.is_oracle else canonical(self.estimator),
            "oracle": self.is_oracle,
            "dataset": self.dataset.description(),
            "data_seed": self.data_seed if self.dataset.seeded else None,
            "model_seed": self.model_seed,
            "train_size": canonical(self.train_size),
            "sweep": canonical(dict(self.sweep)),
            "horizons": list(self.horizons),
            "n_examples": self.n_examples,
            # only when asked for, so the keys of every other cell stay as they were
            **({"gradient_norms": True} if self.gradient_norms else {}),
            **({"attention_weights": True} if self.attention_weights else {}),
        }

    @property
    def key(self):
        cached = self.__dict__.get("_key")
        if cached is None:
            cached = cell_key(self.description())
            object.__setattr__(self, "_key", cached)
        return cached

    @property
    def data_key(self):
        """Identifies the dataset draw: cells with equal data keys share data and oracle."""
        return (self.dataset.label, json.dumps(self.dataset.description(), sort_keys=True),
                self.data_seed if self.dataset.seeded else None,
                json.dumps(canonical(dict(self.sweep)), sort_keys=True))

    def title(self):
        """A short human description for progress lines."""
        parts = [self.model, self.dataset.label, f"seed {self.data_seed}"]
        if not self.is_oracle and self.model_seed != self.data_seed:
            parts.append(f"model seed {self.model_seed}")
        if self.train_size is not None:
            parts.append(f"n_train {self.train_size}")
        parts += [f"{k} {v}" for k, v in self.sweep]
        return " | ".join(str(p) for p in parts)


# -- building the grid ----------------------------------------------------------------


def model_entries(models):
    """Normalise ``models`` to a tuple of :class:`ModelEntry`.

    Accepts a dict of label -> estimator, a list of estimators (labelled by class
    name) or of (label, estimator) pairs, or ModelEntry objects.
    """
    if isinstance(models, dict):
        items = list(models.items())
    elif isinstance(models, (list, tuple)):
        items = []
        for i, item in enumerate(models):
            if isinstance(item, ModelEntry):
                items.append((item.label, item.estimator))
            elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                items.append(item)
            else:
                items.append((type(item).__name__, item))
    else:
        raise TypeError(
            "models must be a dict of label -> estimator or a list of estimators; got "
            f"{type(models).__name__}."
        )
    if not items:
        raise ValueError("models is empty; give at least one estimator.")
    entries = []
    for label, estimator in items:
        if not isinstance(label, str) or not label.strip():
            raise TypeError(f"model labels must be non-empty strings; got {label!r}.")
        if label.strip().lower() == ORACLE_LABEL:
            raise ValueError(
                f"models[{label!r}]: the label {label!r} is reserved. The oracle is added for "
                "every dataset that has one (oracle=True); it is never a model of yours."
            )
        _check_estimator(label, estimator)
        entries.append(ModelEntry(label, estimator))
    labels = [e.label for e in entries]
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise ValueError(f"model labels must be unique; repeated: {duplicates}.")
    return tuple(entries)


def _check_estimator(label, estimator):
    if isinstance(estimator, type):
        raise TypeError(
            f"models[{label!r}] is the class {estimator.__name__}; pass an instance, "
            f"e.g. {estimator.__name__}()."
        )
    missing = [m for m in ("fit", "predict", "get_params") if not hasattr(estimator, m)]
    if missing:
        raise TypeError(
            f"models[{label!r}] ({type(estimator).__name__}) lacks {missing}; a model must "
            "follow the estimator contract (fit, predict, get_params / set_params)."
        )
    try:
        clone(estimator)
    except Exception as error:
        raise TypeError(
            f"models[{label!r}] ({type(estimator).__name__}) cannot be cloned by "
            f"sklearn.base.clone: {error}"
        ) from None


def dataset_entries(datasets):
    """Normalise ``datasets`` to a tuple of :class:`DatasetEntry` with unique labels.

    Accepts a name, a (name, params) pair, a :class:`~seqmodels.datasets.Dataset`, a
    DatasetEntry, a list of these, or a dict of label -> one of these. A name used
    more than once is labelled by the parameters that tell its entries apart.
    """
    if isinstance(datasets, (str, Dataset, DatasetEntry)) or (
        isinstance(datasets, tuple) and len(datasets) == 2 and isinstance(datasets[0], str)
        and isinstance(datasets[1], dict)
    ):
        datasets = [datasets]
    if isinstance(datasets, dict):
        items = [(label, spec) for label, spec in datasets.items()]
    elif isinstance(datasets, (list, tuple)):
        items = [(None, spec) for spec in datasets]
    else:
        raise TypeError(
            "datasets must be a name, a (name, params) pair, a Dataset, or a list or dict of "
            f"these; got {type(datasets).__name__}."
        )
    if not items:
        raise ValueError("datasets is empty; give at least one dataset.")
    entries = [_dataset_entry(i, label, spec) for i, (label, spec) in enumerate(items)]
    return _unique_labels(entries)


def _dataset_entry(index, label, spec):
    where = f"datasets[{label!r}]" if label is not None else f"datasets[{index}]"
    if isinstance(spec, DatasetEntry):
        return spec if label is None else DatasetEntry(label, spec.name, spec.params, spec.data)
    if isinstance(spec, Dataset):
        return DatasetEntry(label or spec.name, spec.name, {}, spec)
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name, params = spec
        if not isinstance(params, dict):
            raise TypeError(f"{where}: the parameters must be a dict; got {params!r}.")
    else:
        raise TypeError(
            f"{where} must be a dataset name, a (name, params) pair or a Dataset; got {spec!r}."
        )
    if name not in list_datasets():
        raise ValueError(
            f"{where} names {name!r}, which is not a registered dataset; choose one of "
            f"{sorted(list_datasets())}."
        )
    accepted = dataset_parameters(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"{where} ({name}) got unknown parameter(s) {unknown}; it accepts {sorted(accepted)}."
        )
    if "random_state" in params:
        raise ValueError(
            f"{where} ({name}): do not set random_state; the data seeds (seeds=...) draw the data."
        )
    return DatasetEntry(label, name, dict(params))


def _unique_labels(entries):
    by_name = {}
    for e in entries:
        by_name.setdefault(e.label or e.name, []).append(e)
    labelled = []
    for e in entries:
        if e.label is not None:
            labelled.append(e)
            continue
        siblings = by_name[e.name]
        if len(siblings) == 1:
            labelled.append(DatasetEntry(e.name, e.name, e.params, e.data))
            continue
        keys = sorted({k for s in siblings for k in s.params})
        differing = [k for k in keys if len({repr(s.params.get(k)) for s in siblings}) > 1]
        text = ", ".join(f"{k}={e.params[k]}" for k in differing if k in e.params)
        labelled.append(DatasetEntry(f"{e.name}({text})" if text else e.name, e.name,
                                     e.params, e.data))
    labels = [e.label for e in labelled]
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise ValueError(
            f"datasets {duplicates} appear more than once with the same parameters; give each "
            "entry different parameters or its own label (a dict of label -> dataset)."
        )
    return tuple(labelled)


def _check_seeds(name, seeds, allow_none=False):
    if seeds is None and allow_none:
        return None
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple, range, np.ndarray)) or len(seeds) == 0:
        raise ValueError(f"{name} must be a non-empty list of integers; got {seeds!r}.")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"{name} must hold non-negative integers; got {s!r}.")
        out.append(int(s))
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values: {out}.")
    return tuple(out)


def _check_train_sizes(train_sizes):
    if train_sizes is None:
        return (None,)
    if not isinstance(train_sizes, (list, tuple, range, np.ndarray)) or len(train_sizes) == 0:
        raise ValueError(f"train_sizes must be a non-empty list; got {train_sizes!r}.")
    out = []
    for size in train_sizes:
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size >= 1:
            out.append(int(size))
        elif isinstance(size, (float, np.floating)) and 0.0 < size <= 1.0:
            out.append(float(size))
        else:
            raise ValueError(
                "train_sizes must hold sequence counts (integers >= 1) or fractions in (0, 1]; "
                f"got {size!r}."
            )
    return tuple(out)


def _check_sweep(sweep, entries):
    if sweep is None:
        return [()]
    if not isinstance(sweep, dict) or not sweep:
        raise TypeError(
            "sweep must be a dict of dataset parameter -> list of values, e.g. "
            f"{{'lag': [5, 10, 20]}}; got {sweep!r}."
        )
    for param, values in sweep.items():
        if not isinstance(values, (list, tuple, range, np.ndarray)) or len(values) == 0:
            raise ValueError(
                f"sweep[{param!r}] must be a non-empty list of values; got {values!r}.")
        for e in entries:
            if e.data is not None:
                raise ValueError(
                    f"sweep[{param!r}] cannot vary the fixed dataset {e.label!r} (your own "
                    "arrays); sweeps apply to registered generators."
                )
            if param not in dataset_parameters(e.name):
                raise ValueError(
                    f"sweep[{param!r}]: dataset {e.label!r} ({e.name}) has no parameter "
                    f"{param!r}; it accepts {sorted(dataset_parameters(e.name))}."
                )
            if param == "random_state":
                raise ValueError("sweep cannot vary random_state; use seeds=... instead.")
    names = list(sweep)
    return [tuple(zip(names, combo)) for combo in itertools.product(*(sweep[n] for n in names))]


def _check_sizes_fit(sizes, entries, combos):
    """Integer training sizes must not exceed a generator's n_train (known before loading)."""
    largest = max((s for s in sizes if isinstance(s, int)), default=None)
    if largest is None:
        return
    for e in entries:
        if e.data is not None or "n_train" not in dataset_parameters(e.name):
            continue
        default = dataset_defaults(e.name)["n_train"]
        for combo in combos:
            n_train = dict(combo).get("n_train", e.params.get("n_train", default))
            if isinstance(n_train, int) and largest > n_train:
                raise ValueError(
                    f"train_sizes asks for {largest} training sequences but dataset {e.label!r} "
                    f"has n_train={n_train}; raise its n_train to at least {largest}."
                )


def check_horizons(horizons):
    """Validate forecast horizons: sorted unique positive integers (empty: none)."""
    if horizons is None:
        return ()
    if isinstance(horizons, (int, np.integer)) and not isinstance(horizons, bool):
        horizons = range(1, int(horizons) + 1)
    out = []
    for h in horizons:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 1 <= h <= 10_000:
            raise ValueError(f"horizons must hold integers from 1 to 10000; got {h!r}.")
        out.append(int(h))
    return tuple(sorted(set(out)))


def build_grid(models, datasets, *, seeds=(0,), model_seeds=None, train_sizes=None,
               sweep=None, horizons=None, oracle=True, n_examples=3, gradient_norms=False,
               attention_weights=False):
    """Expand a comparison into its cells, grouped so cells sharing data are adjacent.

    Parameters
    ----------
    models, datasets
        As :func:`model_entries` and :func:`dataset_entries` accept them.
    seeds : list of int
        Data seeds: each draws a new dataset (for seeded generators).
    model_seeds : list of int, optional
        Model seeds (``random_state`` of every stochastic estimator). By default each
        cell's model seed is its data seed; a list crosses every model seed with every
        data seed (restart spread on fixed data).
    train_sizes : list of int or float, optional
        Training-set sizes: the first n training sequences (a float is a fraction).
    sweep : dict of str -> list, optional
        Dataset parameters to vary; several give their Cartesian product.
    horizons : list of int, optional
        Forecast horizons to evaluate in each cell (forecasting datasets).
    oracle : bool, default=True
        Add each dataset's oracle as a cell (where it has one).
    n_examples : int, default=3
        Test sequences whose predictions each cell keeps for plots.
    gradient_norms : bool, default=False
        Record, for models that offer ``gradient_norms`` (recurrent networks), the
        norm of the gradient of the last step's loss with respect to the hidden
        state at each lag, on up to 64 test sequences.
    attention_weights : bool, default=False
        Record, for models that offer ``attention_weights`` (attention networks), each
        head's attention weights on the first test sequence, an (n_heads, T, T) array
        (its first 512 steps and 2**20 numbers at most).

    Returns
    -------
    list of Cell
    """
    model_list = model_entries(models)
    data_list = dataset_entries(datasets)
    seeds = _check_seeds("seeds", seeds)
    model_seeds = _check_seeds("model_seeds", model_seeds, allow_none=True)
    sizes = _check_train_sizes(train_sizes)
    combos = _check_sweep(sweep, data_list)
    horizons = check_horizons(horizons)
    if isinstance(n_examples, bool) or not isinstance(n_examples, (int, np.integer)) \
            or not 0 <= n_examples <= 100:
        raise ValueError(f"n_examples must be an integer from 0 to 100; got {n_examples!r}.")
    measurements = {"gradient_norms": gradient_norms, "attention_weights": attention_weights}
    for name, value in measurements.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {value!r}.")
        measurements[name] = bool(value)
    _check_sizes_fit(sizes, data_list, combos)
    cells = []
    for entry in data_list:
        for seed in seeds:
            for combo in combos:
                for size in sizes:
                    common = dict(dataset=entry, data_seed=seed, train_size=size, sweep=combo,
                                  horizons=horizons, n_examples=int(n_examples))
                    if oracle and entry.has_oracle:
                        cells.append(Cell(model=ORACLE_LABEL, estimator=None, model_seed=None,
                                          is_oracle=True, **common))
                    for m in model_list:
                        for model_seed in (model_seeds or (seed,)):
                            cells.append(Cell(model=m.label, estimator=m.estimator,
                                              model_seed=model_seed,
                                              **measurements, **common))
    return cells
