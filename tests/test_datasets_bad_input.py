"""Bad input to every dataset generator: a ValueError or TypeError whose message names the
parameter, never another exception; legal edge values give finite data of the right shapes.

Every parameter of every registered dataset is described below by the limits its docstring
documents (``SPECS``); a dataset or parameter added without a description fails
``test_every_parameter_of_every_dataset_is_described``. Each description yields probes:
wrong types (TypeError), NaN / infinity / 1e300 / 1e-300 / negatives / zero / huge sizes
where they are outside the documented limits (ValueError), and the same probes where they
are inside them, which must give a valid record. Hypothesis then throws arbitrary values
at randomly chosen parameters with the same rule.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqmodels.datasets import checks, dataset_defaults, list_datasets, load

# The smallest legal sizes: every call starts from these, so a legal probe is cheap.
SMALL = {
    "var": dict(n_train=1, n_test=1, n_timesteps=3),          # 2 lags: at least 3 steps
    "ar": dict(n_train=1, n_test=1, n_timesteps=3),
    "lds": dict(n_train=1, n_test=1, n_timesteps=2),
    "noisy_sine": dict(n_train=1, n_test=1, n_timesteps=2),
    "hmm_regimes": dict(n_train=1, n_test=1, n_timesteps=1),
    "lorenz": dict(n_train=1, n_test=1, n_timesteps=1),
    "mackey_glass": dict(n_train=1, n_test=1, n_timesteps=1),
    "narma10": dict(n_train=1, n_test=1, n_timesteps=1),
    "adding": dict(n_train=1, n_test=1, length=4),
    "copy_memory": dict(n_train=1, n_test=1, n_recall=1, lag=1),
    "delayed_xor": dict(n_train=1, n_test=1, length=2, lag=1),
    "binary_addition": dict(n_train=1, n_test=1, n_bits_train=1, n_bits_test=1),
    "parity": dict(n_train=1, n_test=1, length=1),
    "dynamic_ngrams": dict(n_train=1, n_test=1, n_timesteps=1),
    "constant_velocity": dict(n_train=1, n_test=1, n_timesteps=2, n_dims=1),
    "constant_acceleration": dict(n_train=1, n_test=1, n_timesteps=2, n_dims=1),
    "maneuvering": dict(n_train=1, n_test=1, n_timesteps=2),
    "projectile": dict(n_train=1, n_test=1, n_timesteps=2),
    "orbit": dict(n_train=1, n_test=1, n_timesteps=2),
    "nile": {}, "sunspots": {}, "lynx": {}, "adsb": {},
}

# (X_train shape, X_test shape, y_train shape or None) at the SMALL sizes.
SHAPES = {
    "var": ((1, 3, 2), (1, 3, 2), None),
    "ar": ((1, 3, 1), (1, 3, 1), None),
    "lds": ((1, 2, 2), (1, 2, 2), None),
    "noisy_sine": ((1, 2, 1), (1, 2, 1), None),
    "hmm_regimes": ((1, 1, 1), (1, 1, 1), None),
    "lorenz": ((1, 1, 3), (1, 1, 3), None),
    "mackey_glass": ((1, 1, 1), (1, 1, 1), None),
    "narma10": ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
    "adding": ((1, 4, 2), (1, 4, 2), (1, 4, 1)),
    "copy_memory": ((1, 3, 10), (1, 3, 10), (1, 3, 1)),
    "delayed_xor": ((1, 2, 1), (1, 2, 1), (1, 2, 1)),
    "binary_addition": ((1, 2, 2), (1, 2, 2), (1, 2, 1)),
    "parity": ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
    "dynamic_ngrams": ((1, 1, 1), (1, 1, 1), None),
    "constant_velocity": ((1, 2, 1), (1, 2, 1), (1, 2, 2)),
    "constant_acceleration": ((1, 2, 1), (1, 2, 1), (1, 2, 3)),
    "maneuvering": ((1, 2, 2), (1, 2, 2), (1, 2, 5)),
    "projectile": ((1, 2, 2), (1, 2, 2), (1, 2, 4)),
    "orbit": ((1, 2, 2), (1, 2, 2), (1, 2, 4)),
    "nile": ((1, 80, 1), (1, 100, 1), None),
    "sunspots": ((1, 247, 1), (1, 309, 1), None),
    "lynx": ((1, 91, 1), (1, 114, 1), None),
    "adsb": ((None, 60, 2), (None, 60, 2), None),
}

HUGE = 10**12


@dataclass(frozen=True)
class Count:
    """An integer parameter legal in [minimum, maximum]."""

    minimum: int = 1
    maximum: int = 10**8

    def probes(self):
        bad_type = [2.5, float(self.minimum), True, "3", None, math.nan, math.inf, [1]]
        # (the plain minimum is in SMALL already: test_smallest_legal_sizes_... tries it)
        ints = [self.minimum - 1, -1, 0, np.int64(self.minimum), HUGE, 10**400]
        return ([(v, TypeError) for v in bad_type]
                + [(v, None if self.minimum <= v <= self.maximum else ValueError)
                   for v in ints])


REALS = [-1e300, -1.0, -1e-300, 0.0, 1e-300, 1e300, math.nan, math.inf, -math.inf, 10**400]


@dataclass(frozen=True)
class Real:
    """A real parameter legal in the interval from low to high, or exactly 0 if zero."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False
    zero: bool = False
    edges: tuple = ()      # more legal values worth trying (documented ends)
    illegal: tuple = ()    # more values that must be refused (ValueError)

    def legal(self, v):
        try:
            if not math.isfinite(v):
                return False
        except OverflowError:  # an int beyond float's range
            return False
        above = v > self.low if self.open_low else v >= self.low
        below = v < self.high if self.open_high else v <= self.high
        return (above and below) or (self.zero and v == 0)

    def probes(self):
        bad_type = ["1.0", True, np.bool_(False), None, [1.0], 1 + 1j, np.array([1.0])]
        return ([(v, TypeError) for v in bad_type]
                + [(v, None if self.legal(v) else ValueError) for v in REALS]
                + [(v, None) for v in self.edges] + [(v, ValueError) for v in self.illegal])


def std(maximum=1e12, zero=False, edges=None):
    """A standard deviation: [1e-12, maximum], or 0 too."""
    return Real(1e-12, maximum, zero=zero, edges=(1e-12, maximum) if edges is None else edges)


@dataclass(frozen=True)
class Probes:
    """Explicit probes: (value, expected error or None for legal)."""

    items: tuple = field(default_factory=tuple)

    def probes(self):
        return list(self.items)


def interval(low, high, open_low, legal):
    """A (low, high) pair drawn from; legal: an example pair."""
    inside = low + 1 if open_low else low
    return Probes((
        ("1,2", TypeError), (5.0, TypeError), ((1.0,), TypeError), ((1, 2, 3), TypeError),
        (None, TypeError), (("a", "b"), TypeError), ((True, 2), TypeError),
        ((math.nan, high), ValueError), ((inside, math.inf), ValueError),
        ((inside, 1e300), ValueError), ((-1e300, inside), ValueError),
        ((high, inside), ValueError) if high > inside else ((inside, inside), None),
        ((low, low), ValueError if open_low else None), (legal, None),
        ((inside, inside), None),
    ))


def choice(*choices):
    return Probes(((3, TypeError), (None, TypeError), ([choices[0]], TypeError),
                   (choices[0].upper(), ValueError), ("", ValueError))
                  + tuple((c, None) for c in choices))


#: A True/False parameter: only bools (numpy's included) are accepted.
BOOLEAN = Probes((("no", TypeError), ("False", TypeError), (1, TypeError), (0, TypeError),
                  (None, TypeError), (1.0, TypeError), (True, None), (False, None),
                  (np.True_, None)))
RANDOM_STATE = Probes((
    (True, TypeError), (1.5, TypeError), ("0", TypeError), ([0], TypeError),
    (np.random.MT19937(0), TypeError), (-1, ValueError), (2**32, ValueError),
    (HUGE, ValueError), (2**32 - 1, None), (np.random.RandomState(0), None),
    (np.random.default_rng(0), None),  # 0 is every other probe's seed; None: test below
))

SIZES = {"n_train": Count(1), "n_test": Count(1), "n_timesteps": Count(1)}
FILTERED = {**SIZES, "n_timesteps": Count(2)}  # a filter needs two steps to fit
TRACKING = {**FILTERED, "measurement_std": std(), "n_dims": Count(1, 3),
            "dt": Real(1e-6, 1e6, edges=(1e-6, 1e6)), "initial_speed": std(),
            "missing_fraction": Real(0.0, 1.0, open_high=True, edges=(0.0, 0.5, 0.99)),
            "random_state": RANDOM_STATE}

SPECS = {
    "var": {**SIZES, "n_timesteps": Count(3), "coef": Probes((
        ("abc", TypeError), (True, TypeError), ([[["a", "b"], ["c", "d"]]], TypeError),
        (np.ones((1, 2, 2), dtype=complex), TypeError), (np.full((1, 2, 2), np.nan), ValueError),
        (np.full((1, 2, 2), np.inf), ValueError), (np.full((1, 2, 2), 1e300), ValueError),
        (np.full((1, 2, 2), 1e-300), None), (np.zeros((1, 3, 3)), ValueError),
        (np.zeros((2, 2)), ValueError), ([[[0.5, 0], [0]]], ValueError),
        (1.5 * np.eye(2)[None], ValueError), (0.5 * np.eye(2)[None], None),
        (np.zeros((0, 2, 2)), ValueError), (np.zeros((101, 2, 2)), ValueError))),
        "intercept": Probes((
            ("abc", TypeError), ([True, False], TypeError), ([np.nan, 0.0], ValueError),
            ([1e300, 0.0], ValueError), ([0.0], ValueError), (0.0, ValueError),
            ([-1e12, 1e12], None), ([1e-300, 0.0], None))),
        "noise_cov": Probes((
            ("abc", TypeError), (np.eye(2, dtype=bool), TypeError),
            ([[np.nan, 0], [0, 1]], ValueError), ([[1e300, 0], [0, 1]], ValueError),
            ([[1, 0.5], [0, 1]], ValueError), ([[1, 0], [0, -1]], ValueError),
            (np.zeros((2, 2)), ValueError), (1e-300 * np.eye(2), ValueError),
            (np.eye(3), ValueError), (np.eye(2)[None], ValueError),
            (1e-24 * np.eye(2), None), (1e24 * np.eye(2), None))),
        "random_state": RANDOM_STATE},
    "ar": {**SIZES, "n_timesteps": Count(3), "coef": Probes((
        ("abc", TypeError), (True, TypeError), ((True, False), TypeError), ((1j,), TypeError),
        ((np.nan,), ValueError), ((1e300,), ValueError), ((1.5,), ValueError),
        ([[0.5]], ValueError), (np.zeros(201), ValueError), (0.5, None), ((), ValueError),
        ((1e-300, -1e-300), None), (np.float32(-0.9), None))),
        "intercept": Real(-1e12, 1e12, edges=(-1e12, 1e12)), "noise_std": std(),
        "random_state": RANDOM_STATE},
    "lds": {**FILTERED, "n_dim_state": Count(1, 100), "n_dim_obs": Count(1, 100),
            "spectral_radius": Real(0, 1, open_low=True, open_high=True, illegal=(1.0,)),
            "process_std": std(), "measurement_std": std(), "random_state": RANDOM_STATE},
    "noisy_sine": {**FILTERED, "period": Real(2, 1e12, edges=(2.0, 1e12), illegal=(1.5,)),
                   "amplitude": std(), "noise_std": std(), "random_state": RANDOM_STATE},
    "hmm_regimes": {**SIZES, "means": Probes((
        ("abc", TypeError), ((True, False, True), TypeError), ((np.nan, 0, 1), ValueError),
        ((1e300, 0, 1), ValueError), ((0.0,), ValueError), (0.0, ValueError),
        ((0.0, 1.0), ValueError),  # two regimes, three stds
        (np.zeros(101), ValueError), ((-1e12, 0, 1e12), None), ((1e-300, 0, 0), None))),
        "stds": Probes((
            ("abc", TypeError), ((None, 1, 1), TypeError), ((np.nan, 1, 1), ValueError),
            ((1e300, 1, 1), ValueError), ((0, 1, 1), ValueError), ((-1, 1, 1), ValueError),
            ((1e-300, 1, 1), ValueError), ((1, 1), ValueError), ((1e-12, 1, 1e12), None))),
        "stay_probability": Real(0, 1, open_low=True, open_high=True,
                                 illegal=(1.0, 1 - 1e-17)),
        "random_state": RANDOM_STATE},
    "lorenz": {**SIZES, "sample_every": Real(0.005, 1.0, edges=(0.005, 1.0, 0.01),
                                             illegal=(0.007, 0.004)),
               "noise_std": std(zero=True), "random_state": RANDOM_STATE},
    "mackey_glass": {**SIZES, "tau": Real(0.1, 1000.0, edges=(0.1, 1000.0, 30.0),
                                          illegal=(17.05, 0.05)),
                     "noise_std": std(zero=True), "random_state": RANDOM_STATE},
    "narma10": {**SIZES, "random_state": RANDOM_STATE},
    "adding": {"n_train": Count(1), "n_test": Count(1), "length": Count(4),
               "placement": choice("early", "halves"), "random_state": RANDOM_STATE},
    "copy_memory": {"n_train": Count(1), "n_test": Count(1), "n_symbols": Count(2, 10_000),
                    "n_recall": Count(1), "lag": Count(0), "form": choice("recall", "arjovsky"),
                    "random_state": RANDOM_STATE},
    "delayed_xor": {"n_train": Count(1), "n_test": Count(1), "length": Count(2),
                    "lag": Count(1, 1), "random_state": RANDOM_STATE},
    "binary_addition": {"n_train": Count(1), "n_test": Count(1), "n_bits_train": Count(1, 62),
                        "n_bits_test": Count(1, 62), "random_state": RANDOM_STATE},
    "parity": {"n_train": Count(1), "n_test": Count(1), "length": Count(1),
               "random_state": RANDOM_STATE},
    "dynamic_ngrams": {**SIZES, "order": Count(1, 21), "random_state": RANDOM_STATE},
    "constant_velocity": {**TRACKING, "acceleration_std": std()},
    "constant_acceleration": {**TRACKING, "jerk_std": std()},
    "maneuvering": {
        **FILTERED, "dt": Real(1e-6, 1e6, edges=(1e-6, 60.0), illegal=(63.0,)),  # turn_rate*dt<=pi
        "speed_range": interval(0.0, 1e5, True, (1e-12, 1e5)),
        "turn_rate": Real(1e-6, math.pi, edges=(1e-6, math.pi)),
        "switch_probability": Real(1e-12, 1 - 1e-12, edges=(1e-12, 1 - 1e-12),
                                   illegal=(1.0, 1e-17)),
        "acceleration_std": std(1e4), "measurement_std": Real(0.01, 1e6, edges=(0.01, 1e6)),
        "random_state": RANDOM_STATE},
    "projectile": {
        **FILTERED, "dt": Real(1e-3, 100.0, edges=(1e-3, 100.0)),
        "drag": Real(1e-12, 1.0, edges=(1e-12, 0.05), illegal=(1.0, 0.06)),  # RK4 stability
        "speed_range": interval(0.0, 1e4, True, (1e-12, 1e4)),
        "angle_range": interval(-90.0, 90.0, False, (-90.0, 90.0)),
        "acceleration_std": std(1e4), "measurement_std": Real(1e-3, 1e9, edges=(1e-3, 1e9)),
        "random_state": RANDOM_STATE},
    "orbit": {
        **FILTERED, "dt": Real(1e-6, 1.0, edges=(1e-6, 1.0)),
        "eccentricity_max": Real(0.0, 0.9, edges=(0.9,), illegal=(0.99,)),
        "orientation_std": std(math.pi), "range_std": std(), "bearing_std": std(math.pi),
        "random_state": RANDOM_STATE},
    # test_fraction = 0 would hold nothing out to score: refused (in_sample=True asks for it)
    "nile": {"test_fraction": Real(0, 1, open_low=True, open_high=True,
                                   illegal=(1 - 1e-16, 0.999), edges=(0.99,)),
             "in_sample": BOOLEAN},
    "sunspots": {"test_fraction": Real(0, 1, open_low=True, open_high=True,
                                       illegal=(1 - 1e-16, 0.999), edges=(0.996,)),
                 "in_sample": BOOLEAN},
    "lynx": {"test_fraction": Real(0, 1, open_low=True, open_high=True,
                                   illegal=(1 - 1e-16, 0.999), edges=(0.99,)),
             "in_sample": BOOLEAN,
             "log10": BOOLEAN},
    "adsb": {"length": Count(2), "test_flights": Probes((
        ("kiruna", TypeError), (5, TypeError), (None, TypeError), ((1,), TypeError),
        ((["kiruna"],), TypeError), (("atlantis",), ValueError), ((), ValueError),
        (["munich"], None), (("kiruna", "lisbon"), None)))},
}

# Below adsb's cap on length, but longer than every flight: no window in either split.
ADSB_TOO_LONG = 10**6

PARAMETERS = [pytest.param(name, param, id=f"{name}-{param}")
              for name, params in SPECS.items() for param in params]


def _value_id(value):
    """A test id for a probe value that is the same in every process (pytest-xdist workers
    must collect the same ids): objects whose repr holds an address are named by type."""
    text = repr(value)
    return type(value).__name__ if " at 0x" in text else f"{text:.30}"


LEGAL = [pytest.param(name, param, value, id=f"{name}-{param}-{i}-{_value_id(value)}")
         for name, params in SPECS.items() for param, spec in params.items()
         for i, (value, error) in enumerate(spec.probes()) if error is None]


def _check_record(name, data, params):
    """Finite sequences of the documented shapes (NaN only where a target is absent, or
    whole measurement steps when ``missing_fraction`` asks for them)."""
    for part in ("X_train", "X_test"):
        X = getattr(data, part)
        assert isinstance(X, np.ndarray) and X.ndim == 3 and X.size, (name, part)
        if params.get("missing_fraction", 0) > 0:
            missing = np.isnan(X)
            assert (missing.all(axis=-1) == missing.any(axis=-1)).all(), (name, part)
            X = X[~missing.any(axis=-1)]
        assert np.isfinite(X).all(), (name, part)
    for part in ("y_train", "y_test"):
        y = getattr(data, part)
        if y is not None:
            assert y.shape[:2] == getattr(data, "X" + part[1:]).shape[:2]
            assert not np.isinf(y).any() and np.isfinite(y).any(), (name, part)
    if "n_train" in params:
        assert len(data.X_train) == params["n_train"] and len(data.X_test) == params["n_test"]


def _call(name, param, value):
    params = {**SMALL[name], param: value}
    if "random_state" in dataset_defaults(name) and param != "random_state":
        params.setdefault("random_state", 0)  # fixed seeds: a flaky test is a bug
    return load(name, **params), params


@pytest.mark.parametrize("name, param", PARAMETERS)
def test_bad_values_are_refused_naming_the_parameter(name, param):
    """Every bad probe: the promised class (TypeError for a type, ValueError for a value),
    the parameter's name in the message; any other exception fails the test as it is."""
    failures = []
    for value, error in SPECS[name][param].probes():
        if error is None:
            continue
        try:
            _call(name, param, value)
        except (ValueError, TypeError) as raised:
            if not isinstance(raised, error) or param not in str(raised):
                failures.append(f"{param}={value!r}: {type(raised).__name__}: {raised}")
        else:
            failures.append(f"{param}={value!r} was accepted; expected {error.__name__}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name, param, value", LEGAL)
def test_legal_edge_values_give_finite_records(name, param, value):
    data, params = _call(name, param, value)
    _check_record(name, data, params)


def test_every_parameter_of_every_dataset_is_described():
    assert set(SPECS) == set(list_datasets()) == set(SMALL) == set(SHAPES)
    for name in SPECS:
        assert set(SPECS[name]) == set(dataset_defaults(name)), name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_smallest_legal_sizes_and_a_generator_give_finite_data_of_the_right_shapes(name):
    params = dict(SMALL[name])
    if "random_state" in dataset_defaults(name):
        params["random_state"] = np.random.default_rng(7)
    data = load(name, **params)
    _check_record(name, data, params)
    x_train, x_test, y_train = SHAPES[name]
    for shape, X in ((x_train, data.X_train), (x_test, data.X_test)):
        assert all(want is None or got == want for got, want in zip(X.shape, shape)), (
            name, X.shape, shape)
    assert (data.y_train is None) == (y_train is None)
    if y_train is not None:
        assert data.y_train.shape == y_train
    if "random_state" in params:  # the same seeded Generator gives the same data
        again = load(name, **{**params, "random_state": np.random.default_rng(7)})
        np.testing.assert_array_equal(again.X_train, data.X_train)


@pytest.mark.parametrize("name", ["ar", "parity", "constant_velocity"])
def test_random_state_none_draws_from_numpys_global_state(name):
    np.random.seed(4)
    first = load(name, **SMALL[name], random_state=None)
    np.random.seed(4)
    np.testing.assert_array_equal(load(name, **SMALL[name]).X_train, first.X_train)


@pytest.mark.parametrize("name", ["var", "lds", "adding", "maneuvering"])
def test_one_generator_drives_successive_draws(name):
    """A Generator is used, not copied: two loads from one Generator differ."""
    rng = np.random.default_rng(3)
    first, second = load(name, **SMALL[name], random_state=rng), \
        load(name, **SMALL[name], random_state=rng)
    assert not np.array_equal(first.X_train, second.X_train)


@pytest.mark.parametrize("name, params, names", [
    ("ar", dict(n_train=10**7, n_test=10**7, n_timesteps=10), ["n_train", "n_timesteps"]),
    ("var", dict(n_train=1, n_test=1, n_timesteps=10**8), ["n_train", "n_timesteps"]),
    ("copy_memory", dict(n_train=1000, n_test=1, n_symbols=10_000, lag=10), ["n_train"]),
    ("mackey_glass", dict(n_train=10**4, n_test=1, tau=1000.0), ["tau"]),
    ("binary_addition", dict(n_train=10**8, n_test=1), ["n_train", "n_bits_train"]),
    ("adding", dict(n_train=10**6, n_test=1, length=100), ["n_train", "length"]),
    ("orbit", dict(n_train=10**6, n_test=10**6, n_timesteps=100), ["n_test", "n_timesteps"]),
])
def test_records_above_the_size_limit_are_refused_before_allocating(name, params, names):
    with pytest.raises(ValueError, match="limit of 1e[+]08") as info:
        load(name, **params)
    assert all(n in str(info.value) for n in names), str(info.value)


@pytest.mark.parametrize("name, params, names", [
    ("projectile", dict(dt=100.0, drag=0.01), ["dt", "drag"]),
    ("projectile", dict(speed_range=(9000.0, 10000.0), drag=0.1, dt=1.0), ["speed_range"]),
    ("orbit", dict(dt=1.0, eccentricity_max=0.9), ["dt", "eccentricity_max"]),
    ("maneuvering", dict(dt=10.0, turn_rate=0.5), ["turn_rate"]),
    ("adsb", dict(length=ADSB_TOO_LONG), ["length"]),
])
def test_combinations_outside_the_documented_limits_name_every_parameter_involved(
        name, params, names):
    with pytest.raises(ValueError) as info:
        load(name, **{**SMALL[name], **params})
    assert all(n in str(info.value) for n in names), str(info.value)


def test_messages_name_what_the_user_passed_not_internal_objects():
    with pytest.raises(ValueError, match="switch_probability") as info:
        load("maneuvering", **SMALL["maneuvering"], switch_probability=0.0)
    assert "transition_prob" not in str(info.value)
    for param in ("measurement_std", "acceleration_std"):
        with pytest.raises(ValueError, match=param) as info:
            load("constant_velocity", **SMALL["constant_velocity"], **{param: 1e300})
        assert not any(word in str(info.value) for word in ("P0", "Q/R", "R must"))


# ---------------------------------------------------------------- hypothesis: any value at all

ANYTHING = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 40), st.integers(min_value=10**9), st.integers(max_value=-10**9),
    st.booleans(), st.none(), st.text(max_size=4),
    st.lists(st.floats(-2, 2), max_size=3).map(tuple),
    st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)),
    st.complex_numbers(max_magnitude=2),
)
PARAMS = [(name, param) for name, params in SPECS.items() for param in params
          if param != "random_state"]


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.sampled_from(PARAMS), value=ANYTHING)
def test_any_value_is_refused_by_name_or_gives_a_valid_record(choice, value):
    name, param = choice
    try:
        data, params = _call(name, param, value)
    except (ValueError, TypeError) as error:
        assert param in str(error), (name, param, value, str(error))
    else:
        _check_record(name, data, params)


# ------------------------------------------------------- the shared helpers, property by property

@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=st.one_of(st.floats(), st.integers(), st.booleans(), st.text(max_size=2)),
       low=st.floats(-10, 10), width=st.floats(0, 10), include_low=st.booleans())
def test_check_real_returns_the_float_or_refuses_by_class(value, low, width, include_low):
    high = low + width
    try:
        out = checks.check_real(value, "p", low, high, include_low=include_low)
    except TypeError as error:
        assert "p must be a real number" in str(error)
        assert isinstance(value, (bool, str))
    except ValueError as error:
        assert str(error).startswith("p must") and not isinstance(value, (bool, str))
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range
            number = math.inf
        above = number > low or (include_low and number == low)
        assert not (math.isfinite(number) and above and number <= high)
    else:
        assert out == float(value) and low <= out <= high
        assert include_low or out > low


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(value=st.one_of(st.integers(), st.floats(), st.booleans()), minimum=st.integers(-3, 3))
def test_check_int_accepts_exactly_the_integers_in_range(value, minimum):
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and minimum <= value <= checks.MAX_VALUES:
        assert checks.check_int(value, "k", minimum) == value
    else:
        with pytest.raises(ValueError if is_int else TypeError, match="k must be an integer"):
            checks.check_int(value, "k", minimum)


def test_check_array_classes():
    assert checks.check_array([[1, 2]], "a", ndim=2).dtype == np.float64
    for bad in ("ab", [["a"]], [True], [1j], [None], object()):
        with pytest.raises(TypeError, match="a must be an array of real numbers"):
            checks.check_array(bad, "a", ndim=1)
    for bad, message in (([[1], [1, 2]], "rectangular"), ([1.0], "2 dimension"),
                         ([[np.nan]], "finite"), ([[10**400]], "finite"),
                         ([[1e13]], "within"), (np.zeros((0, 1)), "at least 1")):
        with pytest.raises(ValueError, match=message):
            checks.check_array(bad, "a", ndim=2)
