"""Gradient norms through the comparison engine, the report's Gradient flow section, and the
suite keys the lessons need (gradient_norms, "none", impute)."""

import numpy as np
import pytest

from seqmodels import AutoRegressive, ImputeMissing, RecurrentNetwork
from seqmodels.compare import compare
from seqmodels.compare.grid import build_grid
from seqmodels.compare.report import report
from seqmodels.compare.sections import build_sections
from seqmodels.compare.stats import gradient_decay
from seqmodels.compare.suite import SuiteError, load_suite
from seqmodels.compare.tables import gradient_table


def test_gradient_decay_recovers_a_geometric_rate():
    lags = np.arange(30)
    assert gradient_decay(3.0 * 0.8**lags) == pytest.approx(-np.log(0.8), rel=1e-12)
    assert gradient_decay(2.0 * 1.1**lags) == pytest.approx(-np.log(1.1), rel=1e-12)
    # an underflowed tail (exact zeros) is left out of the fit, not read as log(0)
    norms = 0.5**lags
    norms[20:] = 0.0
    assert gradient_decay(norms) == pytest.approx(np.log(2.0), rel=1e-12)
    assert np.isnan(gradient_decay([1.0]))


def test_gradient_norms_are_opt_in_and_leave_other_cell_keys_alone():
    models = {"AR(1)": AutoRegressive(order=1)}
    data = ("ar", {"n_train": 4, "n_test": 2, "n_timesteps": 20})
    plain = build_grid(models, data, seeds=[0])
    asked = build_grid(models, data, seeds=[0], gradient_norms=True)
    # the oracle cell never records gradients, so its key is the same either way
    assert plain[0].key == asked[0].key and plain[0].is_oracle
    assert plain[1].key != asked[1].key
    assert "gradient_norms" not in plain[1].description()
    with pytest.raises(TypeError, match="gradient_norms"):
        build_grid(models, data, gradient_norms="yes")


@pytest.mark.slow
def test_engine_records_gradient_norms_and_the_report_shows_their_decay(tmp_path):
    models = {"SimpleRNN": RecurrentNetwork(cell="simple", units=4, epochs=0),
              "LSTM": RecurrentNetwork(cell="lstm", units=4, epochs=0),
              "AR(1)": AutoRegressive(order=1)}
    data = ("adding", {"n_train": 8, "n_test": 5, "length": 12})
    results = compare(models, data, seeds=[0, 1], gradient_norms=True, progress=False,
                      store=tmp_path / "store")
    assert (results["status"] == "ok").all()
    for _, row in results.iterrows():
        if row["model"] == "AR(1)":
            assert row["gradient_norms"] is None
        else:
            # one norm per lag 0..11, the same as the estimator's own method gives
            assert row["gradient_norms"].shape == (12,)
    table = gradient_table(results)
    assert sorted(table["model"]) == ["LSTM", "SimpleRNN"]
    assert (table["n"] == 2).all() and (table["max_lag"] == 11).all()
    rates = [gradient_decay(g) for g in results.loc[results["model"] == "LSTM", "gradient_norms"]]
    assert table.set_index("model").loc["LSTM", "rate"] == pytest.approx(np.mean(rates))
    sections = {s.id: s for s in build_sections(results)}
    assert "gradients" in sections
    paths = report(results, tmp_path / "report")
    from pathlib import Path

    assert "Gradient flow" in Path(paths["markdown"]).read_text()


def _suite(tmp_path, text):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return load_suite(str(path))


_BASE = """
title = "t"
[[datasets]]
name = "ar"
params = { n_train = 4, n_test = 2 }
"""


def test_suite_keys_for_the_lessons(tmp_path):
    suite = _suite(tmp_path, "gradient_norms = true\n" + _BASE + """
[[models]]
label = "RNN without clipping"
estimator = "RecurrentNetwork"
params = { cell = "simple", clipnorm = "none", epochs = 1 }

[[models]]
label = "AR, gaps filled"
estimator = "AutoRegressive"
impute = "last"
""")
    assert suite.gradient_norms is True
    built = {m.label: m.build() for m in suite.models}
    assert built["RNN without clipping"].clipnorm is None
    wrapped = built["AR, gaps filled"]
    assert isinstance(wrapped, ImputeMissing) and wrapped.strategy == "last"
    assert isinstance(wrapped.estimator, AutoRegressive)
    assert all(cell.gradient_norms for cell in suite.cells() if not cell.is_oracle)

    with pytest.raises(SuiteError, match="gradient_norms: expected true or false"):
        _suite(tmp_path, 'gradient_norms = "yes"\n' + _BASE +
               '[[models]]\nestimator = "AutoRegressive"\n')
    with pytest.raises(SuiteError, match=r"models\[0\]\.impute"):
        _suite(tmp_path, _BASE + '[[models]]\nestimator = "AutoRegressive"\nimpute = "median"\n')
    with pytest.raises(SuiteError, match="wraps another model"):
        _suite(tmp_path, _BASE + '[[models]]\nestimator = "ImputeMissing"\n')


def test_a_fit_that_stops_short_is_recorded_and_reported_not_printed(tmp_path):
    import warnings

    from seqmodels import KalmanFilter

    models = {"KF, 2 EM iterations": KalmanFilter(model="local_level", n_iter=2),
              "AR(1)": AutoRegressive(order=1)}
    data = ("ar", {"n_train": 6, "n_test": 3, "n_timesteps": 40})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes to the caller
        results = compare(models, data, seeds=[0, 1], progress=False, store=tmp_path / "s")
    assert (results["status"] == "ok").all()
    short = results[results["model"] == "KF, 2 EM iterations"]["warnings"]
    assert short.map(lambda w: "ConvergenceWarning" in w and "n_iter=2" in w).all()
    assert results[results["model"] == "AR(1)"]["warnings"].isna().all()
    paths = report(results, tmp_path / "report")
    from pathlib import Path

    text = Path(paths["markdown"]).read_text()
    assert "Fits that stopped short" in text and "n_iter=2" in text
