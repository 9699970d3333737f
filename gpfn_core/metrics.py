"""Accuracy of a prediction against the truth: the one Pearson and Spearman correlation every
part of gpfn reports (validation, ``gpfn evaluate``, the benchmarks), with no torch import."""

from __future__ import annotations

import numpy as np

MIN_PAIRS = 3  # two points always correlate at +-1: below this a correlation is undefined (nan)


def pearson(a, b) -> float:
    """Pearson r of two vectors; nan where either is constant or there are fewer than
    :data:`MIN_PAIRS` pairs."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"pearson of vectors of {a.size} and {b.size} values")
    if a.size < MIN_PAIRS or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(a, b) -> float:
    """Spearman's rank correlation: :func:`pearson` of the ranks, tied values sharing their
    average rank (phenotypes scored on a scale of a few classes tie often)."""
    from scipy.stats import rankdata

    return pearson(rankdata(np.asarray(a, np.float64).ravel()), rankdata(np.asarray(b, np.float64).ravel()))
