"""The dataset record shared by every generator and loader."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_sequences, check_targets
from ..metrics import Metric

__all__ = ["Dataset"]

TASKS = ("forecast", "regression", "tagging")


@dataclass(frozen=True)
class Dataset:
    """A train/test split with its truth and its Bayes-optimal yardstick.

    Attributes
    ----------
    name : str
        Registry name.
    X_train, X_test : array-like
        Sequences, in any container form the estimators accept.
    y_train, y_test : array-like or None
        Per-timestep targets, or None for forecasting tasks.
    task : {"forecast", "regression", "tagging"}
        What the models are asked to do.
    truth : dict
        The generating parameters (empty for real data).
    oracle : SequenceEstimator or None
        An estimator of this package built with the true parameters, nothing
        left to learn: its score is the best any model can expect. None where
        no tractable oracle exists.
    description : str
        What the data is, where it comes from, what the oracle is.
    baselines : dict
        Chance-level scores of predictors that ignore the input, e.g.
        ``{"accuracy": 0.5}`` or ``{"mse": 1/6}``.
    n_history : int
        The first ``n_history`` steps of every test sequence are context, not scored
        (a single real series: the test sequence is the whole series and only the
        held-out years count). Comparisons score ``[:, n_history:]``; the
        log-likelihood of the scored part is ``log p(all) - log p(context)``.
    params : dict
        The arguments the generator was called with (sizes, noise, seed).
    metric : Metric
        The headline metric that gaps to the oracle and rankings use (position RMSE
        for tracking, success rate for the adding problem, ...). Defaults to
        accuracy for tagging and RMSE otherwise.

    Examples
    --------
    Your own data enters a comparison through :meth:`from_arrays`:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> data = Dataset.from_arrays(rng.normal(size=(8, 50, 1)), rng.normal(size=(4, 50, 1)),
    ...                            name="noise")
    >>> data.task, data.oracle is None, data.metric.name, data.n_history
    ('forecast', True, 'rmse', 1)
    """

    name: str
    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    task: str
    truth: dict = field(default_factory=dict)
    oracle: Any = None
    description: str = ""
    baselines: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    n_history: int = 0
    metric: Metric = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {self.task!r}.")
        if (self.task == "forecast") != (self.y_train is None):
            raise ValueError("y_train must be None exactly when task is 'forecast'.")
        if self.metric is None:
            object.__setattr__(self, "metric", Metric.default_for(self.task))
        elif not isinstance(self.metric, Metric):
            raise TypeError(
                f"metric must be a seqmodels.metrics.Metric; got {type(self.metric).__name__}."
            )

    @classmethod
    def from_arrays(cls, X_train, X_test, y_train=None, y_test=None, *, name="custom",
                    task=None, oracle=None, description="", metric=None, n_history=None,
                    baselines=None):
        """A dataset from your own arrays, ready for :func:`seqmodels.compare.compare`.

        Parameters
        ----------
        X_train, X_test : array-like
            Sequences in any container form the estimators accept (3-D array, list
            of 2-D arrays, 1-D array), both with the same number of features.
        y_train, y_test : array-like, optional
            Per-timestep targets in the same form as the matching ``X``; both or
            neither. Without them the task is forecasting.
        name : str, default="custom"
            How the dataset is labelled in results and reports.
        task : {"forecast", "regression", "tagging"}, optional
            Inferred when omitted: forecasting without targets, tagging for
            integer targets, regression otherwise.
        oracle : estimator, optional
            An estimator with the true parameters (nothing to learn), if you know
            the process; there is no oracle unless you give one.
        description : str
        metric : Metric, optional
            The headline metric; accuracy for tagging and RMSE otherwise.
        n_history : int, optional
            Leading steps of every test sequence that are context, not scored.
            Default: 1 for forecasting, 0 otherwise. A forecast of step 0 has no
            history: every model guesses it from its prior (at best the mean start of the
            training sequences), and where sequences start far apart that guess's error
            dwarfs every one-step error and makes the ranking meaningless; so a forecasting
            dataset is scored from the first step that has history. (0 when a test
            sequence has a single step.) In supervised tasks step 0 is a filtering step
            with its measurement and is scored. Pass ``n_history=0`` to score the first
            step too.
        baselines : dict, optional
            Scores of trivial predictors, for reference rows in reports.

        Returns
        -------
        Dataset

        Raises
        ------
        ValueError, TypeError
            Invalid sequences, targets that do not match their sequences, a
            feature count that differs between the splits, or only one of
            ``y_train`` / ``y_test``.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string; got {name!r}.")
        train = check_sequences(X_train, "X_train", allow_nan=True)
        test = check_sequences(X_test, "X_test", allow_nan=True,
                               n_features=train.n_features)
        if (y_train is None) != (y_test is None):
            raise ValueError("give both y_train and y_test, or neither (forecasting).")
        is_labels = False
        if y_train is not None:
            y_train_batch, is_labels = check_targets(y_train, train, "y_train")
            y_test_batch, _ = check_targets(y_test, test, "y_test")
            if y_test_batch.n_features != y_train_batch.n_features:
                raise ValueError(
                    f"y_test has {y_test_batch.n_features} target(s) per step but y_train "
                    f"has {y_train_batch.n_features}."
                )
        if task is None:
            task = "forecast" if y_train is None else ("tagging" if is_labels else "regression")
        if n_history is None:       # score from the first step that has history
            n_history = 1 if task == "forecast" and int(test.lengths.min()) > 1 else 0
        if isinstance(n_history, bool) or not isinstance(n_history, (int, np.integer)) \
                or n_history < 0:
            raise ValueError(f"n_history must be a non-negative integer; got {n_history!r}.")
        if n_history and n_history >= int(test.lengths.min()):
            raise ValueError(
                f"n_history={n_history} leaves no scored step in the shortest test sequence "
                f"({int(test.lengths.min())} steps)."
            )
        return cls(name=name, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
                   task=task, oracle=oracle, description=description,
                   baselines=dict(baselines or {}), n_history=int(n_history), metric=metric)
