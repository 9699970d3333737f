"""The breeding simulation engine: meiosis, crosses, selfing, doubled haploids, mating, selection.

Every function is vectorized over individuals and loci (haplotypes are bit-packed,
see :mod:`gpfn_core.bits`); the only Python loops are over generations or
chromosomes.  Randomness comes from a ``numpy.random.Generator`` passed in, so a
draw is reproducible from its seed.

Meiosis follows Haldane's model: each chromosome of a gamete receives
Poisson(L) crossovers (L its length in Morgans) at uniform positions, and the gamete
starts on a random one of the parent's two haplotypes.
"""

from __future__ import annotations

import numpy as np

from gpfn_core import bits
from gpfn_core.errors import ValidationError
from gpfn_core.types import Population


def _indices(pop: Population, idx: np.ndarray, name: str) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= len(pop)):
        raise ValidationError(f"{name} must index the {len(pop)} individuals of the population")
    return idx


def gametes(pop: Population, parents: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One recombinant gamete from each of ``parents``: packed uint64 ``[len(parents), W]``."""
    parents = _indices(pop, parents, "parents")
    k = parents.size
    gm = pop.genetic_map
    m, n_chrom = gm.n_markers, gm.n_chromosomes
    counts = rng.poisson(gm.lengths, size=(k, n_chrom)).ravel()
    gamete_of = np.repeat(np.repeat(np.arange(k), n_chrom), counts)
    chrom_of = np.repeat(np.tile(np.arange(n_chrom), k), counts)
    where = rng.random(counts.sum()) * gm.lengths[chrom_of]
    # Markers at or before the crossover keep the current haplotype; later ones switch.
    # One sorted key over (chromosome, position) finds them in a single searchsorted.
    stride = float(gm.lengths.max()) + 1.0
    marker_key = gm.chrom * stride + gm.pos
    toggle_at = np.searchsorted(marker_key, chrom_of * stride + where, side="right")
    # Each chromosome starts on a random haplotype: a coin-flip toggle at its first
    # marker makes its phase independent of whatever parity the previous one left.
    start = rng.random((k, n_chrom)) < 0.5
    start_gamete, start_chrom = np.nonzero(start)
    mask = bits.crossover_masks(
        k,
        m,
        np.concatenate([gamete_of, start_gamete]),
        np.concatenate([toggle_at, gm.offsets[start_chrom]]),
    )
    h = pop.packed[parents]
    h0, h1 = h[:, 0], h[:, 1]
    return h0 ^ ((h0 ^ h1) & mask)


def cross(
    pop: Population,
    mothers: np.ndarray,
    fathers: np.ndarray,
    rng: np.random.Generator,
    family: np.ndarray | None = None,
) -> Population:
    """Offspring of ``mothers[i] x fathers[i]`` (indices into ``pop``); selfing when equal.

    ``family`` defaults to the mother's family.
    """
    mothers = _indices(pop, mothers, "mothers")
    fathers = _indices(pop, fathers, "fathers")
    if mothers.shape != fathers.shape:
        raise ValidationError(f"mothers and fathers must have the same length, got {mothers.size} and {fathers.size}")
    packed = np.stack([gametes(pop, mothers, rng), gametes(pop, fathers, rng)], axis=1)
    generation = np.maximum(pop.generation[mothers], pop.generation[fathers]) + 1
    fam = pop.family[mothers] if family is None else family
    return Population(packed, pop.genetic_map, mothers, fathers, fam, generation)


def selfing(pop: Population, parents: np.ndarray | None, rng: np.random.Generator) -> Population:
    """Selfed offspring of ``parents`` (every individual once when None)."""
    parents = np.arange(len(pop)) if parents is None else parents
    return cross(pop, parents, parents, rng)


def single_seed_descent(pop: Population, generations: int, rng: np.random.Generator) -> Population:
    """Self every individual ``generations`` times, keeping one seed each time."""
    if generations < 0:
        raise ValidationError(f"generations must be >= 0, got {generations}")
    for _ in range(int(generations)):
        pop = selfing(pop, None, rng)
    return pop


def doubled_haploids(pop: Population, parents: np.ndarray | None, rng: np.random.Generator) -> Population:
    """Fully homozygous lines, one per parent: a gamete whose genome is doubled."""
    parents = np.arange(len(pop)) if parents is None else _indices(pop, parents, "parents")
    g = gametes(pop, parents, rng)
    packed = np.stack([g, g], axis=1)
    return Population(packed, pop.genetic_map, parents, parents, pop.family[parents], pop.generation[parents] + 1)


def random_pairs(
    n: int, n_pairs: int, rng: np.random.Generator, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` random (mother, father) pairs among ``n`` individuals, never selfing
    unless a group has one member.  With ``groups``, both parents come from one group."""
    if n < 1:
        raise ValidationError("random mating needs at least one parent")
    mothers = rng.integers(0, n, n_pairs)
    if groups is None:
        if n == 1:
            return mothers, mothers.copy()
        return mothers, (mothers + 1 + rng.integers(0, n - 1, n_pairs)) % n
    groups = np.asarray(groups)
    order = np.argsort(groups, kind="stable")
    _, first, size = np.unique(groups[order], return_index=True, return_counts=True)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    grp = np.searchsorted(groups[order][first], groups[mothers])
    start, sz = first[grp], size[grp]
    within = rank[mothers] - start
    step = 1 + (rng.random(n_pairs) * np.maximum(sz - 1, 1)).astype(np.int64)
    father_rank = np.where(sz > 1, start + (within + step) % sz, rank[mothers])
    return mothers, order[father_rank]


def random_mating(
    pop: Population, n_offspring: int, rng: np.random.Generator, groups: np.ndarray | None = None
) -> Population:
    """``n_offspring`` offspring of random pairs (within ``groups`` when given)."""
    mothers, fathers = random_pairs(len(pop), int(n_offspring), rng, groups)
    return cross(pop, mothers, fathers, rng)


def truncation_select(values: np.ndarray, fraction: float, groups: np.ndarray | None = None) -> np.ndarray:
    """Indices of the best ``fraction`` of ``values`` (at least two per group when it has two).

    With ``groups``, the best fraction of each group.  Returned in ascending index order.
    """
    if not 0 < fraction <= 1:
        raise ValidationError(f"selection fraction must be in (0, 1], got {fraction}")
    values = np.asarray(values, dtype=np.float64)
    groups = np.zeros(values.size, np.int64) if groups is None else np.asarray(groups)
    order = np.lexsort((-values, groups))
    g_sorted = groups[order]
    _, first, size = np.unique(g_sorted, return_index=True, return_counts=True)
    grp = np.searchsorted(g_sorted[first], g_sorted)
    rank = np.arange(values.size) - first[grp]
    keep = np.maximum(np.ceil(fraction * size), np.minimum(size, 2))[grp]
    return np.sort(order[rank < keep])


def split_random(pop: Population, n_train: int, rng: np.random.Generator) -> tuple[Population, Population]:
    """Split individuals at random into ``n_train`` training and the rest for evaluation."""
    perm = rng.permutation(len(pop))
    return pop.take(np.sort(perm[:n_train])), pop.take(np.sort(perm[n_train:]))


def split_families(pop: Population, train_fraction: float, rng: np.random.Generator) -> tuple[Population, Population]:
    """Split whole families: about ``train_fraction`` of the families go to training."""
    fams = np.unique(pop.family)
    if fams.size < 2:
        raise ValidationError(f"a family split needs at least two families, got {fams.size}")
    n_train = int(np.clip(round(train_fraction * fams.size), 1, fams.size - 1))
    train_fams = rng.permutation(fams)[:n_train]
    is_train = np.isin(pop.family, train_fams)
    return pop.take(np.flatnonzero(is_train)), pop.take(np.flatnonzero(~is_train))


def cap_split(
    train: Population, ev: Population, pop_size: int, train_fraction: float, rng: np.random.Generator
) -> tuple[Population, Population]:
    """Subsample a (train, eval) pair to at most ``pop_size`` individuals, about
    ``train_fraction`` of them training; populations that fit are kept whole."""
    if len(train) + len(ev) <= pop_size:
        return train, ev
    n_train = min(len(train), max(1, round(pop_size * train_fraction)))
    n_eval = min(len(ev), pop_size - n_train)
    n_train = min(len(train), pop_size - n_eval)
    pick = lambda p, k: p.take(np.sort(rng.choice(len(p), k, replace=False)))  # noqa: E731
    return pick(train, n_train), pick(ev, n_eval)
