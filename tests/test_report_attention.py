"""Attention weights through the comparison engine: the suite key ``attention_weights``, the
weights in the store for attention models only, and the report's Attention section."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from seqmodels.compare import compare, report
from seqmodels.compare.evaluation import evaluate
from seqmodels.compare.grid import build_grid
from seqmodels.compare.sections import build_sections
from seqmodels.compare.store import load_results
from seqmodels.compare.suite import SuiteError, load_suite
from seqmodels.compare.tables import attention_table, recall_layout
from seqmodels.datasets import load

N_RECALL, LAG = 3, 5
T = 2 * N_RECALL + LAG
HEADS = 2

_SUITE = f"""
title = "attention"
attention_weights = true
seeds = [0]

[[models]]
label = "Transformer"
estimator = "TransformerNetwork"
params = {{ units = 8, n_heads = {HEADS}, n_layers = 1, epochs = 1 }}

[[models]]
label = "RNN"
estimator = "RecurrentNetwork"
params = {{ cell = "simple", units = 4, epochs = 1 }}

[[datasets]]
name = "copy_memory"
params = {{ n_train = 50, n_test = 4, n_recall = {N_RECALL}, lag = {LAG} }}
"""


def _suite(tmp_path, text):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return load_suite(str(path))


class Blank(BaseEstimator):
    """A user's own tagger that always says "blank"; ``attention`` picks what its
    ``attention_weights`` does: spread evenly over the past, raise, or be absent."""

    def __init__(self, attention="uniform"):
        self.attention = attention

    def fit(self, X, y=None):
        self.n_params_ = 0
        return self

    def predict(self, X):
        X = np.asarray(X)
        return np.full(X.shape[:2] + (1,), X.shape[2] - 2)

    def attention_weights(self, X, per_head=False):
        if self.attention == "absent":
            raise AttributeError("this model has no attention")
        if self.attention == "broken":
            raise ValueError("something went wrong")
        steps = np.asarray(X).shape[1]
        even = np.tril(np.ones((steps, steps))) / np.arange(1, steps + 1)[:, None]
        weights = np.repeat(even[None], len(X), axis=0)
        return weights[:, None] if per_head else weights


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny suite, run and reported: a transformer and an RNN without attention."""
    folder = tmp_path_factory.mktemp("attention")
    suite = _suite(folder, _SUITE)
    store = folder / "store"
    results = compare(suite, store=store, progress=False)
    paths = report(results, folder / "report", store=store)
    return results, store, paths


def test_the_suite_key_validates_and_is_opt_in(tmp_path):
    suite = _suite(tmp_path, _SUITE)
    assert suite.attention_weights is True and suite.gradient_norms is False
    assert suite.name == "suite"  # (was: the key check's loop renamed every suite)
    assert all(cell.attention_weights for cell in suite.cells() if not cell.is_oracle)
    with pytest.raises(SuiteError, match="attention_weights: expected true or false, got"):
        _suite(tmp_path, _SUITE.replace("attention_weights = true", 'attention_weights = "yes"'))
    # the Python API: a bool, and only the asking cells' keys change
    models = {"blank": Blank()}
    data = ("copy_memory", {"n_train": 4, "n_test": 2, "n_recall": 2, "lag": 2})
    plain = build_grid(models, data)
    asked = build_grid(models, data, attention_weights=True)
    assert "attention_weights" not in plain[0].description()
    assert plain[0].key != asked[0].key
    with pytest.raises(TypeError, match="attention_weights must be True or False"):
        build_grid(models, data, attention_weights=1)


@pytest.mark.slow
def test_the_store_holds_the_weights_of_attention_models_only(run):
    results, store, _ = run
    assert (results["status"] == "ok").all()  # the RNN without attention still runs
    stored = load_results(store).set_index("model")["attention_weights"]
    assert stored["RNN"] is None
    weights = stored["Transformer"]
    # the first test sequence, each head: causal rows that sum to 1
    assert weights.shape == (HEADS, T, T)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(np.triu(weights, 1) == 0) and np.all(weights >= 0)


@pytest.mark.slow
def test_the_report_has_one_heatmap_per_model_with_weights(run):
    results, _, paths = run
    sections = {s.id: s for s in build_sections(results)}
    plots = [b for b in sections["attention"].blocks if b.kind == "plot"]
    assert [p.name for p in plots] == ["attention-copy-memory-transformer"]
    figures = [p for p in paths["figures"] if "attention" in p.name]
    assert len(figures) == 1 and figures[0].is_file() and figures[0].stat().st_size > 1000
    # the heads' mean, then each head, on one colour scale
    from seqmodels.compare.plots import plot_attention_weights

    figure = plot_attention_weights(results, "Transformer")
    images = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in images[:3]] == ["heads averaged", "head 1", "head 2"]
    np.testing.assert_allclose(images[0].images[0].get_array(),
                               np.mean([ax.images[0].get_array() for ax in images[1:3]], axis=0),
                               atol=1e-6)
    # below them the recall rows enlarged: the last N_RECALL steps, the first 2 N_RECALL
    # positions (the stored symbols and as many after them)
    zoomed = [ax.images[0].get_array() for ax in images[3:]]
    assert len(zoomed) == 3 and all(z.shape == (N_RECALL, 2 * N_RECALL) for z in zoomed)
    mean = images[0].images[0].get_array()
    np.testing.assert_allclose(zoomed[0], mean[T - N_RECALL:, :2 * N_RECALL])
    markdown = paths["markdown"].read_text()
    assert "## Attention" in markdown and "the last n_recall rows are the recall steps" in \
        markdown and "RNN: attention" not in markdown
    assert '<section id="attention">' in paths["html"].read_text()
    # the share of the recall rows' weight on the stored symbols, against spreading it evenly
    table = attention_table(results).set_index("model")
    assert list(table.index) == ["Transformer"] and table.loc["Transformer", "n_recall"] == 3
    even = np.mean([N_RECALL / (t + 1) for t in range(T - N_RECALL, T)])
    assert table.loc["Transformer", "uniform_share"] == pytest.approx(even)
    assert 0 <= table.loc["Transformer", "recall_share"] <= 1
    assert table.loc["Transformer", "recall_share"] <= table.loc["Transformer", "best_head_share"]


def test_a_model_whose_attention_weights_fail_records_none_and_still_counts():
    data = load("copy_memory", n_train=4, n_test=3, n_recall=2, lag=3, random_state=0)
    scalars, arrays = evaluate(Blank("uniform"), data, attention_weights=True)
    assert arrays["attention_weights"].shape == (1, 7, 7)
    assert "attention_weights" not in evaluate(Blank(), data)[1]  # not asked for
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "attention_weights" not in evaluate(Blank("absent"), data,
                                                   attention_weights=True)[1]
    with pytest.warns(UserWarning, match="Blank.attention_weights failed.*something went"):
        scalars, arrays = evaluate(Blank("broken"), data, attention_weights=True)
    assert "attention_weights" not in arrays and scalars["accuracy"] >= 0


def test_the_recall_layout_is_only_read_where_it_is_known():
    row = {"dataset_name": "copy_memory", "dataset_params": '{"n_recall": 3, "lag": 5}'}
    rows, columns = recall_layout(row, 11)
    assert (rows.start, rows.stop, columns.start, columns.stop) == (8, 11, 0, 3)
    assert recall_layout(row, 10) is None  # not the whole sequence
    # the generator's defaults where the suite gave none (n_recall=10, lag=20)
    assert recall_layout({"dataset_name": "copy_memory", "dataset_params": "{}"}, 40) \
        == (slice(30, 40), slice(0, 10))
    assert recall_layout({"dataset_name": "adding", "dataset_params": "{}"}, 40) is None


def test_the_figure_shows_the_longest_sequences_whatever_the_number_of_heads():
    from seqmodels.compare.tables import _first_cell

    def cell(panel, steps, seed, heads=4):
        return {"panel": panel, "data_seed": seed, "model_seed": 0,
                "attention_weights": np.zeros((heads, steps, steps))}

    # the longest panel comes first in the results' order: it is still the one drawn
    group = pd.DataFrame([cell("lag=100", 120, 1), cell("lag=100", 120, 0),
                          cell("lag=10", 30, 0)])
    chosen = _first_cell(group)
    assert chosen["panel"] == "lag=100" and chosen["data_seed"] == 0
    # a store written before per-head recording holds (T, T) head means
    means = dict(cell("lag=50", 70, 0), attention_weights=np.zeros((70, 70)))
    legacy = pd.DataFrame([cell("lag=10", 30, 0), means])
    assert _first_cell(legacy)["panel"] == "lag=50"
