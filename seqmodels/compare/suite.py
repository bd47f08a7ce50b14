"""Comparison suites: declarative TOML files, validated completely when they are loaded.

A suite names registered estimators and datasets only (no imports from a config file:
a module path, an expression or a table in place of a name is refused), their
parameters (plain TOML values, never resolved to code), the seeds, the experiment axes
and a ``[quick]`` table of overrides. No key of a suite is a path.
Every key at every level is checked when the file is read, before any cell runs: an
unknown key, an unknown or ill-typed hyperparameter or dataset parameter is a
:class:`SuiteError` naming the file, the key path (``models[2].params.units``) and what
was expected. See ``comparisons/README.md`` for the format.
"""

import inspect
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import all_estimators
from ..utils.resources import resource_dir
from ..datasets import dataset_defaults, dataset_parameters, list_datasets
from ..imputation import STRATEGIES as IMPUTE_STRATEGIES
from ..imputation import ImputeMissing
from .grid import MEASUREMENTS, ORACLE_LABEL, build_grid

__all__ = ["Suite", "ModelSpec", "DatasetSpec", "SuiteError", "load_suite", "builtin_suites"]

_TOP_KEYS = {"title", "description", "seeds", "model_seeds", "train_sizes", "horizons",
             "sweep", "n_examples", "gradient_norms", "attention_weights", "models", "datasets",
             "quick"}
_MODEL_KEYS = {"label", "estimator", "params", "impute"}
_DATASET_KEYS = {"name", "label", "params"}
_SWEEP_KEYS = {"dataset_param", "values"}
_QUICK_KEYS = {"seeds", "model_seeds", "train_sizes", "horizons", "sweep", "n_examples",
               "dataset_params", "model_params"}


class SuiteError(ValueError):
    """A suite that cannot run: the message names the file, the key path and the problem."""


@dataclass(frozen=True)
class ModelSpec:
    """A model of a suite: a registered estimator name and its hyperparameters."""

    label: str
    estimator: str
    params: dict = field(default_factory=dict)
    #: An :class:`~seqmodels.imputation.ImputeMissing` strategy wrapping the model, or None.
    impute: str = None

    def build(self):
        """A fresh, unfitted estimator (wrapped in ``ImputeMissing`` when ``impute`` is set)."""
        model = dict(all_estimators())[self.estimator](**self.params)
        if self.impute is None:
            return model
        return ImputeMissing(model, strategy=self.impute)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of a suite: a registered dataset name, its parameters, an optional label."""

    name: str
    params: dict = field(default_factory=dict)
    label: str = None


@dataclass(frozen=True)
class Suite:
    """A declarative comparison: models x datasets x seeds x axes."""

    name: str
    title: str
    description: str
    models: tuple
    datasets: tuple
    seeds: tuple = (0,)
    model_seeds: tuple = None
    train_sizes: tuple = None
    sweep: dict = None
    horizons: tuple = None
    n_examples: int = 3
    gradient_norms: bool = False
    attention_weights: bool = False
    quick_overrides: dict = field(default_factory=dict)
    #: What :func:`load_suite` reloads it from: a built-in name or an absolute path.
    source: str = ""

    def quick(self):
        """The suite with its ``[quick]`` overrides applied (``seqcompare run --quick``)."""
        q = self.quick_overrides
        if not q:
            return self
        changes = {k: q[k] for k in ("seeds", "model_seeds", "train_sizes", "horizons",
                                     "sweep", "n_examples") if k in q}
        if "dataset_params" in q:
            changes["datasets"] = tuple(
                replace(d, params={**d.params, **{k: v for k, v in q["dataset_params"].items()
                                                  if k in dataset_parameters(d.name)}})
                for d in self.datasets)
        if "model_params" in q:
            changes["models"] = tuple(
                replace(m, params={**m.params, **{k: v for k, v in q["model_params"].items()
                                                  if k in _accepted(m.estimator)}})
                for m in self.models)
        return replace(self, quick_overrides={}, **changes)

    def grid_arguments(self):
        """Keyword arguments of :func:`~seqmodels.compare.grid.build_grid` for this suite."""
        datasets = {}
        for d in self.datasets:
            datasets[d.label or _auto_label(d, self.datasets)] = (d.name, dict(d.params))
        sweep = None
        if self.sweep:
            sweep = {self.sweep["dataset_param"]: list(self.sweep["values"])}
        return dict(models={m.label: m.build() for m in self.models}, datasets=datasets,
                    seeds=self.seeds, model_seeds=self.model_seeds,
                    train_sizes=self.train_sizes, sweep=sweep, horizons=self.horizons)

    def cells(self, oracle=True):
        """The expanded grid."""
        return build_grid(**self.grid_arguments(), oracle=oracle, n_examples=self.n_examples,
                          **self.measurements())

    def measurements(self):
        """The opt-in measurements asked for: ``{"gradient_norms": ..., ...}``."""
        return {name: getattr(self, name) for name in MEASUREMENTS}


def _auto_label(spec, siblings):
    same = [d for d in siblings if d.name == spec.name]
    if len(same) == 1:
        return spec.name
    keys = sorted({k for d in same for k in d.params})
    differing = [k for k in keys if len({repr(d.params.get(k)) for d in same}) > 1]
    text = ", ".join(f"{k}={spec.params[k]}" for k in differing if k in spec.params)
    return f"{spec.name}({text})" if text else spec.name


def builtin_suites():
    """Names of the suites shipped with the package (``comparisons/*.toml``)."""
    folder = resource_dir("comparisons")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_suite(name_or_path):
    """Read and validate a suite: a built-in name (see :func:`builtin_suites`) or a TOML path.

    A suite is data. Estimators and datasets are looked up by name in the package's
    registries (``all_estimators()``, ``list_datasets()``), never imported: a module
    path, an expression or a table where a name belongs is refused, as is any key the
    format does not define (``__class__`` included) at any level. Parameter values stay
    plain TOML values (a string given for a callable is refused by the model when it is
    fitted, never looked up). A built-in suite is found only by its exact name, so a
    name holding ``..`` or a folder cannot reach other files; a path is read as a TOML
    file of yours and nothing else.

    Raises
    ------
    SuiteError
        Unknown suite, unreadable or malformed file, unknown keys, unregistered
        estimators or datasets, unknown or ill-typed parameters, bad seeds or axes.
    """
    if isinstance(name_or_path, Suite):
        return name_or_path
    text, name, source = _read(name_or_path)
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{source}: not valid TOML: {error}") from None
    return _parse(spec, name, source)


def _read(name_or_path):
    """The text, name and source of a suite: a file, else a built-in name.

    A built-in suite is read only by a name :func:`builtin_suites` lists, from the
    package's own folder: a name with ``..`` or a path in it is never joined onto that
    folder. A path names a file of the user's, read as TOML and nothing else (a suite
    cannot import or execute code); a folder is refused, and does not hide the built-in
    suite of the same name (``seqcompare run default`` where ``./default`` is an output
    folder runs the built-in suite).
    """
    path = Path(name_or_path)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), path.stem, str(path.resolve())
        except (OSError, UnicodeDecodeError) as error:
            raise SuiteError(f"{path}: cannot be read: {error}") from None
    if str(name_or_path) in builtin_suites():
        resource = resource_dir("comparisons") / f"{name_or_path}.toml"
        return resource.read_text(encoding="utf-8"), str(name_or_path), str(name_or_path)
    if path.is_dir():
        raise SuiteError(f"{str(path)!r} is a folder, not a suite file (.toml) or a built-in "
                         f"suite; built-in suites are {builtin_suites()}.")
    if path.suffix == ".toml":
        raise SuiteError(f"suite file {str(path)!r} does not exist.")
    raise SuiteError(
        f"unknown suite {str(name_or_path)!r}; built-in suites are {builtin_suites()}, "
        "or give a path ending in .toml."
    )


# -- validation -----------------------------------------------------------------------


class _Checker:
    """Collects the file name so every error names it and the key path."""

    def __init__(self, source):
        self.source = source

    def fail(self, path, problem):
        raise SuiteError(f"{self.source}: {path}: {problem}")

    def keys(self, table, allowed, path):
        if not isinstance(table, dict):
            self.fail(path, f"expected a table, got {_kind(table)}")
        unknown = sorted(set(table) - allowed)
        if unknown:
            where = f"{path}." if path else ""
            self.fail(f"{where}{unknown[0]}",
                      f"unknown key; expected one of {sorted(allowed)}")

    def string(self, value, path):
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected a non-empty string, got {_kind(value)}")
        return value

    def int_list(self, value, path, minimum=0):
        if not isinstance(value, list) or not value:
            self.fail(path, f"expected a non-empty list of integers, got {_kind(value)}")
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
                self.fail(f"{path}[{i}]", f"expected an integer >= {minimum}, got {_kind(item)}")
        if len(set(value)) != len(value):
            self.fail(path, f"values repeat: {value}")
        return tuple(value)

    def train_sizes(self, value, path):
        if not isinstance(value, list) or not value:
            self.fail(path, f"expected a non-empty list of sizes, got {_kind(value)}")
        for i, item in enumerate(value):
            ok_int = isinstance(item, int) and not isinstance(item, bool) and item >= 1
            ok_fraction = isinstance(item, float) and 0.0 < item <= 1.0
            if not (ok_int or ok_fraction):
                self.fail(f"{path}[{i}]", "expected a sequence count (integer >= 1) or a "
                          f"fraction in (0, 1], got {_kind(item)}")
        return tuple(value)

    def params(self, params, defaults, path, what):
        if not isinstance(params, dict):
            self.fail(path, f"expected a table of parameters, got {_kind(params)}")
        out = {}
        for key, value in params.items():
            if key not in defaults:
                self.fail(f"{path}.{key}", f"{what} has no parameter {key!r}; it accepts "
                          f"{sorted(defaults)}")
            if value == NONE:  # TOML has no null: "none" stands for Python's None
                out[key] = None
                continue
            problem = _type_problem(value, defaults[key])
            if problem:
                self.fail(f"{path}.{key}", problem)
            out[key] = value
        return out


#: The string a suite writes for Python's ``None`` (``clipnorm = "none"``): TOML has no null.
NONE = "none"


def _kind(value):
    if value is None:
        return "nothing (the key is missing)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _type_problem(value, default):
    """What is wrong with ``value`` for a parameter whose default is ``default`` (or None).

    The declared type is read off the default: booleans, integers, numbers, strings
    and lists must match it; a default of None or "auto" accepts any value.
    """
    if default is None or default is inspect.Parameter.empty or default == "auto":
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"expected true or false, got {_kind(value)}"
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        return f"expected an integer, got {_kind(value)}"
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        return f"expected a number, got {_kind(value)}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"expected a string, got {_kind(value)}"
    if isinstance(default, (tuple, list)):
        return None if isinstance(value, list) else f"expected a list, got {_kind(value)}"
    return None


def _defaults(callable_):
    return {name: p.default for name, p in inspect.signature(callable_).parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _accepted(estimator_name):
    return _defaults(dict(all_estimators())[estimator_name].__init__)


def _parse_models(check, entries):
    estimators = dict(all_estimators())
    if not isinstance(entries, list) or not entries:
        check.fail("models", "expected at least one [[models]] table")
    models = []
    for i, entry in enumerate(entries):
        path = f"models[{i}]"
        check.keys(entry, _MODEL_KEYS, path)
        estimator = entry.get("estimator")
        if not isinstance(estimator, str):  # a table or list: no module path, no import
            check.fail(f"{path}.estimator", f"expected the name of a registered estimator, got "
                       f"{_kind(estimator)}; choose one of {sorted(estimators)}")
        if estimator == "ImputeMissing":
            check.fail(f"{path}.estimator", "ImputeMissing wraps another model: name that model "
                       "and add impute = \"last\" (or \"mean\") to the [[models]] table")
        if estimator not in estimators:
            check.fail(f"{path}.estimator", f"{estimator!r} is not a registered estimator; "
                       f"choose one of {sorted(estimators)} (suites cannot import code)")
        label = check.string(entry.get("label", estimator), f"{path}.label")
        if label.strip().lower() == ORACLE_LABEL:
            check.fail(f"{path}.label", f"{label!r} is reserved: every dataset's oracle is "
                       "added by itself and is never a model of the suite")
        params = check.params(entry.get("params", {}), _accepted(estimator), f"{path}.params",
                              estimator)
        try:
            dict(estimators)[estimator](**params)
        except Exception as error:  # a constructor that refuses its arguments
            check.fail(f"{path}.params", f"{estimator} refuses them: {error}")
        impute = entry.get("impute")
        if impute is not None and impute not in IMPUTE_STRATEGIES:
            check.fail(f"{path}.impute", f"expected one of {list(IMPUTE_STRATEGIES)}, got "
                       f"{_kind(impute)}")
        models.append(ModelSpec(label, estimator, params, impute))
    labels = [m.label for m in models]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        check.fail("models", f"labels must be unique; repeated: {repeated}")
    return tuple(models)


def _parse_datasets(check, entries):
    if not isinstance(entries, list) or not entries:
        check.fail("datasets", "expected at least one [[datasets]] table")
    datasets = []
    for i, entry in enumerate(entries):
        path = f"datasets[{i}]"
        check.keys(entry, _DATASET_KEYS, path)
        name = entry.get("name")
        if not isinstance(name, str) or name not in list_datasets():
            what = repr(name) if isinstance(name, str) else _kind(name)
            check.fail(f"{path}.name", f"{what} is not a registered dataset; choose one of "
                       f"{sorted(list_datasets())}")
        params = check.params(entry.get("params", {}), dataset_defaults(name),
                              f"{path}.params", name)
        if "random_state" in params:
            check.fail(f"{path}.params.random_state",
                       "set by the seeds; list them in seeds = [...] instead")
        label = entry.get("label")
        if label is not None:
            check.string(label, f"{path}.label")
        datasets.append(DatasetSpec(name, params, label))
    return tuple(datasets)


def _parse_sweep(check, sweep, datasets, path):
    check.keys(sweep, _SWEEP_KEYS, path)
    param = check.string(sweep.get("dataset_param"), f"{path}.dataset_param")
    values = sweep.get("values")
    if not isinstance(values, list) or not values:
        check.fail(f"{path}.values", f"expected a non-empty list, got {_kind(values)}")
    for d in datasets:
        defaults = dataset_defaults(d.name)
        if param not in defaults or param == "random_state":
            check.fail(f"{path}.dataset_param", f"dataset {d.name!r} has no parameter {param!r}; "
                       f"it accepts {sorted(set(defaults) - {'random_state'})}")
        for j, value in enumerate(values):
            problem = _type_problem(value, defaults[param])
            if problem:
                check.fail(f"{path}.values[{j}]", problem)
    return {"dataset_param": param, "values": list(values)}


def _parse_axes(check, spec, datasets, prefix=""):
    out = {}
    if "seeds" in spec:
        out["seeds"] = check.int_list(spec["seeds"], f"{prefix}seeds")
    if "model_seeds" in spec:
        out["model_seeds"] = check.int_list(spec["model_seeds"], f"{prefix}model_seeds")
    if "train_sizes" in spec:
        out["train_sizes"] = check.train_sizes(spec["train_sizes"], f"{prefix}train_sizes")
    if "horizons" in spec:
        out["horizons"] = check.int_list(spec["horizons"], f"{prefix}horizons", minimum=1)
    if "sweep" in spec:
        out["sweep"] = _parse_sweep(check, spec["sweep"], datasets, f"{prefix}sweep")
    if "n_examples" in spec:
        n = spec["n_examples"]
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 100:
            check.fail(f"{prefix}n_examples", f"expected an integer from 0 to 100, got {_kind(n)}")
        out["n_examples"] = n
    return out


def _parse_quick(check, quick, models, datasets):
    check.keys(quick, _QUICK_KEYS, "quick")
    out = _parse_axes(check, quick, datasets, prefix="quick.")
    if "dataset_params" in quick:
        table = quick["dataset_params"]
        check.keys(table, set().union(*(dataset_defaults(d.name) for d in datasets))
                   - {"random_state"}, "quick.dataset_params")
        for key, value in table.items():
            for d in datasets:
                defaults = dataset_defaults(d.name)
                if key in defaults and _type_problem(value, defaults[key]):
                    check.fail(f"quick.dataset_params.{key}", _type_problem(value, defaults[key]))
        out["dataset_params"] = dict(table)
    if "model_params" in quick:
        table = quick["model_params"]
        check.keys(table, set().union(*(_accepted(m.estimator) for m in models)),
                   "quick.model_params")
        for key, value in table.items():
            for m in models:
                defaults = _accepted(m.estimator)
                if key in defaults and _type_problem(value, defaults[key]):
                    check.fail(f"quick.model_params.{key}", _type_problem(value, defaults[key]))
        out["model_params"] = dict(table)
    return out


def _parse(spec, name, source):
    check = _Checker(source)
    check.keys(spec, _TOP_KEYS, "")
    title = check.string(spec.get("title", name), "title")
    description = spec.get("description", "")
    if not isinstance(description, str):
        check.fail("description", f"expected a string, got {_kind(description)}")
    models = _parse_models(check, spec.get("models"))
    datasets = _parse_datasets(check, spec.get("datasets"))
    axes = _parse_axes(check, spec, datasets)
    for measurement in MEASUREMENTS:       # not `name`: that is the suite's own
        # opt-in measurements: top-level true / false keys passed on to the grid as they are
        if measurement in spec:
            if not isinstance(spec[measurement], bool):
                check.fail(measurement, f"expected true or false, got {_kind(spec[measurement])}")
            axes[measurement] = spec[measurement]
    quick = _parse_quick(check, spec.get("quick", {}), models, datasets)
    suite = Suite(name=name, title=title, description=description, models=models,
                  datasets=datasets, quick_overrides=quick, source=source, **axes)
    for variant, label in ((suite, ""), (suite.quick(), "quick: ")):
        try:
            variant.cells()
        except (ValueError, TypeError) as error:
            raise SuiteError(f"{source}: {label}{error}") from None
    return suite
