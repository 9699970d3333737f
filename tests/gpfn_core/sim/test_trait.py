import numpy as np
import pytest

from gpfn_core import GeneticMap, Population, ValidationError
from gpfn_core.sim.trait import Trait


def test_genetic_value_is_additive_plus_dominance():
    gm = GeneticMap(np.zeros(3, int), np.array([0.1, 0.2, 0.3]), np.array([1.0]))
    h = np.array([[[0, 1, 1], [0, 0, 1]]], np.uint8)  # dosages 0, 1, 2
    pop = Population.from_haplotypes(h, gm)
    t = Trait(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.5, 0.7]), h2=0.5)
    assert t.genetic_values(pop)[0] == pytest.approx(-1.0 + 0.5 + 3.0)


def test_calibrate_sets_heritability(rng):
    gm = GeneticMap.uniform(500, 2, 1.0, rng)
    pop = Population.from_haplotypes(rng.integers(0, 2, (3000, 2, 500)).astype(np.uint8), gm)
    t = Trait.sample(np.arange(0, 500, 10), rng, h2=0.4, gamma_alpha=0.3, gamma_beta=2.0, dom_p=0.2).calibrate(pop)
    g = t.genetic_values(pop)
    y = t.phenotypes(pop, rng, g)
    assert np.var(g) / np.var(y) == pytest.approx(0.4, abs=0.04)


@pytest.mark.parametrize("kw,name", [({"h2": 0.0}, "h2"), ({"h2": 1.2}, "h2"), ({"dom_p": -0.1}, "dom_p"),
                                     ({"gamma_alpha": 0.0}, "gamma_alpha")])
def test_bad_trait_parameters_are_named(rng, kw, name):
    args = dict(h2=0.5, gamma_alpha=0.2, gamma_beta=2.0, dom_p=0.1) | kw
    with pytest.raises(ValidationError, match=name):
        Trait.sample(np.arange(5), rng, **args)


@pytest.mark.parametrize("share", [0.3, 0.8])
def test_polygenic_background_carries_its_share_of_the_genetic_variance(rng, share):
    gm = GeneticMap.uniform(3000, 2, 1.0, rng)
    pop = Population.from_haplotypes(rng.integers(0, 2, (2000, 2, 3000)).astype(np.uint8), gm)
    major = Trait.sample(np.arange(0, 30), rng, h2=0.5, gamma_alpha=0.2, gamma_beta=2.0, dom_p=0.0)
    both = major.with_background(np.arange(1000, 3000), share, pop, rng)
    assert both.qtl.size == 30 + 2000
    v_major, v_all = np.var(major.genetic_values(pop)), np.var(both.genetic_values(pop))
    assert 1 - v_major / v_all == pytest.approx(share, abs=0.05)  # the two parts are nearly independent
    assert major.with_background(np.arange(1000, 3000), 0.0, pop, rng) is major
    with pytest.raises(ValidationError, match="poly_share"):
        major.with_background(np.arange(10), 1.0, pop, rng)


def test_genetic_values_by_byte_tables_equal_the_dense_sum(rng, monkeypatch):
    """Large populations sum effects by byte tables (bits.weighted_bit_sums): the same values."""
    import gpfn_core.sim.trait as trait_module

    h = rng.integers(0, 2, (40, 2, 300)).astype(np.uint8)
    pop = Population.from_haplotypes(h, GeneticMap(np.zeros(300, int), np.linspace(0, 1, 300), np.array([1.0])))
    t = Trait.sample(np.sort(rng.choice(300, 120, replace=False)), rng, h2=0.5, gamma_alpha=0.5, gamma_beta=1.0, dom_p=0.5)
    monkeypatch.setattr(trait_module, "_DENSE_MAX", 10**12)
    dense = t.genetic_values(pop)
    monkeypatch.setattr(trait_module, "_DENSE_MAX", 0)
    np.testing.assert_allclose(t.genetic_values(pop), dense, atol=1e-10)


def test_family_specific_values_are_centred_within_families_and_differ_between_them(rng):
    from gpfn_core.sim.trait import family_specific_values

    h = rng.integers(0, 2, (60, 2, 200)).astype(np.uint8)
    h[:20, :, :50] = 1  # family 0 is fixed at the first 50 loci
    family = np.repeat([0, 1, 2], 20)
    gm = GeneticMap(np.zeros(200, int), np.linspace(0, 1, 200), np.array([1.0]))
    pop = Population(Population.from_haplotypes(h, gm).packed, gm, family=family)
    v = family_specific_values(pop, np.arange(200), np.random.default_rng(0))
    for f in range(3):
        assert abs(v[family == f].mean()) < 1e-3 * v.std()
    # loci fixed in a family add nothing there; elsewhere they do
    fixed = family_specific_values(pop, np.arange(50), np.random.default_rng(0))
    np.testing.assert_allclose(fixed[:20], 0.0, atol=1e-5)
    assert np.all(np.abs(fixed[20:]) > 0)
    # the same dosages in two families get unrelated values: the effects are the family's own
    pop2 = Population(Population.from_haplotypes(np.concatenate([h[20:40], h[20:40]]), gm).packed, gm,
                      family=np.repeat([0, 1], 20))
    w = family_specific_values(pop2, np.arange(200), np.random.default_rng(1))
    assert abs(np.corrcoef(w[:20], w[20:])[0, 1]) < 0.6
    np.testing.assert_array_equal(w, family_specific_values(pop2, np.arange(200), np.random.default_rng(1)))
