import numpy as np
import pytest

from gpfn_core import ValidationError
from gpfn_core.sim.founders import MsprimeConfig, MsprimeFounders, RandomFounders
from gpfn_core.interfaces import HyperParam
from gpfn_core.sim.prior import GenericPrior
from gpfn_core.registry import get_registry

SMALL = {"pop_size": 200, "n_markers": 500}


def prior(name="nam", seed=0, **over):
    return get_registry().make_prior(name, seed=seed, overrides=SMALL | over, founders="random")


def test_draw_is_deterministic_in_seed_and_index():
    a, b = prior(seed=3).draw(7), prior(seed=3).draw(7)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.params == b.params and a.n_train == b.n_train
    c = prior(seed=3).draw(8)
    d = prior(seed=4).draw(7)
    assert not np.array_equal(a.y[:10], c.y[:10])
    assert not np.array_equal(a.y[:10], d.y[:10])


@pytest.mark.parametrize("name", ["ril", "nam"])
def test_a_draws_truth_is_behind_its_arrays(name):
    """``draw(..., truth=)`` hands out the population, trait and panel the draw's arrays come
    from (what bench_cross.py breeds on), and leaves the draw as it is without it."""
    truth = {}
    d = prior(name, seed=2).draw(5, truth=truth)
    np.testing.assert_array_equal(d.x, prior(name, seed=2).draw(5).x)
    pop = truth["population"]
    assert len(pop) == len(d.x) and not truth["own_values"]
    np.testing.assert_array_equal(pop.dosage(truth["panel"]), d.x)
    np.testing.assert_allclose(truth["trait"].genetic_values(pop), d.g, rtol=1e-5, atol=1e-5)


def test_draw_order_does_not_matter():
    p = prior(seed=1)
    first = [p.draw(i).y for i in range(3)]
    q = prior(seed=1)
    assert np.array_equal(q.draw(2).y, first[2]) and np.array_equal(q.draw(0).y, first[0])


@pytest.mark.parametrize("h2", [0.3, 0.7])
def test_realized_heritability_near_target(h2):
    p = prior("ril", seed=2, h2=h2, n_qtl="20:40")
    ratios = []
    for i in range(30):
        d = p.draw(i)
        tr = slice(0, d.n_train)
        ratios.append(np.var(d.g[tr]) / np.var(d.y[tr]))
    assert np.mean(ratios) == pytest.approx(h2, abs=0.05)


@pytest.mark.parametrize(
    "over,name",
    [({"h2": 0}, "h2"), ({"h2": 1.5}, "h2"), ({"pop_size": -5}, "pop_size"), ({"n_qtl": 0}, "n_qtl"),
     ({"n_families": -1}, "n_families"), ({"recomb_scale": "abc"}, "recomb_scale"), ({"h2": "0.9:0.1"}, "h2")],
)
def test_bad_hyperparameters_rejected_by_name(over, name):
    with pytest.raises(ValidationError, match=name):
        prior("nam", **over)


def test_unknown_hyperparameter_lists_the_known_ones():
    with pytest.raises(ValidationError, match="unknown hyperparameter.*bogus.*n_families"):
        prior("nam", bogus=1)


def test_overrides_fix_and_range():
    p = prior("nam", h2=0.5, n_families="30:31")
    for i in range(5):
        d = p.draw(i)
        assert d.params["h2"] == 0.5 and d.params["n_families"] in (30, 31)


def test_unobserved_markers_are_masked():
    d = prior("ril", uo_ratio=0.2, uo_mask_size=5).draw(0)
    missing = (d.x == -1).all(axis=0)
    assert 0.1 < missing.mean() < 0.25
    assert ((d.x == -1).any(axis=0) == missing).all()  # whole columns


def test_hyperparam_kinds():
    p = HyperParam("flag", False, True, "bool")
    assert p.override("true").low is True and p.override("no").high is False
    with pytest.raises(ValidationError, match="flag"):
        p.check("maybe")
    with pytest.raises(ValidationError, match="k must be a int"):
        HyperParam("k", 1, 5, "int").check(2.5)


def test_hyperparam_scales():
    rng = np.random.default_rng(0)
    log = HyperParam("n_markers", 1000, 36000, "int", scale="log")
    v = np.array([log.sample(rng) for _ in range(4000)])
    assert v.min() >= 1000 and v.max() <= 36000
    # log-uniform: the median is the geometric mean (6,000), far below the uniform's 18,500
    assert 5000 < np.median(v) < 7200
    comp = HyperParam("poly_share", 0.0, 0.98, "float", scale="log-complement")
    s = np.array([comp.sample(rng) for _ in range(4000)])
    assert s.min() >= 0.0 and s.max() <= 0.98
    # 1 - s log-uniform on [0.02, 1]: P(s > 0.9) = log(5) / log(50) = 0.41, uniform would give 0.08
    assert abs(np.mean(s > 0.9) - np.log(5) / np.log(50)) < 0.03
    # a range override keeps the scale, lo:hi:scale changes it; records name non-uniform scales
    assert comp.override("0:0.9").scale == "log-complement"
    uni = comp.override("0:0.9:uniform")
    assert uni.scale == "uniform" and uni.range() == [0.0, 0.9] and comp.range() == [0.0, 0.98, "log-complement"]
    assert abs(np.mean([uni.sample(rng) for _ in range(2000)]) - 0.45) < 0.03
    assert "log-complement" in comp.describe()


@pytest.mark.parametrize("param,value,match", [
    (HyperParam("n_markers", 1000, 36000, "int", minimum=1, scale="log"), "0:100", "n_markers must be in"),
    (HyperParam("n_markers", 1000, 36000, "int", minimum=0, scale="log"), "0:100", "0:100:uniform"),
    (HyperParam("poly_share", 0.0, 0.98, "float", scale="log-complement"), "0:1", "float range below 1"),
    (HyperParam("poly_share", 0.0, 0.98, "float"), "0:0.5:cubic", "scale must be one of"),
    (HyperParam("poly_share", 0.0, 0.98, "float"), "0:0.5:log:x", "lo:hi or lo:hi:scale"),
])
def test_hyperparam_scale_errors(param, value, match):
    with pytest.raises(ValidationError, match=match):
        param.override(value)


def test_prior_default_architectures_reach_polygenic_and_sparse():
    """The default traits span sparse to nearly infinitesimal (issue 17): many draws have
    most of the genetic variance in the polygenic background, some have almost none."""
    p = prior("nam")
    rng = np.random.default_rng(1)
    share = np.array([p.sample_params(rng)["poly_share"] for _ in range(500)])
    assert np.mean(share > 0.9) > 0.3 and np.mean(share < 0.5) > 0.1


def test_msprime_founder_pool_is_cached_and_deterministic(tmp_path):
    cfg = MsprimeConfig(n_individuals=60, n_chromosomes=2, sequence_length=2e6, ne_recent=200, ne_ancient=1000,
                        mutation_rate=2e-8)
    a = MsprimeFounders(pool_size=2, seed=5, config=cfg, cache=tmp_path)
    m0, m1 = a.member(0), a.member(1)  # member 1 is structured
    assert m0.n_loci > 100 and m1.n_loci > 100
    assert len(list(tmp_path.glob("founders-*.npz"))) == 2
    b = MsprimeFounders(pool_size=2, seed=5, config=cfg, cache=tmp_path)
    np.testing.assert_array_equal(b.member(0).packed, m0.packed)  # loaded from the cache
    d = m0.dosage().astype(float)
    f = d.mean(0) / 2
    assert (np.minimum(f, 1 - f) >= cfg.min_maf - 1e-9).all()
    # Linkage: neighbouring markers are more correlated than markers on different chromosomes.
    c = m0.genetic_map.chrom
    i = np.flatnonzero(c == 0)[:50]
    j = np.flatnonzero(c == 1)[:50]
    near = np.nanmean([np.corrcoef(d[:, k], d[:, k + 1])[0, 1] ** 2 for k in i])
    far = np.nanmean([np.corrcoef(d[:, k], d[:, ll])[0, 1] ** 2 for k, ll in zip(i, j)])
    assert near > 2 * far
    p = GenericPrior(get_registry().get("scheme", "nam")(), seed=1, founders=a,
                     overrides={"pop_size": 100, "n_families": "5:10", "n_markers": 200})
    assert p.draw(0).x.shape[1] <= 200


def test_too_many_founders_is_a_clear_error(tmp_path):
    cfg = MsprimeConfig(n_individuals=20, n_chromosomes=1, sequence_length=1e6, mutation_rate=2e-8)
    src = MsprimeFounders(pool_size=1, config=cfg, cache=tmp_path)
    p = GenericPrior(get_registry().get("scheme", "nam")(), founders=src, overrides={"n_families": 40})
    with pytest.raises(ValidationError, match="founder pool"):
        p.draw(0)


def test_random_founders_shape(rng):
    pop = RandomFounders(n_loci=300, n_chromosomes=2).sample(7, rng)
    assert pop.haplotypes.shape == (7, 2, 300)


@pytest.mark.parametrize("share", [0.3, 0.6])
def test_family_share_adds_family_specific_variance_and_keeps_h2(share):
    base, fam = prior(seed=5, n_families="6:8").draw(3), prior(seed=5, n_families="6:8", family_share=share).draw(3)
    assert base.params["family_share"] == 0.0 and fam.params["family_share"] == pytest.approx(share)
    np.testing.assert_array_equal(base.x, fam.x)  # same population: only the trait changes
    tr = slice(0, base.n_train)
    extra = fam.g.astype(np.float64) - base.g
    # the family part carries `share` of the genetic variance next to the additive part's
    assert np.var(extra[tr]) / np.var(base.g[tr].astype(np.float64)) == pytest.approx(share / (1 - share), rel=1e-3)
    # the environmental variance keeps the draw's h2 in the training population
    h2 = fam.params["h2"]
    assert fam.params["environmental_variance"] == pytest.approx(np.var(fam.g[tr].astype(np.float64)) * (1 - h2) / h2,
                                                                rel=1e-3)
    # the targets (other families) have family parts too
    assert np.var(extra[base.n_train:]) > 0


def test_family_share_leaves_a_population_of_one_family_unchanged():
    # wild labels individuals by subpopulation; with no splits there is one
    a, b = prior("wild", seed=2, p_split=0.0).draw(1), prior("wild", seed=2, p_split=0.0, family_share=0.5).draw(1)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.g, b.g)
    with pytest.raises(ValidationError, match="family_share"):
        prior(family_share=1.0)


def test_gpfn_prior_draw_writes_a_population_that_evaluate_scores_against_the_truth(tmp_path):
    import json

    from click.testing import CliRunner

    from gpfn_cli.main import main
    from gpfn_core.data.dataset import read_dataset

    out = tmp_path / "draw"
    args = ["prior", "draw", "outbred", "-o", str(out), "--seed", "3", "--founders", "random", "--set", "n_markers=400"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    info = json.loads((out / "draw.json").read_text())
    tr, tg = read_dataset(out / "train.gpfn"), read_dataset(out / "target.gpfn")
    assert tr.table.n_taxa == info["train"] and tg.table.n_taxa == info["target"] and tr.table.n_markers == 400
    d = get_registry().make_prior("outbred", seed=3, founders="random", overrides={"n_markers": 400}).draw(0)
    np.testing.assert_array_equal(tr.table.dosage, d.x[:d.n_train])
    np.testing.assert_allclose(tg.phenotype("genetic_value"), d.g[d.n_train:], rtol=1e-6)
    assert info["params"] == json.loads(json.dumps(d.params, default=float))
    r = CliRunner().invoke(main, args)  # an existing folder is kept unless --force
    assert r.exit_code == 1 and "already exists" in r.output
    r = CliRunner().invoke(main, ["evaluate", "--train", str(out / "train.gpfn"), "--target", str(out / "target.gpfn"),
                                  "--methods", "gblup", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output[r.output.index("{"):])["summary"]["GBLUP"]["pearson"] > 0.2
    assert [p.name for p in tmp_path.iterdir()] == ["draw"]  # no temporary left


def test_an_ascertained_panel_holds_only_common_founder_variants():
    """``panel_maf``: panel markers are drawn among loci of at least that minor-allele frequency in
    the founders (a SNP array's ascertainment); 0 keeps the draws exactly as they were."""
    from gpfn_core.sim.prior import bits_frequency, panel_loci

    founders = RandomFounders(n_loci=3000).sample(40, np.random.default_rng(0))
    p = bits_frequency(founders)
    np.testing.assert_allclose(p, founders.dosage().mean(0) / 2)
    panel = panel_loci(founders, 800, 0.2, np.random.default_rng(1))
    assert panel.size == 800 and np.all(np.diff(panel) > 0) and np.minimum(p, 1 - p)[panel].min() >= 0.2
    few = panel_loci(founders, 10**6, 0.3, np.random.default_rng(1))  # fewer qualify than asked for: all of them
    assert few.size == int((np.minimum(p, 1 - p) >= 0.3).sum())
    from gpfn_core.types import GeneticMap, Population

    haps = np.zeros((20, 2, 50), np.uint8)
    haps[0, 0] = 1  # every locus at frequency 1/40
    rare = Population.from_haplotypes(haps, GeneticMap.uniform(50, 1, 1.0, np.random.default_rng(0)))
    with pytest.raises(ValidationError, match="panel_maf=0.05"):
        panel_loci(rare, 10, 0.05, np.random.default_rng(1))
    plain, zero = prior(seed=2).draw(3), prior(seed=2, panel_maf=0.0).draw(3)
    np.testing.assert_array_equal(plain.x, zero.x)
    common = prior(seed=2, panel_maf=0.2).draw(3)
    het = lambda d: float((d.x == 1).mean())  # noqa: E731
    q = common.x.mean(0) / 2
    assert np.minimum(q, 1 - q).mean() > np.minimum(plain.x.mean(0) / 2, 1 - plain.x.mean(0) / 2).mean()
    assert het(common) >= het(plain) - 0.01
