"""The ``hybrid`` scheme and prior: single crosses between inbred lines of two heterotic pools
(maize, rice, sorghum, sunflower).

One founder population is split in two pools that drift apart for ``pool_divergence``
generations of random mating within each; ``lines_per_pool`` lines of each are inbred by
doubled haploids or by single-seed descent.  A hybrid is the cross of a line of pool A
(its haplotype 0, the ``mother``) and a line of pool B (haplotype 1, the ``father``):
its genotype is the sum of its parents' gametes, as ``gpfn parse`` sees a hybrid panel,
and ``family`` is its pool-A parent.  Parents are indices into the lines, A's first.

Genetic values: general combining ability from the additive effects, specific combining
ability from dominance (``dom_p`` 0.2-0.8 here) and from pool-specific effects (a share
``sca_share`` of the genetic variance: each causal locus's effect differs with the pool
its allele came from).  Training and targets: random crosses (``split`` 0), or the
phenotyped crosses of tested lines predicting crosses with one untested parent (1, "T1")
or with both parents untested (2, "T0"); an untested line is in no training cross.

Registered through its own entry point (``hybrid = "gpfn_plugins.hybrid"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core import BreedingScheme, HyperParam, Population, bits, hookimpl
from gpfn_core.sim import engine as E
from gpfn_core.sim.prior import GenericPrior

SPLIT_RANDOM, SPLIT_ONE_UNTESTED, SPLIT_BOTH_UNTESTED = 0, 1, 2


class Hybrid(BreedingScheme):
    """Single crosses between the inbred lines of two heterotic pools."""

    name = "hybrid"
    description = "single crosses between inbred lines of two heterotic pools (GCA and SCA; tested and untested parents)"
    hyperparameters = (
        HyperParam("pool_size", 100, 300, "int", "individuals per pool while the pools drift apart", minimum=4),
        HyperParam("pool_divergence", 5, 40, "int", "generations of random mating within each pool, apart",
                   minimum=0),
        HyperParam("lines_per_pool", 10, 60, "int", "inbred lines made in each pool", minimum=2),
        HyperParam("doubled_haploids", False, True, "bool", "lines by doubled haploids (else single-seed descent)"),
        HyperParam("selfing_generations", 4, 6, "int", "generations of single-seed descent for selfed lines",
                   minimum=1),
        HyperParam("sca_share", 0.0, 0.3, "float", "share of the genetic variance from pool-specific effects",
                   minimum=0.0, maximum=0.95),
        HyperParam("split", SPLIT_RANDOM, SPLIT_BOTH_UNTESTED, "int", "training and targets: 0 random crosses, "
                   "1 crosses with one untested parent (T1), 2 with both untested (T0)", minimum=0, maximum=2),
        HyperParam("untested_share", 0.2, 0.4, "float", "share of each pool's lines in no phenotyped cross (splits 1 "
                   "and 2)", minimum=0.0, maximum=0.9, open_minimum=True),
        HyperParam("observed_share", 0.3, 0.9, "float", "share of the tested lines' crosses phenotyped (splits 1 and 2)",
                   minimum=0.0, maximum=1.0, open_minimum=True),
    )

    def n_founders(self, **p: Any) -> int:
        return 2 * int(p["pool_size"])

    def forward(self, founders: Population, trait, rng: np.random.Generator, **p: Any):
        n = len(founders)
        pool = np.zeros(n, np.int64)
        pool[rng.permutation(n)[: n // 2]] = 1
        pop = Population(founders.packed, founders.genetic_map, family=pool)
        for _ in range(int(p["pool_divergence"])):  # each pool mates within itself: they drift apart
            pop = E.random_mating(pop, n, rng, groups=pop.family)
        k = int(p["lines_per_pool"])
        pick = [rng.choice(np.flatnonzero(pop.family == g), min(k, int((pop.family == g).sum())), replace=False)
                for g in (0, 1)]
        lines = pop.take(np.concatenate(pick))
        if p["doubled_haploids"]:
            lines = E.doubled_haploids(lines, None, rng)
        else:
            lines = E.single_seed_descent(lines, int(p["selfing_generations"]), rng)
        n_a, n_b = len(pick[0]), len(pick[1])
        pairs = np.stack(np.meshgrid(np.arange(n_a), n_a + np.arange(n_b), indexing="ij"), -1).reshape(-1, 2)
        cap = int(p["pop_size"])
        if p["split"] == SPLIT_RANDOM:
            chosen = pairs[np.sort(rng.permutation(len(pairs))[:cap])]
            hybrids = self._cross(lines, chosen, rng)
            n_train = int(np.clip(round(len(hybrids) * p["train_fraction"]), 1, len(hybrids) - 1))
            return E.split_random(hybrids, n_train, rng)
        untested = np.zeros(n_a + n_b, bool)
        for lo, size in ((0, n_a), (n_a, n_b)):
            u = max(1, min(size - 1, int(round(p["untested_share"] * size))))
            untested[lo + rng.choice(size, u, replace=False)] = True
        new = untested[pairs].sum(1)
        tested = pairs[new == 0]
        targets = pairs[new == (1 if p["split"] == SPLIT_ONE_UNTESTED else 2)]
        n_obs = max(1, int(round(p["observed_share"] * len(tested))))
        train_pairs = tested[np.sort(rng.permutation(len(tested))[:n_obs])]
        n_train = min(len(train_pairs), max(1, round(cap * p["train_fraction"])))
        n_eval = min(len(targets), cap - n_train)
        train_pairs = train_pairs[np.sort(rng.permutation(len(train_pairs))[:n_train])]
        targets = targets[np.sort(rng.permutation(len(targets))[:n_eval])]
        both = self._cross(lines, np.concatenate([train_pairs, targets]), rng)
        return both.take(np.arange(len(train_pairs))), both.take(np.arange(len(train_pairs), len(both)))

    @staticmethod
    def _cross(lines: Population, pairs: np.ndarray, rng: np.random.Generator) -> Population:
        """Hybrids of ``pairs`` (pool-A line, pool-B line): haplotype 0 from A, 1 from B."""
        return E.cross(lines, pairs[:, 0], pairs[:, 1], rng, family=pairs[:, 0])

    def genetic_values(self, pop: Population, trait, g: np.ndarray, n_train: int, rng: np.random.Generator,
                       **p: Any) -> np.ndarray | None:
        """``g`` plus pool-specific effects carrying ``sca_share`` of the genetic variance in the
        training crosses: each causal locus has one N(0, 1) effect of the allele from pool A
        (haplotype 0) and another of the allele from pool B (haplotype 1)."""
        share = float(p["sca_share"])
        qtl = np.asarray(trait.qtl, np.int64)
        if share <= 0 or qtl.size == 0:
            return None
        h = pop.packed
        a_eff, b_eff = rng.standard_normal(qtl.size), rng.standard_normal(qtl.size)
        spec = (bits.weighted_bit_sums(h[:, 0], qtl, a_eff) + bits.weighted_bit_sums(h[:, 1], qtl, b_eff))
        va, vs = float(np.var(g[:n_train])), float(np.var(spec[:n_train]))
        if not (va > 0 and vs > 0):
            return None
        return g + (spec - spec[:n_train].mean()) * np.sqrt(share / (1.0 - share) * va / vs)


class HybridPrior(GenericPrior):
    """The generic prior over :class:`Hybrid`, with dominance on 20-80% of the QTL (SCA)."""

    name = "hybrid"
    description = Hybrid.description
    DEFAULTS = {"dom_p": "0.2:0.8"}

    def __init__(self, seed: int = 0, overrides: dict[str, Any] | None = None, founders: Any = None) -> None:
        super().__init__(Hybrid(), seed=seed, overrides={**self.DEFAULTS, **(overrides or {})}, founders=founders)


@hookimpl
def gpfn_breeding_schemes():
    return [Hybrid]


@hookimpl
def gpfn_priors():
    return [HybridPrior]
