"""The comparison engine: grid, evaluation through the contract, store, resume, backends."""

import os
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import BaseEstimator

from seqmodels import AutoRegressive, HiddenMarkovModel, KalmanFilter
from seqmodels.compare import (ResultsStore, compare, evaluate, horizon_curve, learning_curve,
                               load_results, memory_curve, noise_curve, oracle_gaps,
                               restart_spread)
from seqmodels.datasets import Dataset, load
from seqmodels.metrics import r2_score

from _estimators import LastValue, Raises  # tests/_estimators.py, on sys.path via conftest

AR_SMALL = ("ar", {"n_train": 6, "n_test": 4, "n_timesteps": 60})
TWO_AR = {"AR(1)": AutoRegressive(order=1), "AR(2)": AutoRegressive(order=2)}


class Sleeps(BaseEstimator):
    """A user's own model that takes too long."""

    def __init__(self, seconds=30.0):
        self.seconds = seconds

    def fit(self, X, y=None):
        time.sleep(self.seconds)
        return self

    def predict(self, X):
        return X


def test_every_cell_is_model_by_dataset_by_seed_plus_oracles():
    results = compare(TWO_AR, AR_SMALL, seeds=[0, 1, 2], progress=False)
    assert len(results) == 3 * (2 + 1)
    assert (results["status"] == "ok").all()
    assert results["is_oracle"].sum() == 3
    assert set(results.loc[results["is_oracle"], "model"]) == {"oracle"}
    assert results["data_n_train"].eq(6).all() and results["data_n_timesteps"].eq(60).all()
    for column in ("headline", "score", "rmse", "mae", "nll_per_step", "coverage_90",
                   "mean_sq_z", "fit_seconds", "predict_seconds"):
        assert np.isfinite(results[column]).all(), column


def test_a_cell_measures_what_the_contract_gives():
    """Scores, NLL and calibration of a cell equal the ones computed by hand."""
    data = load("ar", n_train=20, n_test=10, n_timesteps=100, random_state=3)
    scalars, arrays = evaluate(AutoRegressive(order=2), data)
    model = AutoRegressive(order=2).fit(data.X_train)
    mean, std = model.predict(data.X_test, return_std=True)
    assert scalars["score"] == pytest.approx(r2_score(data.X_test, mean), rel=1e-12)
    assert scalars["rmse"] == pytest.approx(np.sqrt(np.mean((data.X_test - mean) ** 2)))
    density = stats.norm(mean, std).logpdf(data.X_test).sum()
    assert scalars["nll_per_step"] == pytest.approx(-density / data.X_test[..., 0].size)
    z = (data.X_test - mean) / std
    assert scalars["coverage_90"] == pytest.approx(np.mean(np.abs(z) <= 1.6448536269514722))
    assert scalars["mean_sq_z"] == pytest.approx(np.mean(z**2))
    # A calibrated Gaussian model: about 90 % coverage and mean squared z near 1.
    assert 0.86 < scalars["coverage_90"] < 0.94 and 0.85 < scalars["mean_sq_z"] < 1.15
    per_sequence = np.sqrt(((data.X_test - mean) ** 2).mean(axis=(1, 2)))
    np.testing.assert_allclose(arrays["seq_headline"], per_sequence, rtol=1e-12)
    assert arrays["example_mean"].shape == (3, 100, 1)


def test_history_steps_are_context_not_scored():
    """For a real series only the held-out years count; log-likelihoods use the chain rule."""
    data = load("lynx")
    scalars, _ = evaluate(AutoRegressive(order=2), data)
    model = AutoRegressive(order=2).fit(data.X_train)
    h = data.n_history
    mean, std = model.predict(data.X_test, return_std=True)
    assert scalars["score"] == pytest.approx(r2_score(data.X_test[:, h:], mean[:, h:]))
    direct = stats.norm(mean[0, h:, 0], std[0, h:, 0]).logpdf(data.X_test[0, h:, 0]).sum()
    assert scalars["nll_per_step"] == pytest.approx(-direct / (data.X_test.shape[1] - h),
                                                    rel=1e-9)


def test_same_name_with_different_parameters_is_two_datasets():
    """Two entries named "ar" are two datasets, each with its own oracle (not merged)."""
    results = compare(TWO_AR, [AR_SMALL, ("ar", {**AR_SMALL[1], "noise_std": 3.0})],
                      progress=False)
    assert set(results["dataset"]) == {"ar", "ar(noise_std=3.0)"}
    gaps = oracle_gaps(results)
    oracle = gaps[gaps["is_oracle"]]
    assert len(oracle) == 2 and (oracle["gap"] == 0).all()
    noisy = results[results["dataset"] == "ar(noise_std=3.0)"]
    quiet = results[results["dataset"] == "ar"]
    assert noisy["headline"].min() > 2 * quiet["headline"].max()  # RMSE scales with the noise
    assert set(results["data_noise_std"].dropna()) == {3.0}


def test_oracle_is_a_flag_never_a_label():
    with pytest.raises(ValueError, match="reserved"):
        compare({"oracle": AutoRegressive()}, AR_SMALL, progress=False)
    with pytest.raises(ValueError, match="reserved"):
        compare({"Oracle ": AutoRegressive()}, AR_SMALL, progress=False)


def test_gap_to_the_oracle_is_oriented_and_paired():
    results = oracle_gaps(compare(TWO_AR, AR_SMALL, seeds=[0, 1], progress=False))
    for _, row in results[~results["is_oracle"]].iterrows():
        oracle = results[results["is_oracle"] & (results["data_seed"] == row["data_seed"])]
        assert row["gap"] == pytest.approx(row["headline"] - oracle["headline"].iloc[0])
        assert row["gap_relative"] == pytest.approx(row["gap"] / oracle["headline"].iloc[0])
        paired = row["seq_headline"] - oracle["seq_headline"].iloc[0]
        assert row["gap_paired"] == pytest.approx(paired.mean())
        assert row["gap_paired_se"] == pytest.approx(paired.std(ddof=1) / np.sqrt(len(paired)))


def test_a_users_own_model_and_data():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(12, 40, 1)), axis=1)
    data = Dataset.from_arrays(walk[:8], walk[8:], name="random walk")
    results = compare({"last value": LastValue(), "AR(1)": AutoRegressive(order=1)}, data,
                      seeds=[0, 1], progress=False)
    assert set(results["dataset"]) == {"random walk"} and not results["is_oracle"].any()
    assert (results["status"] == "ok").all()
    last = results[results["model"] == "last value"]
    # a forecasting dataset from arrays is scored from the first step with history
    assert data.n_history == 1
    expected = np.sqrt(np.mean((walk[8:, 1:] - walk[8:, :-1]) ** 2))
    assert last["headline"].iloc[0] == pytest.approx(expected)
    assert np.isnan(last["nll_per_step"]).all()  # no likelihood: no NLL, nothing invented


def test_a_failing_and_a_slow_model_are_recorded_and_the_run_goes_on():
    results = compare({"raises": Raises(), "sleeps": Sleeps(30.0), "AR(1)": AutoRegressive()},
                      AR_SMALL, timeout=1.0, progress=False)
    status = dict(zip(results["model"], results["status"]))
    assert status == {"oracle": "ok", "raises": "error", "sleeps": "timeout", "AR(1)": "ok"}
    error = results.loc[results["model"] == "raises", "error"].iloc[0]
    assert "RuntimeError: this model always fails <b>badly</b>" in error
    assert "Traceback" in results.loc[results["model"] == "raises", "traceback"].iloc[0]
    assert results.loc[results["model"] == "sleeps", "cell_seconds"].iloc[0] < 10


def test_results_survive_in_the_store_and_resume_skips_them(tmp_path, monkeypatch):
    from seqmodels.compare import execution

    store = tmp_path / "run"
    first = compare(TWO_AR, AR_SMALL, seeds=[0, 1], store=store, progress=False)
    calls = []
    original = execution.run_cell
    monkeypatch.setattr(execution, "run_cell",
                        lambda cell, limit: calls.append(cell.key) or original(cell, limit))
    again = compare(TWO_AR, AR_SMALL, seeds=[0, 1, 2], store=store, progress=False)
    assert len(calls) == 3  # only seed 2's three cells ran
    pd.testing.assert_frame_equal(again[again["data_seed"] < 2].reset_index(drop=True)
                                  .drop(columns=_ARRAYS), first.drop(columns=_ARRAYS))
    back = load_results(store)
    assert len(back) == 9 and back["key"].is_unique
    fresh = compare(TWO_AR, AR_SMALL, seeds=[0], store=store, progress=False, fresh=True)
    assert len(fresh) == 3 and len(load_results(store)) == 3


_ARRAYS = ["history", "horizons", "horizon_rmse", "seq_headline", "seq_sse", "seq_count",
           "seq_max_abs", "seq_correct", "seq_loglik", "seq_steps", "example_X",
           "example_target", "example_mean", "example_std"]


def test_failed_cells_are_kept_until_retried(tmp_path):
    store = tmp_path / "run"
    compare({"raises": Raises()}, AR_SMALL, store=store, progress=False)
    again = compare({"raises": Raises()}, AR_SMALL, store=store, progress=False)
    first_finish = again.loc[again["model"] == "raises", "finished_at"].iloc[0]
    retried = compare({"raises": Raises()}, AR_SMALL, store=store, progress=False,
                      retry_failed=True)
    assert retried.loc[retried["model"] == "raises", "finished_at"].iloc[0] > first_finish
    assert len(load_results(store)) == 2


def test_store_arrays_round_trip_without_pickle(tmp_path):
    results = compare({"KF": KalmanFilter(model="local_level", n_iter=5)},
                      ("noisy_sine", {"n_train": 4, "n_test": 3, "n_timesteps": 30}),
                      store=tmp_path, progress=False)
    back = load_results(tmp_path)
    row, again = results.iloc[1], back.iloc[1]
    assert len(row["history"]) == 5
    for column in ("history", "seq_headline", "example_mean", "example_std"):
        np.testing.assert_array_equal(row[column], again[column])
    import sqlite3

    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()


def test_a_corrupt_or_foreign_store_is_refused_clearly(tmp_path):
    (tmp_path / "results.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a readable results store"):
        ResultsStore(tmp_path)


def test_each_dataset_draw_is_generated_once_and_its_oracle_evaluated_once(monkeypatch):
    from seqmodels.compare import grid, worker

    loads, oracle_evaluations = [], []
    original_load, original_evaluate = grid.load, worker.evaluate
    monkeypatch.setattr(grid, "load", lambda name, **p: loads.append(p) or original_load(name, **p))

    def counting_evaluate(model, data, **kwargs):
        if not kwargs.get("fit", True) or model is data.oracle:
            oracle_evaluations.append(1)
        return original_evaluate(model, data, **kwargs)

    monkeypatch.setattr(worker, "evaluate", counting_evaluate)
    results = compare(TWO_AR, ("ar", {"n_train": 8, "n_test": 3, "n_timesteps": 50}),
                      seeds=[0, 1], train_sizes=[2, 4, 8], progress=False)
    assert len(results) == 2 * 3 * 3
    assert len(loads) == 2               # one draw per data seed, shared by 9 cells each
    assert len(oracle_evaluations) == 2  # the oracle learns nothing: evaluated once per draw


def test_learning_curve_uses_nested_training_sets_and_one_test_set():
    curve = learning_curve({"AR(2)": AutoRegressive(order=2)},
                           ("ar", {"n_train": 40, "n_test": 10, "n_timesteps": 50}),
                           train_sizes=[1, 5, 40], seeds=[0, 1, 2], progress=False)
    model = curve[~curve["is_oracle"]]
    assert sorted(model["n_train"].unique()) == [1, 5, 40]
    by_size = model.groupby("train_size")["headline"].mean()
    assert by_size[40] < by_size[1]  # more data, smaller error
    oracle = curve[curve["is_oracle"]]
    assert oracle.groupby("data_seed")["headline"].nunique().eq(1).all()
    assert curve["gap"][~curve["is_oracle"]].notna().all()


def test_horizon_curve_matches_the_closed_form_of_an_ar1():
    """h-step forecast error of the true AR(1): var = sigma^2 (1 - phi^(2h)) / (1 - phi^2)."""
    phi = 0.8
    curve = horizon_curve({"AR(1)": AutoRegressive(order=1)},
                          ("ar", {"coef": [phi], "n_train": 50, "n_test": 400,
                                  "n_timesteps": 60}),
                          horizons=[1, 2, 5, 10], seeds=[0], progress=False)
    oracle = curve[curve["is_oracle"]].set_index("horizon")["rmse"]
    for h in (1, 2, 5, 10):
        expected = np.sqrt((1 - phi ** (2 * h)) / (1 - phi**2))
        assert oracle[h] == pytest.approx(expected, rel=0.06)
    fitted = curve[~curve["is_oracle"]]
    assert (fitted["oracle_rmse"] > 0).all() and fitted["horizon"].tolist() == [1, 2, 5, 10]


def test_noise_and_memory_curves_sweep_a_dataset_parameter():
    noise = noise_curve({"AR(1)": AutoRegressive()}, AR_SMALL, [0.5, 2.0], seeds=[0],
                        progress=False)
    assert "noise_std" in noise.columns
    by_noise = noise[~noise["is_oracle"]].set_index("noise_std")["headline"]
    assert by_noise[2.0] == pytest.approx(4 * by_noise[0.5], rel=1e-6)  # AR is scale-equivariant
    memory = memory_curve({"HMM": HiddenMarkovModel()},
                          ("delayed_xor", {"n_train": 50, "n_test": 20, "length": 20}),
                          [1, 3], seeds=[0], progress=False)
    assert sorted(memory["lag"]) == [1, 3]
    # Labels are the XOR of two independent bits: a memoryless tagger is at chance.
    assert memory["headline"].between(0.4, 0.6).all()


def test_restart_spread_keeps_the_data_and_varies_the_model_seed():
    spread = restart_spread({"HMM": HiddenMarkovModel(n_states=3, n_iter=20)},
                            ("hmm_regimes", {"n_train": 5, "n_test": 3, "n_timesteps": 60}),
                            model_seeds=[0, 1, 2, 3], progress=False)
    model = spread[~spread["is_oracle"]]
    assert sorted(model["model_seed"]) == [0, 1, 2, 3]
    assert spread["is_oracle"].sum() == 1 and model["data_seed"].eq(0).all()
    assert model["headline"].nunique() > 1  # different initialisations, different optima


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": []}, "seeds must be"),
    ({"seeds": [0, 0]}, "repeated"),
    ({"train_sizes": [0]}, "train_sizes"),
    ({"train_sizes": [100]}, "raise its n_train"),
    ({"sweep": {"nope": [1]}}, "has no parameter 'nope'"),
    ({"horizons": [0]}, "horizons"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"backend": "threads"}, "backend must be"),
    ({"timeout": -1}, "timeout"),
])
def test_bad_arguments_are_refused_before_any_cell(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare(TWO_AR, AR_SMALL, progress=False, **kwargs)


@pytest.mark.parametrize("models, datasets, message", [
    ({"AR": AutoRegressive}, AR_SMALL, "pass an instance"),
    ({"x": object()}, AR_SMALL, "lacks"),
    ({}, AR_SMALL, "empty"),
    (TWO_AR, "no_such_dataset", "not a registered dataset"),
    (TWO_AR, ("ar", {"n_trian": 5}), "unknown parameter"),
    (TWO_AR, ("ar", {"random_state": 1}), "seeds"),
    (TWO_AR, [AR_SMALL, AR_SMALL], "more than once"),
])
def test_bad_models_and_datasets_are_refused(models, datasets, message):
    with pytest.raises((ValueError, TypeError), match=message):
        compare(models, datasets, progress=False)


GRID_MODELS = {"AR(1)": AutoRegressive(order=1), "AR(3)": AutoRegressive(order=3),
               "Kalman level": KalmanFilter(model="local_level", n_iter=5),
               "HMM": HiddenMarkovModel(n_states=2, n_iter=5)}
GRID_DATA = [("ar", {"n_train": 5, "n_test": 3, "n_timesteps": 50}),
             ("var", {"n_train": 5, "n_test": 3, "n_timesteps": 50}),
             ("noisy_sine", {"n_train": 5, "n_test": 3, "n_timesteps": 50})]
_COMPARED = ["key", "status", "model", "dataset", "data_seed", "headline", "score", "rmse",
             "mae", "nll_per_step", "coverage_90", "mean_sq_z", "n_params"]


def _start_both_loky_workers():
    """Have both workers of the two-job loky executor running before a grid is handed out.

    The cells here take milliseconds: on a loaded machine the first worker could run all
    45 of them before the second process had even started (seen once in CI-like runs). The
    executor is loky's reusable one, so ``compare(n_jobs=2)`` gets these same workers.
    """
    from seqmodels.compare.execution import ProcessBackend

    def _pid_after(seconds):     # local: pickled by value (workers cannot import tests/)
        time.sleep(seconds)
        return os.getpid()

    executor = ProcessBackend(2).executor
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pids = {f.result() for f in [executor.submit(_pid_after, 0.2) for _ in range(4)]}
        if len(pids) == 2:
            return
    raise AssertionError("the second loky worker did not start within 120 s")


@pytest.mark.slow
def test_serial_processes_and_dask_give_identical_tables():
    """4 models x 3 datasets x 3 seeds: the same numbers on every backend."""
    serial = compare(GRID_MODELS, GRID_DATA, seeds=[0, 1, 2], progress=False)
    assert len(serial) == 3 * 3 * (4 + 1) and (serial["status"] == "ok").all()
    _start_both_loky_workers()
    loky = compare(GRID_MODELS, GRID_DATA, seeds=[0, 1, 2], n_jobs=2, progress=False)
    dask = compare(GRID_MODELS, GRID_DATA, seeds=[0, 1, 2], backend="dask", n_jobs=2,
                   progress=False)
    pd.testing.assert_frame_equal(serial[_COMPARED], loky[_COMPARED], check_exact=True)
    pd.testing.assert_frame_equal(serial[_COMPARED], dask[_COMPARED], check_exact=True)
    assert loky["worker"].nunique() == 2 and loky["worker"].iloc[0] != serial["worker"].iloc[0]


def test_local_workers_cap_their_threads_before_libraries_start():
    from threadpoolctl import threadpool_info

    from seqmodels.compare.execution import ProcessBackend, threads_per_worker

    backend = ProcessBackend(2)
    try:
        expected = threads_per_worker(2)
        assert backend.executor.submit(os.getenv, "OMP_NUM_THREADS").result() == \
            str(expected)
        assert backend.executor.submit(os.getenv, "TF_NUM_INTRAOP_THREADS").result() == \
            str(expected)
        pools = backend.executor.submit(threadpool_info).result()
        assert pools and all(pool["num_threads"] <= expected for pool in pools)
    finally:
        backend.shutdown(kill=True)


@pytest.mark.slow
def test_a_dask_scheduler_address_runs_the_same_grid(tmp_path, capsys):
    from distributed import LocalCluster

    from seqmodels.compare.cli import main

    serial = compare(TWO_AR, AR_SMALL, seeds=[0, 1], progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        remote = compare(TWO_AR, AR_SMALL, seeds=[0, 1], scheduler=cluster.scheduler_address,
                         progress=False)
    pd.testing.assert_frame_equal(serial[_COMPARED], remote[_COMPARED], check_exact=True)
    suite = tmp_path / "suite.toml"
    suite.write_text('seeds = [0]\n[[datasets]]\nname = "ar"\n[[models]]\n'
                     'estimator = "AutoRegressive"\n')
    assert main(["run", str(suite), "--cluster", "local:2", "-o", str(tmp_path / "out"),
                 "--progress", "none"]) == 0
    assert "2 cells (2 ok)" in capsys.readouterr().out


def test_cells_keep_the_small_fitted_parameters():
    """The figures a lesson compares with published fits travel with the results."""
    results = compare({"AR(2)": AutoRegressive(order=2)}, ("lynx", {"in_sample": True}),
                      progress=False)
    import json

    fitted = json.loads(results["fitted_params"].iloc[0])
    direct = AutoRegressive(order=2).fit(load("lynx", in_sample=True).X_train)
    np.testing.assert_allclose(fitted["coef_"], direct.coef_.tolist())
    np.testing.assert_allclose(fitted["intercept_"], direct.intercept_.tolist())
    assert "history_" not in fitted and "n_params_" not in fitted
