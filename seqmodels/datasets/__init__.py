"""Datasets: synthetic processes with oracles, and real data shipped with provenance.

``load(name, **params)`` builds a :class:`Dataset`; ``list_datasets()`` lists them.
"""

from . import memory, ngrams, real, synthetic, tracking  # noqa: F401  (importing registers them)
from ._record import Dataset
from ._registry import dataset_defaults, dataset_parameters, has_oracle, list_datasets, load

__all__ = ["Dataset", "load", "list_datasets", "dataset_parameters", "dataset_defaults",
           "has_oracle"]
