"""The dataset record shared by every generator and loader."""

from dataclasses import dataclass, field
from typing import Any

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

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {self.task!r}.")
        if (self.task == "forecast") != (self.y_train is None):
            raise ValueError("y_train must be None exactly when task is 'forecast'.")
