"""The report's figures as public functions: each draws what the tables hold, on the Axes given."""

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from seqmodels import AutoRegressive, KalmanFilter
from seqmodels.compare import compare, plots, tables

matplotlib.use("Agg")

MODELS = {"AR(1)": AutoRegressive(order=1), "AR(2)": AutoRegressive(order=2),
          "Kalman $5_x": KalmanFilter(model="constant_velocity", n_iter=10)}


@pytest.fixture(scope="module")
def results():
    return compare(MODELS, {"ar": ("ar", {"n_train": 20, "n_test": 4, "n_timesteps": 50}),
                            "cv": ("constant_velocity", {"n_dims": 2, "n_train": 20,
                                                         "n_test": 4, "n_timesteps": 30})},
                   seeds=[0, 1], train_sizes=[2, 20], horizons=[1, 2, 5], progress=False)


def _ax():
    return Figure(layout="constrained").add_subplot()


def _draws(ax):
    """The figure renders (a label with '$' or '_' must not break mathtext)."""
    ax.figure.savefig(io.BytesIO(), format="png")


def test_gap_bars_are_the_relative_gaps(results):
    ax = _ax()
    assert plots.plot_oracle_gap(results, "cv", ax=ax) is ax
    rows = tables.oracle_gap_table(results).query("panel == 'cv'")
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx(list(100 * rows["gap_relative"]))
    ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]))
    assert [label for _, label in ticks[::-1]] == [plots._text(m) for m in rows["model"]]
    assert any(line.get_xdata()[0] == 0 and line.get_label() == "oracle" for line in ax.lines)
    _draws(ax)
    with pytest.raises(ValueError, match="panel 'nope'"):
        plots.plot_oracle_gap(results, "nope", ax=_ax())


def test_learning_curve_is_the_mean_over_seeds_on_a_log_axis(results):
    ax = plots.plot_curve(results, "ar", "n_train", ax=_ax())
    table = tables.curve_table(results, "ar", "n_train")
    assert ax.get_xscale() == "log"  # 2 to 20 sequences: a decade
    for model, rows in table.groupby("model"):
        line = next(line for line in ax.lines if line.get_label() == plots._text(model))
        assert list(line.get_xdata()) == [2.0, 20.0]
        assert line.get_ydata() == pytest.approx(rows["mean"].to_numpy())
        if model == "oracle":
            assert line.get_linestyle() == "--"
    cells = results[(results["dataset"] == "ar") & (results["model"] == "AR(2)")
                    & (results["n_train"] == 2)]
    mean = table.query("model == 'AR(2)' and x == 2")["mean"].iloc[0]
    assert mean == pytest.approx(cells["headline"].mean())
    assert len(ax.collections) == 3  # a std band per model, none for the oracle
    _draws(ax)


def test_horizon_curve_is_the_rmse_per_horizon_at_full_size(results):
    ax = plots.plot_curve(results, "ar", "horizon", ax=_ax())
    assert ax.get_xscale() == "linear"  # 1 to 5 steps
    cells = results[(results["dataset"] == "ar") & (results["model"] == "AR(1)")
                    & (results["n_train"] == 20)]
    expected = np.mean(np.stack(cells["horizon_rmse"].to_list()), axis=0)
    line = next(line for line in ax.lines if line.get_label() == "AR(1)")
    assert line.get_ydata() == pytest.approx(expected)
    assert ("ar", "horizon") in tables.curve_axes(results)
    with pytest.raises(ValueError, match="axis 'data_nope'"):
        tables.curve_table(results, "ar", "data_nope")


def test_tracking_trajectories_are_xy_paths_of_the_position_columns(results):
    ax = plots.plot_trajectory(results, "cv", sequence=1, ax=_ax())
    cell = results[(results["dataset"] == "cv") & results["is_oracle"]
                   & (results["data_seed"] == 0) & (results["n_train"] == 20)].iloc[0]
    truth = next(line for line in ax.lines if line.get_label() == "truth")
    assert truth.get_xdata() == pytest.approx(cell["example_target"][1][:, 0])
    assert truth.get_ydata() == pytest.approx(cell["example_target"][1][:, 2])
    assert ax.get_aspect() == 1.0
    assert any(p.get_label() == "± 2 std" for p in ax.patches)  # ellipses
    _draws(ax)


def test_forecast_trajectories_are_against_time_with_two_std_bands(results):
    ax = plots.plot_trajectory(results, "ar", ax=_ax(), models=["AR(2)"])
    cell = results[(results["dataset"] == "ar") & (results["model"] == "AR(2)")
                   & (results["data_seed"] == 0) & (results["n_train"] == 20)].iloc[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["truth", "oracle", "AR(2)"]
    estimate = ax.lines[2]
    assert estimate.get_ydata() == pytest.approx(cell["example_mean"][0][:, 0])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    mean, std = cell["example_mean"][0][:, 0], cell["example_std"][0][:, 0]
    assert band.max() == pytest.approx(np.max(mean + 2 * std))
    with pytest.raises(ValueError, match="no example predictions"):
        plots.plot_trajectory(results, "ar", ax=_ax(), models=["nobody"])


def test_critical_difference_diagram_places_models_at_their_mean_ranks(results):
    ax = plots.plot_critical_difference(results, ax=_ax())
    ranks = tables.ranks_across_datasets(results)
    texts = {t.get_text() for t in ax.texts}
    for model, rank in ranks.mean_ranks.items():
        assert plots._text(f"{model} ({rank:.2f})") in texts
    assert any(t.startswith(f"CD = {ranks.cd:.2f}") for t in texts)
    _draws(ax)
    one = results[results["dataset"] == "ar"]
    with pytest.raises(ValueError, match="at least 2 datasets"):
        plots.plot_critical_difference(one, ax=_ax())


def test_training_curves_draw_each_history(results):
    ax = plots.plot_training_curves(results, "ar", "log_likelihood", ax=_ax())
    kalman = results[(results["dataset"] == "ar") & (results["model"] == "Kalman $5_x")
                     & (results["n_train"] == 20)]  # the largest training size only
    histories = [h for h in kalman["history"] if len(h) > 1]
    assert len(ax.lines) == len(histories)
    assert ax.lines[0].get_ydata() == pytest.approx(histories[0])
    assert all(np.all(np.diff(h) >= -1e-6 * np.abs(h[1:])) for h in histories)  # EM rises
    with pytest.raises(ValueError, match="kind"):
        plots.plot_training_curves(results, kind="accuracy", ax=_ax())
    with pytest.raises(ValueError, match="no training history of kind 'loss'"):
        plots.plot_training_curves(results, kind="loss", ax=_ax())


def test_cost_and_calibration_scatters_place_the_table_values(results):
    ax = plots.plot_cost(results, ax=_ax())
    table = tables.cost_table(results).query("kind == 'model'")
    points = np.vstack([np.asarray(c.get_offsets()) for c in ax.collections])
    assert points[:, 0] == pytest.approx(np.maximum(table["fit_seconds"].to_numpy(), 1e-6))
    assert points[:, 1] == pytest.approx(100 * table["gap_relative"].to_numpy())
    assert ax.get_xscale() == "log"
    _draws(ax)
    ax = plots.plot_calibration(results, ax=_ax())
    table = tables.calibration_table(results)
    points = np.vstack([np.asarray(c.get_offsets()) for c in ax.collections])
    assert points[:, 0] == pytest.approx(table["mean_sq_z"].to_numpy())
    assert points[:, 1] == pytest.approx(table["coverage_90"].to_numpy())
    _draws(ax)
    with pytest.raises(ValueError, match="cost must be"):
        plots.plot_cost(results, cost="memory", ax=_ax())


def test_without_axes_a_new_pyplot_figure_is_made(results):
    import matplotlib.pyplot as plt

    ax = plots.plot_oracle_gap(results)
    try:
        assert ax.figure in [plt.figure(n) for n in plt.get_fignums()]
    finally:
        plt.close("all")


def test_colours_follow_the_order_models_first_appear(results):
    colors = plots.model_colors(results)
    assert colors["oracle"] == "black"
    assert colors["AR(1)"] != colors["AR(2)"] != colors["Kalman $5_x"]
