"""Comparison suites: declarative TOML files, models resolved from the seqmodels registry only."""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .. import all_estimators
from .._resources import resource_dir
from ..datasets import list_datasets

__all__ = ["Suite", "ModelSpec", "DatasetSpec", "load_suite", "builtin_suites"]


@dataclass(frozen=True)
class ModelSpec:
    """A model of a suite: a registered estimator name and its hyperparameters."""

    label: str
    estimator: str
    params: dict = field(default_factory=dict)

    def build(self):
        """A fresh, unfitted estimator."""
        return dict(all_estimators())[self.estimator](**self.params)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of a suite: a registered dataset name and its generator parameters."""

    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """A grid of models x datasets x seeds."""

    name: str
    title: str
    description: str
    models: tuple
    datasets: tuple
    seeds: tuple


def builtin_suites():
    """Names of the suites shipped with the package (``comparisons/*.toml``)."""
    folder = resource_dir("comparisons")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_suite(name_or_path):
    """Read a suite: a built-in name (see :func:`builtin_suites`) or a path to a TOML file.

    Raises
    ------
    ValueError
        Unknown suite, malformed file, or a model / dataset name that is not
        registered (suites cannot import arbitrary code).
    """
    text, name = _read(name_or_path)
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"suite {name!r} is not valid TOML: {error}") from None
    return _parse(spec, name)


def _read(name_or_path):
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ValueError(f"suite file {str(path)!r} does not exist.")
        return path.read_text(encoding="utf-8"), path.stem
    if str(name_or_path) not in builtin_suites():
        raise ValueError(
            f"unknown suite {name_or_path!r}; built-in suites are {builtin_suites()}, "
            "or give a path ending in .toml."
        )
    resource = resource_dir("comparisons") / f"{name_or_path}.toml"
    return resource.read_text(encoding="utf-8"), str(name_or_path)


def _parse(spec, name):
    known_keys = {"title", "description", "seeds", "models", "datasets"}
    unknown = sorted(set(spec) - known_keys)
    if unknown:
        raise ValueError(
            f"suite {name!r} has unknown key(s) {unknown}; expected {sorted(known_keys)}."
        )
    estimators = dict(all_estimators())
    models = []
    for i, entry in enumerate(spec.get("models", [])):
        estimator = entry.get("estimator")
        if estimator not in estimators:
            raise ValueError(
                f"suite {name!r}: models[{i}] names estimator {estimator!r}, which is not "
                f"registered; choose one of {sorted(estimators)}."
            )
        models.append(ModelSpec(entry.get("label", estimator), estimator,
                                dict(entry.get("params", {}))))
    datasets = []
    for i, entry in enumerate(spec.get("datasets", [])):
        if entry.get("name") not in list_datasets():
            raise ValueError(
                f"suite {name!r}: datasets[{i}] names {entry.get('name')!r}, which is not "
                f"registered; choose one of {sorted(list_datasets())}."
            )
        datasets.append(DatasetSpec(entry["name"], dict(entry.get("params", {}))))
    if not models or not datasets:
        raise ValueError(f"suite {name!r} needs at least one model and one dataset.")
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise ValueError(f"suite {name!r} has duplicate model labels: {labels}.")
    seeds = spec.get("seeds", [0])
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"suite {name!r}: seeds must be a non-empty list of integers.")
    return Suite(name, spec.get("title", name), spec.get("description", ""), tuple(models),
                 tuple(datasets), tuple(seeds))
