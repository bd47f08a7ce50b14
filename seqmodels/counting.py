"""Context counting: the online Beta-Bernoulli predictor of binary sequences.

A thin estimator over the pure functions of :mod:`seqmodels.inference.counting`.
"""

import numpy as np

from ._parameters import Integer, Real
from .base import SequenceEstimator
from .inference.counting import (MAX_CONTEXT_LENGTH, MAX_EXACT_HORIZON, bernoulli_log_likelihood,
                                 count_before, forecast_probabilities, predictive_probabilities)

__all__ = ["ContextCounter"]


class ContextCounter(SequenceEstimator):
    """Online Beta-Bernoulli context counter: each bit predicted from its context's history.

    For binary sequences. At step t the **context** ``c_t`` is the last
    ``context_length`` (L) bits; ``N1_t(c)`` and ``N0_t(c)`` count the earlier steps
    of the *same sequence* whose context was c and whose bit was 1 and 0. With an
    independent ``Beta(a, a)`` prior (``a = prior``) on every context's probability of
    a 1, the predictive probability is the posterior mean::

        P(x_t = 1 | x_<t) = (N1_t(c_t) + a) / (N1_t(c_t) + N0_t(c_t) + 2 a)   for t >= L
        P(x_t = 1 | x_<t) = 1/2                                               for t <  L

    and ``log_likelihood`` sums ``log P(x_t | x_<t)`` exactly (from the final counts: the
    predictions of one context's steps multiply to the Beta-Bernoulli marginal
    ``B(n1 + a, n0 + a) / B(a, a)`` of its bits). This is the Bayes-optimal
    predictor of Graves, Wayne & Danihelka's (2014) *dynamic N-grams*: an (L+1)-gram
    model whose ``2^L`` conditional probabilities are drawn from ``Beta(1/2, 1/2)``
    afresh for every sequence (``seqmodels.datasets.load("dynamic_ngrams")``, whose
    oracle this is). ``a = 1/2`` is the Krichevsky-Trofimov estimator, ``a = 1``
    Laplace's rule of succession.

    The counts start from zero in every sequence: the model learns *within* a
    sequence, as it is read, and nothing across sequences. ``fit`` therefore only
    checks the data and sets the contract's attributes (``n_params_ = 0``); the prior
    is the hyperparameter. Each feature of ``X`` is a separate binary stream with its
    own counts (the features are modelled as independent); the log-likelihood sums
    over them.

    ``predict(X)`` gives ``P(x_t = 1 | x_<t)``, the mean of the Bernoulli predictive
    distribution (``return_std``: its standard deviation ``sqrt(p (1 - p))``).
    ``forecast(X, h)`` gives the exact probability that ``x_{T+k} = 1`` given the whole
    sequence, for k = 1..h: the bits emitted after the end would update the counts, so
    step k sums over the ``2^(k-1)`` continuations of the sequence, and ``h`` is at
    most 12. (Feeding the one-step probability back in as if it were a bit, as
    networks do with their means, is wrong for bits.)

    Parameters
    ----------
    context_length : int, default=5
        L, the number of past bits that form the context, in ``[0, 30]``
        (0: one count pair for the whole sequence, a Beta-Bernoulli coin).
    prior : float, default=0.5
        a > 0, the pseudo-count of each outcome: the prior on each context's
        probability of a 1 is ``Beta(a, a)``.
    threshold : float, optional
        None (default): ``X`` must hold only the bits 0 and 1. A number: ``X`` may
        hold any real values, read as the bit ``x > threshold`` (the log-likelihood is
        then that of the bits, a probability, not a density of ``X``).

    Attributes
    ----------
    n_features_in_ : int
        Number of binary streams per sequence.
    n_contexts_ : int
        ``2^context_length``: the contexts counted in each stream.
    n_params_ : int
        0: nothing is estimated from the training sequences.
    history_ : list
        Empty: nothing is fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from seqmodels import ContextCounter
    >>> X = np.array([[0, 1, 0, 1, 0, 1, 0, 1]], dtype=float)[..., None]
    >>> model = ContextCounter(context_length=1, prior=0.5).fit(X)
    >>> model.predict(X)[0, :, 0].round(3)   # after a 0 comes a 1, after a 1 a 0
    array([0.5  , 0.5  , 0.5  , 0.75 , 0.25 , 0.833, 0.167, 0.875])
    >>> model.forecast(X, horizon=2)[0, :, 0].round(3)
    array([0.125, 0.825])
    >>> float(model.log_likelihood(X)[0].round(3))
    -3.153
    """

    target_kinds = ()
    _parameter_constraints = {
        "context_length": [Integer(0, MAX_CONTEXT_LENGTH)],
        "prior": [Real(0.0, None, closed="neither")],
        "threshold": [None, Real()],
    }

    def __init__(self, context_length=5, prior=0.5, threshold=None):
        self.context_length = context_length
        self.prior = prior
        self.threshold = threshold

    @classmethod
    def _unit_test_params(cls):
        # The contract's checks feed real-valued AR(1) data: read its signs as the bits.
        return {"context_length": 2, "threshold": 0.0}

    @classmethod
    def _unit_test_targets(cls):
        return None                                    # forecasting only

    def _check_target_kind(self, is_labels):
        """``fit(X, y)``: refused, whatever ``y`` holds (no supervised mode)."""
        raise ValueError(
            f"{type(self).__name__} forecasts only: fit(X) takes binary sequences and y must "
            f"be None (got {'integer class labels' if is_labels else 'targets'} y). It "
            "predicts each bit from the bits before it in the same sequence."
        )

    def _bits(self, X):
        """X's bits as int8 (0 on padding), refused (naming where) unless they are 0 / 1."""
        values = X.values
        if self.threshold is not None:
            return (values > float(self.threshold)).astype(np.int8)   # NaN padding: 0
        ones = values == 1.0
        bad = ~(ones | (values == 0.0))
        if X.lengths.min() < X.max_length:
            bad &= X.mask[..., None]                  # NaN padding is not an error
        if bad.any():
            i, t, j = np.argwhere(bad)[0]
            feature = f", feature {j}" if X.n_features > 1 else ""
            raise ValueError(
                f"X holds {values[i, t, j]!r} at sequence {i}, timestep {t}{feature}; "
                f"{type(self).__name__} counts bits, so X must hold only 0 and 1. Pass "
                "threshold=<value> to read x > value as the bit 1."
            )
        return ones.astype(np.int8)

    def _fit(self, X, y):
        self._bits(X)
        self.n_contexts_ = 2 ** int(self.context_length)
        self.n_params_ = 0

    def _predict(self, X, return_std):
        counts = count_before(self._bits(X), X.lengths, int(self.context_length))
        p = predictive_probabilities(counts, float(self.prior))
        if not return_std:
            return p
        return p, np.sqrt(p * (1.0 - p))

    def _log_likelihood(self, X, y):
        return bernoulli_log_likelihood(self._bits(X), X.lengths, int(self.context_length),
                                        float(self.prior))

    def _forecast(self, X, horizon, return_std):
        if horizon > MAX_EXACT_HORIZON:
            raise ValueError(
                f"horizon={horizon} is above {type(self).__name__}'s limit of "
                f"{MAX_EXACT_HORIZON} steps: its forecast is exact, and step k sums over the "
                "2^(k-1) ways the sequence can continue (the bits emitted after its end "
                "update the counts later steps read). Forecast fewer steps."
            )
        p = forecast_probabilities(self._bits(X), X.lengths, int(self.context_length),
                                   float(self.prior), horizon)
        if not return_std:
            return p
        return p, np.sqrt(p * (1.0 - p))
