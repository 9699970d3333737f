"""A quantitative trait: QTL with additive and dominance effects, and environmental noise."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gpfn_core import bits
from gpfn_core.errors import ValidationError
from gpfn_core.types import Population

_DENSE_MAX = 1 << 20  # individuals x QTL above which genetic values are summed by byte tables (bits.weighted_bit_sums)


@dataclass(frozen=True)
class Trait:
    """Genetic value ``g = sum_q a_q (dosage_q - 1) + d_q [heterozygous_q]``; phenotype ``g + e``.

    ``qtl``: indices of the QTL loci in the population; ``additive``/``dominance``:
    their effects; ``h2``: narrow-sense heritability in the reference population;
    ``ve``: environmental variance, set by :meth:`calibrate`.
    """

    qtl: np.ndarray
    additive: np.ndarray
    dominance: np.ndarray
    h2: float
    ve: float = 1.0

    @classmethod
    def sample(
        cls,
        qtl: np.ndarray,
        rng: np.random.Generator,
        *,
        h2: float,
        gamma_alpha: float,
        gamma_beta: float,
        dom_p: float,
    ) -> Trait:
        """Effects for the loci ``qtl``: |a| ~ Gamma(shape=gamma_alpha, scale=gamma_beta)
        with a random sign; a fraction ``dom_p`` of QTL (Bernoulli per QTL) also get a
        dominance effect d = u |a|, u ~ U(0, 1) (partial to complete dominance)."""
        if not 0 < h2 <= 1:
            raise ValidationError(f"h2 must be in (0, 1], got {h2!r}")
        if not 0 <= dom_p <= 1:
            raise ValidationError(f"dom_p must be in [0, 1], got {dom_p!r}")
        if not (gamma_alpha > 0 and gamma_beta > 0):
            raise ValidationError(f"gamma_alpha and gamma_beta must be > 0, got {gamma_alpha!r}, {gamma_beta!r}")
        qtl = np.asarray(qtl, dtype=np.int64)
        q = qtl.size
        if q < 1:
            raise ValidationError("a trait needs at least one QTL (n_qtl >= 1)")
        size = rng.gamma(gamma_alpha, gamma_beta, q)
        # Gamma with shape ~0.1 underflows to exactly 0 now and then; keep every QTL real.
        size = np.maximum(size, np.finfo(np.float64).tiny)
        additive = size * rng.choice([-1.0, 1.0], q)
        dominant = rng.random(q) < dom_p
        dominance = np.where(dominant, rng.random(q) * size, 0.0)
        return cls(qtl, additive, dominance, float(h2))

    def with_background(self, loci: np.ndarray, share: float, reference: Population,
                        rng: np.random.Generator) -> Trait:
        """A copy with a polygenic background: N(0, 1) additive effects on ``loci``, scaled so
        that it carries ``share`` of the genetic variance in ``reference`` (the rest stays
        with the QTL; a reference where the QTL do not segregate gets the background alone)."""
        if not 0 <= share < 1:
            raise ValidationError(f"poly_share must be in [0, 1), got {share!r}")
        loci = np.asarray(loci, dtype=np.int64)
        if share == 0 or loci.size == 0:
            return self
        a = rng.standard_normal(loci.size)
        bg = Trait(loci, a, np.zeros(loci.size), self.h2)
        v_major = float(np.var(self.genetic_values(reference))) if len(reference) > 1 else 0.0
        v_bg = float(np.var(bg.genetic_values(reference))) if len(reference) > 1 else 0.0
        if v_bg > 0 and v_major > 0:
            a = a * np.sqrt(share / (1 - share) * v_major / v_bg)
        return replace(self, qtl=np.concatenate([self.qtl, loci]), additive=np.concatenate([self.additive, a]),
                       dominance=np.concatenate([self.dominance, np.zeros(loci.size)]))

    def genetic_values(self, pop: Population) -> np.ndarray:
        """float64 ``[n]`` genetic values of ``pop``'s individuals."""
        if len(pop) * self.qtl.size <= _DENSE_MAX:  # small: a dense dosage matrix is cheaper than the tables
            dos = pop.dosage(self.qtl).astype(np.float64)
            return (dos - 1.0) @ self.additive + (dos == 1.0) @ self.dominance
        h = pop.packed  # [n, 2, W]: additive a (h0 + h1 - 1), dominance d [h0 != h1], by byte tables
        g = bits.weighted_bit_sums(h, self.qtl, self.additive).sum(1) - float(np.sum(self.additive))
        if np.any(self.dominance):
            g = g + bits.weighted_bit_sums(h[:, 0], self.qtl, self.dominance, other=h[:, 1])
        return g

    def calibrate(self, reference: Population) -> Trait:
        """A copy whose ``ve`` gives heritability ``h2`` in ``reference``.

        A reference with no genetic variance (every QTL fixed) keeps ``ve`` = 1 so
        phenotypes remain defined; such a draw simply carries no genetic signal.
        """
        vg = float(np.var(self.genetic_values(reference))) if len(reference) > 1 else 0.0
        ve = vg * (1.0 - self.h2) / self.h2 if vg > 0 else 1.0
        return replace(self, ve=ve)

    def phenotypes(self, pop: Population, rng: np.random.Generator, g: np.ndarray | None = None) -> np.ndarray:
        """float64 ``[n]``: genetic value plus N(0, ve) noise."""
        g = self.genetic_values(pop) if g is None else g
        return g + rng.normal(0.0, np.sqrt(self.ve), g.shape[0])


def family_specific_values(pop: Population, loci: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float64 ``[n]``: each family's own N(0, 1) effects of ``loci`` on the dosages centred
    within the family (a genetic-background interaction: a locus's effect differs between
    the crosses it segregates in, and a locus fixed within a family adds nothing there).
    ``pop.family`` groups the individuals (founders, family -1, are one group)."""
    loci = np.asarray(loci, dtype=np.int64)
    labels, group = np.unique(pop.family, return_inverse=True)
    n_groups = labels.size
    d = pop.dosage(loci).astype(np.float32)  # [n, L]
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    means = np.add.reduceat(d[order], starts, axis=0) / np.bincount(group, minlength=n_groups)[:, None]
    d -= means.astype(np.float32)[group]
    effects = rng.standard_normal((n_groups, loci.size), dtype=np.float32)
    return np.einsum("il,il->i", d, effects[group], dtype=np.float64)
