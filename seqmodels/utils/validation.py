"""Input validation for people who write their own sequence estimators.

The same functions every seqmodels estimator validates with (they live in
:mod:`seqmodels._validation`, the package's one place for container handling):

* :func:`check_sequences` -- any accepted container of ``X`` (a 3-D array, a list of
  2-D arrays, a 1-D array) to a :class:`SequenceBatch`: a NaN-padded float64 array
  ``(n_sequences, max_length, n_features)`` with the lengths and the caller's form,
  whose :meth:`SequenceBatch.restore` hands outputs back in that form;
* :func:`check_targets` -- ``y`` in the same container form as ``X``;
* :func:`check_horizon` -- a forecast horizon within the package's limits;
* :func:`check_random_state` -- None, an int, ``numpy.random.RandomState`` or
  ``numpy.random.Generator`` to a ``RandomState``, and :func:`check_generator` the same
  to a ``Generator``;
* :class:`Integer`, :class:`Real`, :class:`Options`, :class:`HasMethods` and
  :class:`InvalidParameterError` -- to declare ``_parameter_constraints``, which
  ``SequenceEstimator.fit`` checks (:mod:`seqmodels._parameters` lists the forms);
* :func:`subset_sequences`, :func:`split_sequences`, :func:`n_sequences` -- select,
  split and count the sequences of any container form, keeping the form.

Examples
--------
>>> import numpy as np
>>> from seqmodels.utils.validation import check_sequences
>>> batch = check_sequences([np.zeros((3, 1)), np.ones((2, 1))])
>>> batch.values.shape, batch.lengths.tolist()
((2, 3, 1), [3, 2])
"""

from .._parameters import HasMethods, Integer, InvalidParameterError, Options, Real
from .._validation import (MAX_ABS_VALUE, MAX_FORECAST_VALUES, MAX_HORIZON, SequenceBatch,
                           check_generator, check_horizon, check_random_state, check_sequences,
                           check_targets, n_sequences, split_sequences, subset_sequences)

__all__ = ["SequenceBatch", "check_sequences", "check_targets", "check_horizon",
           "check_random_state", "check_generator", "split_sequences", "subset_sequences",
           "n_sequences",
           "MAX_ABS_VALUE", "MAX_HORIZON", "MAX_FORECAST_VALUES", "Integer", "Real", "Options",
           "HasMethods", "InvalidParameterError"]
