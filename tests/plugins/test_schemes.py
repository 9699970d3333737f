import numpy as np
import pytest

from gpfn_core.registry import get_registry

BUILTINS = ["wild", "nam", "ril", "silva", "recurrent"]


def draw(name, i=0, **over):
    over = {"pop_size": 300, "n_markers": 800} | over
    return get_registry().make_prior(name, seed=11, overrides=over, founders="random").draw(i)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_scheme_draw_shapes(name):
    d = draw(name)
    assert 1 <= d.n_train < d.n <= 300
    assert d.x.dtype == np.int8 and d.x.shape == (d.n, 800)
    assert set(np.unique(d.x)) <= {0, 1, 2}
    assert np.isfinite(d.y).all() and np.isfinite(d.g).all()
    assert d.params["scheme"] == name


def test_builtins_are_registered_through_entry_points():
    reg = get_registry()
    for name in BUILTINS:
        e = reg.entry("scheme", name)
        assert e.distribution == "gpfn" and e.plugin == "schemes"


def run_scheme(name, seed, overrides):
    """Run a scheme's forward directly, to look at its populations' pedigrees."""
    from gpfn_core.sim.trait import Trait

    p = get_registry().make_prior(name, seed=seed, founders="random", overrides=overrides)
    rng = p.rng(0)
    params = p.sample_params(rng)
    founders = p.founders.sample(p.scheme.n_founders(**params), rng)
    trait = Trait.sample(np.arange(20), rng, h2=0.5, gamma_alpha=0.2, gamma_beta=2, dom_p=0).calibrate(founders)
    return params, *p.scheme.forward(founders, trait, rng, **params)


def test_nam_splits_whole_families():
    params, train, ev = run_scheme("nam", 1, {"pop_size": 300, "n_markers": 300})
    assert not set(train.family) & set(ev.family)
    assert len(np.unique(np.concatenate([train.family, ev.family]))) == params["n_families"]
    assert (train.generation == 3 + params["ssd_generations"]).all()  # DH, F1, F2, SSD


@pytest.mark.parametrize("g", [4, 7])
def test_ril_lines_are_nearly_inbred(g):
    d = draw("ril", ssd_generations=g)
    het = (d.x == 1).mean()
    assert het < 0.5**g + 0.02


def test_recurrent_selection_raises_the_genetic_mean():
    gains = []
    for i in range(6):
        d = draw("recurrent", i, h2=0.8, cycles=3, cycle_size=300, train_fraction=0.5)
        gains.append(d.g[d.n_train:].mean() - d.g[: d.n_train].mean())
    assert np.mean(gains) > 0


def test_silva_train_and_eval_are_separate_blocks():
    params, train, ev = run_scheme("silva", 2, {"pop_size": 2000, "n_markers": 300})
    assert train.family.max() < params["n_families"] <= ev.family.min()
    assert (ev.generation > train.generation.max()).all()


def test_wild_subpopulations_split():
    """With a split every generation the population divides into subpopulations that drift
    apart (allele frequencies differ between them more than between random halves); without
    splits it stays one."""
    from gpfn_core.sim.founders import RandomFounders
    from gpfn_core.sim.trait import Trait
    from gpfn_plugins.schemes import Wild

    rng = np.random.default_rng(3)
    founders = RandomFounders(n_loci=600).sample(200, rng)
    trait = Trait.sample(np.arange(20), rng, h2=0.5, gamma_alpha=0.3, gamma_beta=1.0, dom_p=0.0).calibrate(founders)
    params = dict(founder_size=200, generations=12, selection=False, selected_fraction=0.5, pop_size=300,
                  train_fraction=0.7)
    d = draw("wild", p_split=1.0, generations=10, founder_size=200)
    assert d.params["p_split"] == 1.0 and d.n == 300
    pops = {p: Wild().forward(founders, trait, np.random.default_rng(4), p_split=p, **params) for p in (0.0, 1.0)}
    one = np.concatenate([q.family for q in pops[0.0]])
    assert np.unique(one).size == 1
    split = pops[1.0]
    fam = np.concatenate([q.family for q in split])
    dos = np.concatenate([q.dosage() for q in split]).astype(float)
    labels, counts = np.unique(fam, return_counts=True)
    assert labels.size >= 3
    a, b = labels[np.argsort(-counts)[:2]]

    def spread(m1, m2):
        return float(np.mean(np.abs(dos[m1].mean(0) - dos[m2].mean(0))))

    between = spread(fam == a, fam == b)
    mixed = np.random.default_rng(5).permutation(np.flatnonzero((fam == a) | (fam == b)))
    half = mixed.size // 2
    chance = spread(mixed[:half], mixed[half:])
    assert between > 1.5 * chance
