"""Exceptions a user may want to catch, importable without loading Keras.

:class:`TrainingDiverged` is raised by the networks' ``fit`` (Keras is imported only
there) and caught by the comparison worker, which records such a fit as a measured
outcome (status ``diverged``) rather than as a broken cell; the worker must not import
Keras to recognise it.
"""

__all__ = ["TrainingDiverged"]


class TrainingDiverged(ValueError):
    """Training failed as a measured outcome: the loss became NaN or infinite, or ended far
    above the mean predictor's. The fit cannot be used; the message names the remedies."""
