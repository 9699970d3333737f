"""The built-in breeding schemes: wild, nam, ril, silva and recurrent.

Each becomes a prior of the same name through the generic prior, which adds the
common hyperparameters (population size, trait, panel, map scale); see
:mod:`gpfn_core.sim.prior`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core import BreedingScheme, HyperParam, Population, hookimpl
from gpfn_core.sim import engine as E
from gpfn_core.errors import ValidationError
from gpfn_core.sim.trait import Trait


def _inbred(founders: Population, rng: np.random.Generator) -> Population:
    """Inbred parental lines, one doubled haploid per founder (as cultivars are)."""
    return E.doubled_haploids(founders, None, rng)


def _families_of(pop: Population, family: np.ndarray) -> Population:
    return Population(pop.packed, pop.genetic_map, pop.mother, pop.father, family, pop.generation)


class Wild(BreedingScheme):
    """Diverse population: forward random mating with random subpopulation splits."""

    name = "wild"
    description = "diverse population: generations of random mating with subpopulation splits and optional selection"
    hyperparameters = (
        HyperParam("founder_size", 500, 1000, "int", "founder individuals (population size per generation)", minimum=2),
        HyperParam("generations", 20, 50, "int", "generations of forward simulation", minimum=0),
        HyperParam("p_split", 0.1, 0.3, "float", "chance per generation that a subpopulation splits in two",
                   minimum=0.0, maximum=1.0),
        HyperParam("selection", False, True, "bool", "phenotypic selection within subpopulations"),
        HyperParam("selected_fraction", 0.2, 0.5, "float", "fraction kept as parents when selecting",
                   minimum=0.0, maximum=1.0, open_minimum=True),
    )

    def n_founders(self, **p: Any) -> int:
        return int(p["founder_size"])

    def forward(self, founders: Population, trait: Trait, rng: np.random.Generator, **p: Any):
        pop, n = founders, len(founders)
        groups = np.zeros(n, np.int64)
        for gen in range(int(p["generations"])):
            if rng.random() < p["p_split"]:
                labels, sizes = np.unique(groups, return_counts=True)
                big = labels[sizes >= 4]
                if big.size:
                    split = rng.choice(big)
                    move = (groups == split) & (rng.random(n) < 0.5)
                    groups = np.where(move, groups.max() + 1, groups)
            parents = np.arange(len(pop))
            if p["selection"]:
                parents = E.truncation_select(trait.phenotypes(pop, rng), p["selected_fraction"], groups)
            size = p["pop_size"] if gen == int(p["generations"]) - 1 else n
            mothers, fathers = E.random_pairs(parents.size, size, rng, groups[parents])
            pop = E.cross(pop, parents[mothers], parents[fathers], rng, family=groups[parents[mothers]])
            groups = pop.family.astype(np.int64)
        pop = pop.take(np.sort(rng.permutation(len(pop))[: p["pop_size"]]))
        return E.split_random(pop, _n_train(len(pop), p["train_fraction"]), rng)


class Nam(BreedingScheme):
    """Nested association mapping: founders x one common parent, F2 families, SSD."""

    name = "nam"
    description = "nested association mapping: founders x a common parent, selfed families, single-seed descent"
    hyperparameters = (
        HyperParam("n_families", 4, 85, "int", "number of families (founders crossed with the common parent)",
                   minimum=2),
        HyperParam("ssd_generations", 2, 5, "int", "generations of single-seed descent after the F2", minimum=0),
    )

    def n_founders(self, **p: Any) -> int:
        return int(p["n_families"]) + 1

    def forward(self, founders: Population, trait: Trait, rng: np.random.Generator, **p: Any):
        n_fam = int(p["n_families"])
        family_size = p["pop_size"] // n_fam
        if family_size < 1:
            raise ValidationError(f"pop_size ({p['pop_size']}) must be >= n_families ({n_fam})")
        lines = _inbred(founders, rng)
        f1 = E.cross(lines, np.arange(1, n_fam + 1), np.zeros(n_fam, np.int64), rng, family=np.arange(n_fam))
        f2 = E.selfing(f1, np.repeat(np.arange(n_fam), family_size), rng)
        pop = E.single_seed_descent(f2, int(p["ssd_generations"]), rng)
        return E.split_families(pop, p["train_fraction"], rng)


class Ril(BreedingScheme):
    """Recombinant inbred lines from two parents."""

    name = "ril"
    description = "recombinant inbred lines: two inbred parents, F1, then single-seed descent"
    hyperparameters = (
        HyperParam("ssd_generations", 4, 8, "int", "generations of single-seed descent after the F1", minimum=1),
    )

    def n_founders(self, **p: Any) -> int:
        return 2

    def forward(self, founders: Population, trait: Trait, rng: np.random.Generator, **p: Any):
        parents = _inbred(founders, rng)
        n = p["pop_size"]
        f1 = E.cross(parents, np.zeros(n, np.int64), np.ones(n, np.int64), rng, family=np.arange(n))
        pop = E.single_seed_descent(f1, int(p["ssd_generations"]), rng)
        return E.split_random(pop, _n_train(n, p["train_fraction"]), rng)


class Silva(BreedingScheme):
    """da Silva et al. (2021) soybean scheme: two recurrent blocks of biparental families."""

    name = "silva"
    description = "da Silva et al. 2021 soybean scheme: two recurrent blocks F1 -> F2 families -> F3 -> F4"
    hyperparameters = (
        HyperParam("n_families", 50, 60, "int", "biparental families per block", minimum=1),
        HyperParam("family_size", 20, 25, "int", "F2 individuals per family", minimum=1),
        HyperParam("selected_fraction", 0.05, 0.1, "float",
                   "fraction of block-one F4s kept (by phenotype) as block-two parents",
                   minimum=0.0, maximum=1.0, open_minimum=True),
    )

    def n_founders(self, **p: Any) -> int:
        return 2 * int(p["n_families"])

    @staticmethod
    def _block(parents: Population, mothers, fathers, family_size: int, rng, family_base: int) -> Population:
        n_fam = len(mothers)
        f1 = E.cross(parents, mothers, fathers, rng, family=family_base + np.arange(n_fam))
        f2 = E.selfing(f1, np.repeat(np.arange(n_fam), family_size), rng)
        return E.single_seed_descent(f2, 2, rng)  # F2 -> F3 -> F4

    def forward(self, founders: Population, trait: Trait, rng: np.random.Generator, **p: Any):
        n_fam, fs = int(p["n_families"]), int(p["family_size"])
        lines = _inbred(founders, rng)
        block1 = self._block(lines, np.arange(0, 2 * n_fam, 2), np.arange(1, 2 * n_fam, 2), fs, rng, 0)
        chosen = E.truncation_select(trait.phenotypes(block1, rng), p["selected_fraction"])
        mothers, fathers = E.random_pairs(chosen.size, n_fam, rng)
        block2 = self._block(block1, chosen[mothers], chosen[fathers], fs, rng, n_fam)
        return E.cap_split(block1, block2, p["pop_size"], p["train_fraction"], rng)


class Recurrent(BreedingScheme):
    """Recurrent phenotypic selection."""

    name = "recurrent"
    description = "recurrent phenotypic selection: train = the last selected generation, eval = its offspring"
    hyperparameters = (
        HyperParam("cycles", 3, 8, "int", "generations of selection", minimum=1),
        HyperParam("intensity", 0.01, 0.01, "float", "fraction selected each generation",
                   minimum=0.0, maximum=1.0, open_minimum=True),
        HyperParam("cycle_size", 1000, 1000, "int", "individuals per generation", minimum=4),
    )

    def n_founders(self, **p: Any) -> int:
        return int(p["cycle_size"])

    def forward(self, founders: Population, trait: Trait, rng: np.random.Generator, **p: Any):
        pop, size = founders, int(p["cycle_size"])

        def next_generation(current: Population) -> Population:
            chosen = E.truncation_select(trait.phenotypes(current, rng), p["intensity"])
            mothers, fathers = E.random_pairs(chosen.size, size, rng)
            return E.cross(current, chosen[mothers], chosen[fathers], rng)

        for _ in range(int(p["cycles"])):
            pop = next_generation(pop)
        return E.cap_split(pop, next_generation(pop), p["pop_size"], p["train_fraction"], rng)


def _n_train(n: int, fraction: float) -> int:
    return int(np.clip(round(n * fraction), 1, n - 1))


@hookimpl
def gpfn_breeding_schemes():
    return [Wild, Nam, Ril, Silva, Recurrent]
