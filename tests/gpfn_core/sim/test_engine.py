import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpfn_core import GeneticMap, Population
from gpfn_core.sim import engine as E


def random_pop(rng, n=20, m=150, n_chrom=3, length=1.0):
    gm = GeneticMap.uniform(m, n_chrom, length, rng)
    return Population.from_haplotypes(rng.integers(0, 2, (n, 2, m)).astype(np.uint8), gm)


def inbred_pair(m, gm):
    """Two inbred lines differing at every locus."""
    h = np.stack([np.zeros((2, m), np.uint8), np.ones((2, m), np.uint8)])
    return Population.from_haplotypes(h, gm)


@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.integers(1, 300))
def test_every_child_allele_comes_from_its_parents(seed, n, m):
    rng = np.random.default_rng(seed)
    pop = random_pop(rng, n=n, m=m, n_chrom=int(rng.integers(1, 5)), length=float(rng.uniform(0.1, 3)))
    mothers, fathers = rng.integers(0, n, 25), rng.integers(0, n, 25)
    kids = E.cross(pop, mothers, fathers, rng)
    h, c = pop.haplotypes, kids.haplotypes
    for parent, side in ((mothers, 0), (fathers, 1)):
        from_parent = (c[:, side] == h[parent, 0]) | (c[:, side] == h[parent, 1])
        assert from_parent.all()
    np.testing.assert_array_equal(kids.mother, mothers)
    np.testing.assert_array_equal(kids.father, fathers)
    assert (kids.generation == 1).all()


def test_gamete_is_a_mosaic_not_a_copy(rng):
    gm = GeneticMap(np.zeros(500, int), np.linspace(0, 5, 500), np.array([5.0]))
    f1 = E.cross(inbred_pair(500, gm), [0], [1], rng)
    g = f1.take(np.zeros(200, int))
    gam = np.array([E.gametes(g, np.arange(200), rng)]).squeeze()
    from gpfn_core import bits

    alleles = bits.unpack(gam, 500)
    switches = np.abs(np.diff(alleles.astype(int), axis=1)).sum(1)
    assert switches.mean() == pytest.approx(5.0, rel=0.2)  # Poisson(L = 5 Morgans)


@pytest.mark.parametrize("d", [0.01, 0.1, 0.3, 0.8])
def test_recombination_fraction_follows_haldane(rng, d):
    gm = GeneticMap(np.array([0, 0]), np.array([0.1, 0.1 + d]), np.array([1.5]))
    f1 = E.cross(inbred_pair(2, gm), [0], [1], rng)  # coupling phase: 0-0 / 1-1
    n = 20000
    gam = E.gametes(f1, np.zeros(n, int), rng)
    from gpfn_core import bits

    a = bits.unpack(gam, 2)
    r = np.mean(a[:, 0] != a[:, 1])
    expected = (1 - np.exp(-2 * d)) / 2
    se = np.sqrt(expected * (1 - expected) / n)
    assert abs(r - expected) < 4 * se + 1e-3


def test_unlinked_chromosomes_assort_independently(rng):
    gm = GeneticMap(np.array([0, 1]), np.array([0.5, 0.5]), np.array([1.0, 1.0]))
    f1 = E.cross(inbred_pair(2, gm), [0], [1], rng)
    from gpfn_core import bits

    a = bits.unpack(E.gametes(f1, np.zeros(20000, int), rng), 2)
    assert np.mean(a[:, 0] != a[:, 1]) == pytest.approx(0.5, abs=0.02)
    assert a[:, 0].mean() == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("g", [1, 2, 3, 5])
def test_selfing_halves_heterozygosity_each_generation(rng, g):
    gm = GeneticMap.uniform(300, 5, 1.5, rng)
    f1 = E.cross(inbred_pair(300, gm), np.zeros(2000, int), np.ones(2000, int), rng)
    assert f1.heterozygous().all()
    pop = E.single_seed_descent(f1, g, rng)
    het = pop.heterozygous().mean()
    assert het == pytest.approx(0.5**g, abs=0.02)
    assert 1 - het == pytest.approx(1 - 0.5**g, abs=0.02)


def test_doubled_haploids_are_fully_homozygous(rng):
    pop = random_pop(rng, n=50, m=400)
    dh = E.doubled_haploids(pop, None, rng)
    assert not dh.heterozygous().any()
    # ... yet recombinant: not every DH equals one of its parent's haplotypes
    h, d = pop.haplotypes, dh.haplotypes[:, 0]
    copies = (d == h[:, 0]).all(1) | (d == h[:, 1]).all(1)
    assert not copies.all()


def test_random_pairs_respect_groups_and_avoid_selfing(rng):
    groups = np.repeat([3, 1, 7], [5, 1, 10])
    m, f = E.random_pairs(groups.size, 2000, rng, groups)
    assert (groups[m] == groups[f]).all()
    alone = groups[m] == 1
    assert (m[alone] == f[alone]).all()
    assert (m[~alone] != f[~alone]).all()
    m2, f2 = E.random_pairs(10, 500, rng)
    assert (m2 != f2).all()


def test_truncation_select_keeps_the_best_per_group():
    values = np.array([5.0, 1.0, 3.0, 9.0, 2.0, 8.0, 7.0])
    np.testing.assert_array_equal(E.truncation_select(values, 0.3), [3, 5, 6])
    groups = np.array([0, 0, 0, 1, 1, 1, 1])
    chosen = E.truncation_select(values, 0.5, groups)
    np.testing.assert_array_equal(chosen, [0, 2, 3, 5])
    with pytest.raises(ValueError, match="fraction"):
        E.truncation_select(values, 0.0)


def test_split_families_keeps_families_whole(rng):
    pop = random_pop(rng, n=60)
    pop = Population(pop.packed, pop.genetic_map, family=np.repeat(np.arange(6), 10))
    tr, ev = E.split_families(pop, 0.5, rng)
    assert len(tr) + len(ev) == 60
    assert not set(tr.family) & set(ev.family)


def test_cap_split_bounds_size(rng):
    a, b = random_pop(rng, n=40), random_pop(rng, n=40)
    tr, ev = E.cap_split(a, b, 50, 0.6, rng)
    assert (len(tr), len(ev)) == (30, 20)
    tr, ev = E.cap_split(a.take(np.arange(10)), b, 50, 0.6, rng)
    assert (len(tr), len(ev)) == (10, 40)
