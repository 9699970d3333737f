"""The ``outbred`` scheme and prior: full-sib and half-sib families of an outbred, pedigreed
population over overlapping generations (animals, aquaculture, forest trees, fruit crops,
forage grasses).

Founders are unrelated, heterozygous individuals of the coalescent pool.  Each generation
is bred from the parents of the last two (overlapping generations; by phenotype where
``selection`` is on) under the population's mating scheme: full-sib families of random
pairs, half-sib groups (a sire mated to several dams, each dam's offspring a full-sib
family), or both.  The data are the last two generations; training and targets split by
random individuals, by whole full-sib families, or by generation (the older animals with
records predict the youngest).  Every individual carries its global pedigree: ``mother``
and ``father`` are ids of the whole program's individuals (-1 for founders), ``family`` its
full-sib family, ``generation`` its birth cohort (founders 0); :attr:`Outbred.last_pedigree` holds the
whole table of the last program run.

Registered through its own entry point (``outbred = "gpfn_plugins.outbred"``), as a third
party's scheme would be.  The prior is the generic prior over the scheme with dominance
on up to half the QTL (``dom_p`` 0-0.5: heterozygotes are common here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core import BreedingScheme, HyperParam, Population, hookimpl
from gpfn_core.sim import engine as E
from gpfn_core.sim.prior import GenericPrior

FULL_SIB, HALF_SIB, MIXED = 0, 1, 2
SPLIT_RANDOM, SPLIT_FAMILY, SPLIT_GENERATION = 0, 1, 2


class Outbred(BreedingScheme):
    """Outbred full-sib and half-sib families over overlapping generations."""

    name = "outbred"
    description = "outbred pedigreed families (full-sib, half-sib or both) over overlapping generations"
    hyperparameters = (
        HyperParam("founder_size", 50, 400, "int", "unrelated heterozygous founders", minimum=4, scale="log"),
        HyperParam("generations", 2, 6, "int", "generations of mating after the founders", minimum=1),
        HyperParam("mating", FULL_SIB, MIXED, "int", "mating scheme: 0 full-sib families of random pairs, "
                   "1 half-sib groups (a sire x dams_per_sire dams), 2 half of the families each", minimum=0, maximum=2),
        HyperParam("family_size", 4, 30, "int", "offspring per full-sib family", minimum=1, scale="log"),
        HyperParam("dams_per_sire", 2, 10, "int", "dams mated to each sire in half-sib mating", minimum=1),
        HyperParam("selection", False, True, "bool", "parents chosen by phenotype (truncation) instead of at random"),
        HyperParam("selected_fraction", 0.2, 0.6, "float", "share of the candidates kept as parents when selecting",
                   minimum=0.0, maximum=1.0, open_minimum=True),
        HyperParam("split", SPLIT_RANDOM, SPLIT_GENERATION, "int", "training and targets: 0 random individuals, "
                   "1 whole full-sib families, 2 by generation (the youngest are the targets)", minimum=0, maximum=2),
    )

    def __init__(self) -> None:
        self.last_pedigree: dict[str, np.ndarray] = {}

    def n_founders(self, **p: Any) -> int:
        return int(p["founder_size"])

    def forward(self, founders: Population, trait, rng: np.random.Generator, **p: Any):
        size = max(2, int(p["pop_size"]) // 2)  # each generation; the data are the last two
        ids = np.arange(len(founders))
        founders = Population(founders.packed, founders.genetic_map, np.full(len(ids), -1), np.full(len(ids), -1),
                              np.full(len(ids), -1), np.zeros(len(ids)))
        gens, gen_ids, table = [founders], [ids], [_rows(ids, founders)]
        next_id, next_family = len(ids), 0
        for cohort in range(1, int(p["generations"]) + 1):
            pool = Population.concat(gens[-2:])
            pool_ids = np.concatenate(gen_ids[-2:])
            parents = np.arange(len(pool))
            if p["selection"]:
                parents = E.truncation_select(trait.phenotypes(pool, rng), p["selected_fraction"])
            mothers, fathers, family = _matings(parents, size, int(p["family_size"]), int(p["mating"]),
                                                int(p["dams_per_sire"]), rng)
            child = E.cross(pool, mothers, fathers, rng, family=family + next_family)
            child_ids = next_id + np.arange(len(child))
            # the pedigree in the program's own ids (cross records indices into the pool)
            child = Population(child.packed, child.genetic_map, pool_ids[child.mother], pool_ids[child.father],
                               child.family, np.full(len(child), cohort))  # generation: the birth cohort
            next_id, next_family = next_id + len(child), next_family + int(family.max()) + 1
            gens.append(child)
            gen_ids.append(child_ids)
            table.append(_rows(child_ids, child))
        self.last_pedigree = {k: np.concatenate([t[k] for t in table]) for k in table[0]}
        older, youngest = gens[-2], gens[-1]
        if p["split"] == SPLIT_GENERATION:
            train, ev = older, youngest
        else:
            both = Population.concat([older, youngest])
            if p["split"] == SPLIT_FAMILY and np.unique(both.family).size >= 2:
                train, ev = E.split_families(both, p["train_fraction"], rng)
            else:
                n_train = int(np.clip(round(len(both) * p["train_fraction"]), 1, len(both) - 1))
                train, ev = E.split_random(both, n_train, rng)
        return E.cap_split(train, ev, int(p["pop_size"]), p["train_fraction"], rng)


def _rows(ids: np.ndarray, pop: Population) -> dict[str, np.ndarray]:
    return {"id": ids, "mother": pop.mother.astype(np.int64), "father": pop.father.astype(np.int64),
            "generation": pop.generation.astype(np.int64), "family": pop.family.astype(np.int64)}


def _matings(parents: np.ndarray, size: int, family_size: int, mating: int, dams_per_sire: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mothers, fathers (indices into the pool) and full-sib family (0..) of ``size`` offspring."""
    n_fam = max(1, int(np.ceil(size / family_size)))
    n_half = {FULL_SIB: 0, HALF_SIB: n_fam, MIXED: n_fam // 2}[mating]
    n_full = n_fam - n_half
    dams, sires = np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n_full:  # random pairs, never selfed
        m, f = E.random_pairs(parents.size, n_full, rng)
        dams, sires = np.r_[dams, parents[m]], np.r_[sires, parents[f]]
    if n_half:  # sires each mated to dams_per_sire dams
        n_sires = max(1, int(np.ceil(n_half / dams_per_sire)))
        chosen = rng.choice(parents, min(n_sires, parents.size), replace=False)
        sire_of = np.resize(chosen, n_half)
        dam_pool = np.setdiff1d(parents, chosen) if parents.size > chosen.size else parents
        dam_of = rng.choice(dam_pool, n_half, replace=dam_pool.size < n_half)
        same = dam_of == sire_of  # a dam drawn from the sires where there are no others: another parent
        dam_of[same] = parents[(np.searchsorted(parents, dam_of[same]) + 1) % parents.size]
        dams, sires = np.r_[dams, dam_of], np.r_[sires, sire_of]
    family = np.repeat(np.arange(n_fam), family_size)[:size]
    return dams[family], sires[family], family


class OutbredPrior(GenericPrior):
    """The generic prior over :class:`Outbred`, with dominance on up to half the QTL."""

    name = "outbred"
    description = Outbred.description
    DEFAULTS = {"dom_p": "0:0.5"}

    def __init__(self, seed: int = 0, overrides: dict[str, Any] | None = None, founders: Any = None) -> None:
        super().__init__(Outbred(), seed=seed, overrides={**self.DEFAULTS, **(overrides or {})}, founders=founders)


@hookimpl
def gpfn_breeding_schemes():
    return [Outbred]


@hookimpl
def gpfn_priors():
    return [OutbredPrior]
