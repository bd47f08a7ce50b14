"""Persistence of every registered estimator: pickle, joblib and the networks' .keras files.

Each estimator of ``seqmodels.all_estimators()`` (with its class's ``_unit_test_params()``,
which also supplies the estimator ``ImputeMissing`` wraps) is fitted in forecasting mode
and, where ``_unit_test_targets()`` allows, supervised; after a round trip the copy must
give exactly the same outputs as the original: predictions (with their standard
deviations), forecasts, log-likelihoods, class probabilities and scores, and the same
error where a method refuses. A ``.keras`` file loads in Keras' safe mode: an archive
that carries Python code (a ``Lambda`` layer) is refused, not executed.
"""

import functools
import json
import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest

import seqmodels
from seqmodels.utils.estimator_checks import ar1_sequences

ESTIMATORS = dict(seqmodels.all_estimators())


X_TRAIN, X_TEST = ar1_sequences(6, 30, 2, seed=0), ar1_sequences(3, 24, 2, seed=1)


def _targets(kind, X):
    if kind == "labels":
        return (X[..., :1] > 0).astype(np.int64)
    return 0.5 * X[..., :1] - 0.25 * X[..., 1:2] + 1.0


def _modes(cls):
    """("forecast", None) always; ("supervised", kind) where the class has a supervised mode."""
    getter = getattr(cls, "_unit_test_targets", None)
    kind = getter() if getter is not None else "continuous"
    return ["forecast"] + (["supervised"] if kind is not None else []), kind


CASES = [(name, mode) for name, cls in ESTIMATORS.items() for mode in _modes(cls)[0]]
SAVERS = [(name, mode) for name, mode in CASES if hasattr(ESTIMATORS[name], "save")]


@functools.lru_cache(maxsize=None)
def _fitted(name, mode):
    """The estimator fitted once per mode (shared by the round trips), and its y."""
    cls = ESTIMATORS[name]
    params = cls._unit_test_params() if hasattr(cls, "_unit_test_params") else {}
    model = cls(**params)
    y_train = y_test = None
    if mode == "supervised":
        kind = _modes(cls)[1]
        y_train, y_test = _targets(kind, X_TRAIN), _targets(kind, X_TEST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few EM iterations: ConvergenceWarning by design
        model.fit(X_TRAIN, y_train)
    return model, y_test


def _call(method, *args, **kwargs):
    """The method's output, or ("raises", type, message) where it refuses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return method(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the copy must refuse the same way
        return ("raises", type(error).__name__, str(error))


def _outputs(model, y):
    """Everything the fitted model can say about the test sequences."""
    out = {"predict": _call(model.predict, X_TEST)}
    if hasattr(model, "log_likelihood"):
        out["predict_std"] = _call(model.predict, X_TEST, return_std=True)
        out["log_likelihood"] = _call(model.log_likelihood, X_TEST, y)
    if hasattr(model, "forecast"):
        out["forecast"] = _call(model.forecast, X_TEST, 4)
        out["forecast_std"] = _call(model.forecast, X_TEST, 4, return_std=True)
    if hasattr(model, "predict_proba"):
        out["predict_proba"] = _call(model.predict_proba, X_TEST)
    if hasattr(model, "score"):
        out["score"] = _call(model.score, X_TEST, y)
    return out


def _raised(value):
    return isinstance(value, tuple) and isinstance(value[0], str) and value[0] == "raises"


def _parts(value):
    """A (mean, std) pair as its two arrays; anything else as itself."""
    return list(value) if isinstance(value, tuple) and not _raised(value) else [value]


def _assert_same(restored, original, y, how):
    assert type(restored) is type(original), how
    assert repr(restored.get_params()) == repr(original.get_params()), how
    expected, got = _outputs(original, y), _outputs(restored, y)
    assert not _raised(expected["predict"]), expected["predict"]
    assert got.keys() == expected.keys(), how
    for key, value in expected.items():
        mine, theirs = _parts(value), _parts(got[key])
        assert len(mine) == len(theirs), f"{how}: {key}: {got[key]!r}"
        for a, b in zip(mine, theirs):
            if _raised(a):
                assert b == a, f"{how}: {key}: {b!r} != {a!r}"
            else:
                np.testing.assert_array_equal(b, a, err_msg=f"{how}: {key} differs")
    return expected


@pytest.mark.parametrize("name, mode", CASES)
def test_pickle_round_trip_gives_identical_outputs(name, mode):
    model, y = _fitted(name, mode)
    restored = pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    outputs = _assert_same(restored, model, y, f"{name} ({mode}) after pickle")
    if mode == "forecast":  # forecasting mode offers forecasts: they were compared
        assert not _raised(outputs["forecast"]), outputs["forecast"]


@pytest.mark.parametrize("name, mode", CASES)
def test_joblib_round_trip_gives_identical_outputs(name, mode, tmp_path):
    model, y = _fitted(name, mode)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path, compress=3)
    _assert_same(joblib.load(path), model, y, f"{name} ({mode}) after joblib")


@pytest.mark.parametrize("name, mode", SAVERS)
def test_save_and_load_give_identical_outputs(name, mode, tmp_path):
    model, y = _fitted(name, mode)
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:  # a regular Keras archive plus our metadata
        assert {"config.json", "model.weights.h5", "seqmodels.json"} <= set(archive.namelist())
    _assert_same(type(model).load(path), model, y, f"{name} ({mode}) after save / load")


def test_every_class_that_saves_is_covered():
    """The networks offer save / load; a new class that does is picked up here."""
    assert {name for name, _ in SAVERS} >= {"RecurrentNetwork", "FeedForwardNetwork"}
    # every class has both modes but those that only forecast, by design (each refuses
    # fit(X, y) naming y): a class that loses its supervised mode shows here
    forecast_only = {name for name in ESTIMATORS if (name, "supervised") not in CASES}
    assert forecast_only == {"ContextCounter", "Seq2SeqNetwork"}


@pytest.mark.parametrize("saved, loader", [("RecurrentNetwork", "FeedForwardNetwork"),
                                           ("FeedForwardNetwork", "RecurrentNetwork")])
def test_a_file_of_one_class_loaded_with_another_fails_clearly(saved, loader, tmp_path):
    model, _ = _fitted(saved, "forecast")
    path = tmp_path / "model.keras"
    model.save(path)
    with pytest.raises(ValueError, match=rf"holds a {saved}; load it with {saved}\.load"):
        ESTIMATORS[loader].load(path)


def test_save_refuses_an_unfitted_model_and_a_path_without_keras(tmp_path):
    from sklearn.exceptions import NotFittedError

    network = ESTIMATORS["FeedForwardNetwork"]
    with pytest.raises(NotFittedError):
        network(**network._unit_test_params()).save(tmp_path / "model.keras")
    model, _ = _fitted("FeedForwardNetwork", "forecast")
    with pytest.raises(ValueError, match=r"must end in '\.keras'"):
        model.save(tmp_path / "model.h5")
    assert not (tmp_path / "model.h5").exists()
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="is not a .keras file"):
        network.load(junk)


def _keras():
    from seqmodels.neural import estimators

    estimators._networks()  # the backend the package chooses
    import keras

    return keras


def _plain_archive(keras, path, layer):
    """A Keras archive of one layer, written by Keras itself (not by a seqmodels save)."""
    inputs = keras.Input(shape=(5, 2))
    with warnings.catch_warnings():  # NumPy 2 on TensorFlow's __array__, inside Keras
        warnings.simplefilter("ignore", DeprecationWarning)
        keras.Model(inputs, layer(inputs)).save(path)


def test_a_keras_file_not_written_by_save_is_refused(tmp_path):
    keras = _keras()
    path = tmp_path / "plain.keras"
    _plain_archive(keras, path, keras.layers.Dense(1))
    with pytest.raises(ValueError, match="was not written by RecurrentNetwork.save"):
        ESTIMATORS["RecurrentNetwork"].load(path)


def test_a_keras_file_carrying_python_code_is_refused_not_executed(tmp_path):
    """Keras stores a Lambda layer's function as bytecode; safe mode refuses to load it.

    The function would write a marker file when the model is rebuilt: loading must fail
    with Keras' safe-mode error and leave no marker (nothing from the file ran).
    """
    keras = _keras()
    marker = tmp_path / "executed"
    # A real lambda (its source in a string, so the marker path is a constant in the
    # bytecode): what an attacker would ship.
    evil = eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")  # noqa: S307
    path = tmp_path / "evil.keras"
    _plain_archive(keras, path, keras.layers.Lambda(evil))
    marker.unlink()  # building the model above ran it once, here, on purpose
    meta = {"format": 1, "class": "RecurrentNetwork", "params": {}, "fitted": {}}
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("seqmodels.json", json.dumps(meta))
    with pytest.raises(ValueError, match="safe_mode"):
        ESTIMATORS["RecurrentNetwork"].load(path)
    assert not marker.exists(), "loading the .keras file executed code from it"


def test_a_keras_file_naming_an_unregistered_class_is_refused(tmp_path):
    """A config that names a class outside Keras and our custom objects is not imported."""
    keras = _keras()
    path = tmp_path / "foreign.keras"
    _plain_archive(keras, path, keras.layers.Dense(1))
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(members["config.json"])
    dense = next(layer for layer in config["config"]["layers"]
                 if layer["class_name"] == "Dense")
    dense.update(class_name="Popen", module="subprocess", registered_name="Popen")
    members["config.json"] = json.dumps(config).encode()
    members["seqmodels.json"] = json.dumps(
        {"format": 1, "class": "FeedForwardNetwork", "params": {}, "fitted": {}}).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    with pytest.raises((TypeError, ValueError), match="locate class 'Popen'"):
        ESTIMATORS["FeedForwardNetwork"].load(path)


def test_networks_load_their_files_in_safe_mode(monkeypatch, tmp_path):
    """The loading path itself: keras.saving.load_model is called with safe_mode=True."""
    keras = _keras()
    calls = []
    original = keras.saving.load_model
    monkeypatch.setattr(keras.saving, "load_model",
                        lambda *a, **k: calls.append(k) or original(*a, **k))
    model, _ = _fitted("FeedForwardNetwork", "forecast")
    model.save(tmp_path / "model.keras")
    type(model).load(tmp_path / "model.keras")
    pickle.loads(pickle.dumps(model))  # a pickled network carries its .keras bytes
    assert len(calls) == 2 and all(k.get("safe_mode") is True for k in calls)
