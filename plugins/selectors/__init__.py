"""The eleven built-in feature selectors of the original GPFN, vectorized.

All take the encoded training matrix (centred minor-allele counts, see
:mod:`gpfn_core.net.preprocess`) and standardised phenotypes, accept numpy arrays or torch
tensors (a tensor in gives a tensor out), are deterministic given ``seed``, return
exactly ``n_features`` columns or raise a :class:`ValidationError` saying why, and
never select a marker that is monomorphic in the training individuals.

Where a definition departs from the original GPFN's (scikit-learn based) one, the
class docstring says how and why.
"""

from __future__ import annotations

from gpfn_core import hookimpl
from gpfn_plugins.selectors.components import PCA, Composite, Downsample, RandomProjection, Relationship, StridedPCA
from gpfn_plugins.selectors.markers import Correlation, Greedy, MutualInformation, Regression, Sequential

__all__ = ["PCA", "Composite", "Correlation", "Downsample", "Greedy", "MutualInformation", "RandomProjection",
           "Regression", "Relationship", "Sequential", "StridedPCA"]


@hookimpl
def gpfn_feature_selectors():
    return [Greedy, Correlation, MutualInformation, Sequential, Regression, RandomProjection, Relationship,
            Composite, PCA, StridedPCA, Downsample]
