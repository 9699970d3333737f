"""The dominance anchor: GBLUP with a second kernel of heterozygosity.

Where individuals are heterozygous (outbred families, hybrids) part of the genetic value
is dominance: a locus's heterozygote is not midway between its homozygotes.  Relatives
that are heterozygous at the same loci share it, which additive relationships do not
describe.  The dominance relationships (Vitezica et al. 2013's genotypic coding, up to
the centring) are those of heterozygosity indicators centred by their training
frequency; GBLUP with them as a second kernel
(:func:`~gpfn_core.linear.second_kernel.second_kernel_gblup`) predicts the targets'
genetic values, dominance included.  In inbred populations heterozygotes are too rare
to carry anything and the anchor is the h2-averaged GBLUP.
"""

from __future__ import annotations

import numpy as np

from gpfn_core.linear.kinship import Kinship
from gpfn_core.linear.second_kernel import SecondKernel, second_kernel_gblup
from gpfn_core.linear.smoothers import H2_GRID

DOMINANCE_SHARES = (0.2, 0.5)  # the dominance kernel's share of the genetic variance, beside 0 (GBLUP)
DOMINANCE_MARKERS = 10_000  # markers (evenly spaced among the informative ones) the dominance kernel uses
MIN_HETEROZYGOSITY = 0.02  # below this mean training heterozygosity there is no dominance kernel (inbred lines)


def heterozygosity(dosage: np.ndarray, columns: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """float32 ``[n, k]``: 1 where heterozygous at ``columns``, 0 where homozygous, the training
    frequency ``freq`` where the call is missing; centred by ``freq``."""
    d = np.asarray(dosage)[:, columns]
    return np.where(d < 0, 0.0, (d == 1) - freq[None, :]).astype(np.float32)


class DominanceModel(SecondKernel):
    """The dominance relationships of one training and target population (from raw 0/1/2
    dosages, -1 missing) as a :class:`~gpfn_core.linear.second_kernel.SecondKernel`, scaled to
    a mean training diagonal of one.  ``kernels`` is None where the training individuals'
    mean heterozygosity is below :data:`MIN_HETEROZYGOSITY`."""

    def __init__(self, kin: Kinship, coordinates: np.ndarray, dosage_train: np.ndarray,
                 dosage_target: np.ndarray, markers: int = DOMINANCE_MARKERS) -> None:
        super().__init__(kin, coordinates)
        dt = np.asarray(dosage_train)
        called = (dt >= 0).sum(0)
        freq = ((dt == 1).sum(0) / np.maximum(called, 1)).astype(np.float64)
        if not freq.size or freq.mean() < MIN_HETEROZYGOSITY:
            return
        informative = np.flatnonzero((freq > 0) & (freq < 1))
        if informative.size > markers:  # evenly spaced: relationships converge long before every marker
            informative = informative[np.linspace(0, informative.size - 1, markers).round().astype(np.int64)]
        if informative.size < 2:
            return
        f = freq[informative].astype(np.float32)
        ht, hv = heterozygosity(dt, informative, f), heterozygosity(dosage_target, informative, f)
        scale = float(np.einsum("ij,ij->i", ht, ht).sum(dtype=np.float64)) / len(ht)
        if not scale > 1e-9:
            return
        self.kernels = ((ht @ ht.T).astype(np.float64) / scale, (hv @ ht.T).astype(np.float64) / scale)


def dominance_gblup(kin: Kinship, coordinates: np.ndarray, dosage_train: np.ndarray, dosage_target: np.ndarray,
                    z: np.ndarray, gblup_target: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID,
                    shares: tuple[float, ...] = DOMINANCE_SHARES, model: DominanceModel | None = None) -> np.ndarray:
    """float64 ``[n_target]``: GBLUP with the dominance kernel, averaged over (h2, dominance
    share) by marginal likelihood (a stacking anchor, ``gblup_dom``).  ``model``: the
    :class:`DominanceModel` when the caller has it (it does not depend on the phenotypes)."""
    model = DominanceModel(kin, coordinates, dosage_train, dosage_target) if model is None else model
    return second_kernel_gblup(kin, z, gblup_target, model, shares, h2_grid)
