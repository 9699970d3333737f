"""The outbred and hybrid priors: pedigrees, heterozygosity, hybrid genotypes, untested parents."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from gpfn_cli.main import main
from gpfn_core.registry import get_registry
from gpfn_core.sim.founders import RandomFounders
from gpfn_core.sim.trait import Trait
from gpfn_plugins.hybrid import Hybrid
from gpfn_plugins.outbred import Outbred

COMMON = dict(pop_size=300, train_fraction=0.7)


def founders_and_trait(n, seed=1, loci=800):
    rng = np.random.default_rng(seed)
    f = RandomFounders(n_loci=loci).sample(n, rng)
    t = Trait.sample(np.arange(0, loci, 20), rng, h2=0.5, gamma_alpha=0.3, gamma_beta=1.0, dom_p=0.3).calibrate(f)
    return f, t, rng


@pytest.mark.parametrize("mating", [0, 1, 2])
@pytest.mark.parametrize("selection", [False, True])
def test_outbred_pedigree_is_consistent(mating, selection):
    """Parents precede their offspring, full sibs share both parents, nobody is selfed, and the
    data's individuals carry their pedigree ids."""
    scheme = Outbred()
    f, t, rng = founders_and_trait(120)
    p = dict(COMMON, founder_size=120, generations=4, mating=mating, family_size=6, dams_per_sire=3,
             selection=selection, selected_fraction=0.4, split=0)
    train, ev = scheme.forward(f, t, rng, **p)
    ped = scheme.last_pedigree
    gen_of = dict(zip(ped["id"], ped["generation"]))
    born = ped["mother"] >= 0
    assert (ped["mother"][born] != ped["father"][born]).all()  # no selfing
    assert all(gen_of[m] < g and gen_of[fa] < g for m, fa, g in zip(ped["mother"][born], ped["father"][born],
                                                                    ped["generation"][born]))
    gap = ped["generation"][born] - np.maximum([gen_of[m] for m in ped["mother"][born]],
                                                [gen_of[m] for m in ped["father"][born]])
    assert set(gap) <= {1, 2}  # overlapping generations: parents of the last two cohorts
    for fam in np.unique(ped["family"][born]):
        sel = born & (ped["family"] == fam)
        assert np.unique(ped["mother"][sel]).size == 1 and np.unique(ped["father"][sel]).size == 1
    if mating == 1:  # half-sib groups: some sires have several dams
        sires = ped["father"][born]
        dams_per_sire = [np.unique(ped["mother"][born][sires == s]).size for s in np.unique(sires)]
        assert max(dams_per_sire) > 1
    data = np.concatenate([train.mother, ev.mother])
    assert np.isin(data[data >= 0], ped["id"]).all() and len(train) + len(ev) <= 300


def test_outbred_splits_by_family_and_by_generation():
    f, t, rng = founders_and_trait(100)
    base = dict(COMMON, founder_size=100, generations=3, mating=0, family_size=10, dams_per_sire=3, selection=False,
                selected_fraction=0.5)
    train, ev = Outbred().forward(f, t, np.random.default_rng(2), **base, split=1)
    assert not set(train.family) & set(ev.family)  # whole families
    train, ev = Outbred().forward(f, t, np.random.default_rng(2), **base, split=2)
    assert train.generation.max() < ev.generation.min()  # the older predict the youngest


def test_outbred_heterozygosity_is_in_its_documented_range():
    """On the prior's draws about a quarter to a third of the markers are heterozygous (outbred),
    against nearly none in recombinant inbred lines."""
    reg = get_registry()
    het = [np.mean(reg.make_prior("outbred", seed=4, founders="random", overrides={"n_markers": 600}).draw(i).x == 1)
           for i in range(6)]
    ril = np.mean(reg.make_prior("ril", seed=4, founders="random", overrides={"n_markers": 600}).draw(0).x == 1)
    assert all(0.15 <= h <= 0.45 for h in het), het
    assert ril < 0.05


def test_a_hybrids_dosage_is_the_sum_of_its_parents_gametes():
    """Doubled-haploid lines give each hybrid one gamete each: its dosage is half the sum of its
    parents' (0/2) dosages; its haplotype 0 is its pool-A parent's."""
    f, t, rng = founders_and_trait(200)
    scheme = Hybrid()
    p = dict(COMMON, pool_size=100, pool_divergence=10, lines_per_pool=12, doubled_haploids=True,
             selfing_generations=4, sca_share=0.0, split=0, untested_share=0.3, observed_share=0.6)
    seen = {}

    def cross(lines, pairs, rng_):
        seen["lines"] = lines
        return Hybrid._cross(lines, pairs, rng_)

    scheme._cross = cross
    train, ev = scheme.forward(f, t, rng, **p)
    lines = seen["lines"]
    assert set(np.unique(lines.dosage())) <= {0, 2}  # inbred lines
    for pop in (train, ev):
        expected = (lines.dosage()[pop.mother].astype(int) + lines.dosage()[pop.father].astype(int)) // 2
        np.testing.assert_array_equal(pop.dosage(), expected)
        np.testing.assert_array_equal(pop.haplotypes[:, 0], lines.haplotypes[pop.mother, 0])
        assert (pop.mother < 12).all() and (pop.father >= 12).all()  # pool A x pool B


@pytest.mark.parametrize("split", [1, 2])
def test_untested_parents_are_in_no_training_cross(split):
    f, t, rng = founders_and_trait(200)
    p = dict(COMMON, pool_size=100, pool_divergence=5, lines_per_pool=15, doubled_haploids=False,
             selfing_generations=3, sca_share=0.2, split=split, untested_share=0.3, observed_share=0.7)
    for seed in range(4):
        train, ev = Hybrid().forward(f, t, np.random.default_rng(seed), **p)
        tested = set(train.mother) | set(train.father)
        new = [(m not in tested) + (fa not in tested) for m, fa in zip(ev.mother, ev.father)]
        assert len(ev) > 0 and set(new) == {split}


def test_pool_specific_effects_carry_their_share():
    from gpfn_core.sim.prior import GenericPrior

    prior = GenericPrior(Hybrid(), seed=2, founders="random", overrides={"sca_share": 0.5, "dom_p": 0.0,
                                                                         "n_markers": 500, "pop_size": 200})
    without = GenericPrior(Hybrid(), seed=2, founders="random", overrides={"sca_share": 0.0, "dom_p": 0.0,
                                                                           "n_markers": 500, "pop_size": 200})
    a, b = prior.draw(0), without.draw(0)
    np.testing.assert_array_equal(a.x, b.x)  # the same crosses
    nt = a.n_train
    assert not np.allclose(a.g, b.g) and np.corrcoef(a.g[:nt], b.g[:nt])[0, 1] < 0.9


@pytest.mark.parametrize("name", ["outbred", "hybrid"])
def test_prior_show_and_draw_through_the_cli(name):
    r = CliRunner().invoke(main, ["prior", "show", name, "--founders", "random", "--set", "n_markers=400", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["params"]["scheme"] == name and out["stats"]["individuals"] <= 1000
    assert get_registry().entry("prior", name).plugin == name  # its own entry point, as a third party's
