"""The generic prior: samples a breeding scheme's hyperparameters and runs it.

``GenericPrior(scheme).draw(index)``:

1. seeds a generator from ``(seed, index)`` (so draw ``index`` is the same whatever
   worker, process or MPI rank computes it);
2. samples the common hyperparameters (:data:`COMMON_HYPERPARAMETERS`) and the
   scheme's own;
3. takes the scheme's founders from the founder source, picks the SNP panel
   (``n_markers`` loci) and the QTL (``n_qtl`` loci among *all* loci, so QTL need not
   be on the panel), and scales the genetic map by ``recomb_scale``;
4. samples the trait and runs ``scheme.forward``;
5. adds family-specific effects where ``family_share`` > 0 (see below);
6. sets the environmental variance from ``h2`` in the training (reference)
   population, draws phenotypes, and masks unobserved markers (``uo_ratio``).

``family_share`` (default 0, which leaves every draw as it was) is a genetic-background
interaction: each family (as the scheme labels individuals: the cross in nam, silva and
recurrent, the subpopulation in wild) gets its own N(0, 1) effects of every causal locus,
applied to the dosages centred within the family, so loci that segregate in a family
have effects there that no other family shares.  It is scaled to carry that share of
the genetic variance in the training population; the targets' genetic values include
it, so a family never phenotyped has a part no relative in training predicts.  This is
what QTL mapping in NAM populations finds (effects that differ between families).  With
a third to a half of the genetic variance family-specific the prior shows what real
between-family soybean NAM data show (``benchmarks/bench_h2_averaging.py``, README):
GBLUP at a fixed moderate h2 beats REML's point estimate (by 0.006-0.012), and a
leave-one-out choice of h2 falls behind it.  Families of one line each (ril) or one
family in all (wild without splits) leave a draw unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from gpfn_core.errors import ValidationError
from gpfn_core.sim.founders import FounderSource, MsprimeFounders, RandomFounders
from gpfn_core.interfaces import BreedingScheme, HyperParam, Prior, resolve_hyperparameters
from gpfn_core.sim.trait import Trait, family_specific_values
from gpfn_core.types import Draw, Population

_POS = dict(minimum=0.0, open_minimum=True)

COMMON_HYPERPARAMETERS: tuple[HyperParam, ...] = (
    HyperParam("pop_size", 1000, 1000, "int", "individuals per draw, training + evaluation (pop_max_size)", minimum=4),
    HyperParam("train_fraction", 0.5, 0.9, "float", "share of the individuals that are phenotyped (training)",
               minimum=0.0, maximum=1.0, open_minimum=True),
    HyperParam("n_markers", 1000, 36000, "int", "SNP panel size (capped by the segregating loci available)",
               minimum=1, scale="log"),
    HyperParam("n_qtl", 5, 500, "int", "number of QTL, drawn among all loci", minimum=1, scale="log"),
    HyperParam("poly_share", 0.0, 0.98, "float", "share of the genetic variance from a polygenic background "
               "(normal effects on poly_qtl further loci)", minimum=0.0, maximum=0.99, scale="log-complement"),
    HyperParam("poly_qtl", 2000, 2000, "int", "loci of the polygenic background", minimum=1),
    HyperParam("h2", 0.1, 0.9, "float", "narrow-sense heritability in the training population",
               minimum=0.0, maximum=1.0, open_minimum=True),
    HyperParam("dom_p", 0.0, 0.25, "float", "fraction of QTL with a dominance effect", minimum=0.0, maximum=1.0),
    HyperParam("gamma_alpha", 0.1, 0.5, "float", "shape of the Gamma distribution of |additive effects|", **_POS),
    HyperParam("gamma_beta", 1.0, 9.5, "float", "scale of the Gamma distribution of |additive effects|", **_POS),
    HyperParam("recomb_scale", 0.5, 2.5, "float", "genetic map length multiplier (recombination rate)", **_POS),
    HyperParam("uo_ratio", 0.0, 0.0, "float", "fraction of panel markers unobserved (set missing)",
               minimum=0.0, maximum=0.95),
    HyperParam("uo_mask_size", 1, 1, "int", "unobserved markers come in runs of this many neighbours", minimum=1),
    HyperParam("family_share", 0.0, 0.0, "float", "share of the genetic variance from family-specific effects of "
               "the causal loci (genetic-background interaction; off by default)", minimum=0.0, maximum=0.95),
    HyperParam("panel_maf", 0.0, 0.0, "float", "smallest minor-allele frequency, in the founders, of a panel marker "
               "(SNP arrays and filtered GBS panels are ascertained for common variants; 0: the panel is drawn "
               "among all segregating loci)", minimum=0.0, maximum=0.45),
)


def with_family_effects(g: np.ndarray, pop: Population, n_train: int, trait: Trait, share: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """``g`` plus family-specific effects of ``trait``'s loci carrying ``share`` of the genetic
    variance in the first ``n_train`` individuals, and the environmental variance that keeps
    the trait's h2 there.  Fewer than two families (or no variance): ``g`` and ``trait.ve``."""
    if np.unique(pop.family[:n_train]).size < 2:
        return g, trait.ve
    gf = family_specific_values(pop, trait.qtl, rng)
    va, vf = float(np.var(g[:n_train])), float(np.var(gf[:n_train]))
    if not (va > 0 and vf > 0):
        return g, trait.ve
    g = g + gf * np.sqrt(share / (1.0 - share) * va / vf)
    vg = float(np.var(g[:n_train]))
    return g, vg * (1.0 - trait.h2) / trait.h2


def make_founders(kind: str | FounderSource | None) -> FounderSource:
    """``"msprime"`` (default), ``"random"``, or a :class:`FounderSource` instance."""
    if kind is None or kind == "msprime":
        return MsprimeFounders()
    if kind == "random":
        return RandomFounders()
    if isinstance(kind, FounderSource):
        return kind
    raise ValidationError(f"founders must be 'msprime' or 'random', got {kind!r}")


class GenericPrior(Prior):
    """The prior over one breeding scheme's programs (see the module docstring)."""

    def __init__(
        self,
        scheme: BreedingScheme,
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        founders: str | FounderSource | None = None,
    ) -> None:
        clash = {p.name for p in COMMON_HYPERPARAMETERS} & {p.name for p in scheme.hyperparameters}
        if clash:
            raise ValidationError(f"scheme '{scheme.name}' redefines common hyperparameter(s) {sorted(clash)}")
        self.scheme = scheme
        self.name = scheme.name
        self.description = scheme.description
        self.seed = int(seed)
        self.founders = make_founders(founders)
        self._space = resolve_hyperparameters(COMMON_HYPERPARAMETERS + tuple(scheme.hyperparameters), overrides)

    def hyperparameter_space(self) -> tuple[HyperParam, ...]:
        return self._space

    def rng(self, index: int) -> np.random.Generator:
        if int(index) < 0:
            raise ValidationError(f"draw index must be >= 0, got {index}")
        return np.random.default_rng(np.random.SeedSequence([self.seed, int(index)]))

    def sample_params(self, rng: np.random.Generator) -> dict[str, Any]:
        return {p.name: p.sample(rng) for p in self._space}

    def draw(self, index: int, fixed: dict[str, Any] | None = None, truth: dict[str, Any] | None = None) -> Draw:
        """Draw ``index``; ``fixed`` sets hyperparameters for this draw only (after sampling,
        so the other values are the same as without it), e.g. the fit schedule's
        ``pop_size`` and ``train_fraction``.  ``truth``: a dict that receives what lies
        behind the draw's arrays, for benchmarks that breed on from it (``gpfn cross``'s):
        ``population`` (training then evaluation individuals over every simulated locus,
        on the draw's genetic map), ``trait`` (whose ``genetic_values`` of that population
        are the draw's ``g`` where the scheme has no values of its own and there are no
        family effects) and ``panel`` (the columns of the population's loci that are the
        draw's markers)."""
        rng = self.rng(index)
        params = self.sample_params(rng)
        if fixed:
            space = {p.name: p for p in self._space}
            unknown = sorted(set(fixed) - set(space))
            if unknown:
                raise ValidationError(f"unknown hyperparameter(s) {', '.join(unknown)} for prior '{self.name}'")
            params.update({k: space[k].check(v) for k, v in fixed.items()})
        founders = self.founders.sample(int(self.scheme.n_founders(**params)), rng)
        n_loci = founders.n_loci
        panel = panel_loci(founders, params["n_markers"], params["panel_maf"], rng)
        qtl = np.sort(rng.choice(n_loci, min(params["n_qtl"], n_loci), replace=False))
        background = (np.sort(rng.choice(n_loci, min(params["poly_qtl"], n_loci), replace=False))
                      if params["poly_share"] > 0 else np.zeros(0, np.int64))
        loci = np.union1d(np.union1d(panel, qtl), background)
        pop = founders.select_loci(loci)
        pop = pop.with_map(pop.genetic_map.scaled(params["recomb_scale"]))
        trait = Trait.sample(
            np.searchsorted(loci, qtl), rng, h2=params["h2"], gamma_alpha=params["gamma_alpha"],
            gamma_beta=params["gamma_beta"], dom_p=params["dom_p"],
        )
        if background.size:
            trait = trait.with_background(np.searchsorted(loci, background), params["poly_share"], pop, rng)
        trait = trait.calibrate(pop)
        train, ev = self.scheme.forward(pop, trait, rng, **params)
        if len(train) < 1 or len(ev) < 1 or len(train) + len(ev) > params["pop_size"]:
            raise ValidationError(
                f"scheme '{self.name}' returned {len(train)} training and {len(ev)} evaluation individuals; "
                f"each must be >= 1 and together <= pop_size={params['pop_size']}"
            )
        trait = trait.calibrate(train)
        both = Population.concat([train, ev])
        g = trait.genetic_values(both)
        own = self.scheme.genetic_values(both, trait, g, len(train), rng, **params)
        if own is not None:  # the scheme's values (e.g. pool-specific effects): h2 holds on them
            g = np.asarray(own, np.float64)
            vg = float(np.var(g[: len(train)]))
            trait = replace(trait, ve=vg * (1.0 - trait.h2) / trait.h2 if vg > 0 else 1.0)
        if params["family_share"] > 0:
            g, ve = with_family_effects(g, both, len(train), trait, params["family_share"], rng)
            trait = replace(trait, ve=ve)
        y = trait.phenotypes(both, rng, g)
        x = both.dosage(np.searchsorted(loci, panel))
        if truth is not None:
            truth.update(population=both, trait=trait, panel=np.searchsorted(loci, panel),
                         own_values=own is not None or params["family_share"] > 0)
        if params["uo_ratio"] > 0:
            x[:, unobserved_mask(x.shape[1], params["uo_ratio"], params["uo_mask_size"], rng)] = -1
        record = dict(params, n_markers=int(panel.size), n_qtl=int(qtl.size), poly_qtl=int(background.size), scheme=self.name,
                      founders=self.founders.name, genetic_variance=float(np.var(g[: len(train)])),
                      environmental_variance=float(trait.ve))
        return Draw(x=x, y=y.astype(np.float32), n_train=len(train), params=record,
                    g=g.astype(np.float32), index=int(index), seed=self.seed)


def panel_loci(founders: Population, n_markers: int, maf: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n_markers`` panel loci drawn among the founders' loci whose minor-allele
    frequency in the founders is at least ``maf`` (all loci where ``maf`` is 0, with the same
    random numbers as before the floor existed; fewer markers where fewer loci qualify)."""
    n_loci = founders.n_loci
    if maf <= 0:
        return np.sort(rng.choice(n_loci, min(int(n_markers), n_loci), replace=False))
    p = bits_frequency(founders)
    eligible = np.flatnonzero(np.minimum(p, 1.0 - p) >= maf)
    if not eligible.size:
        raise ValidationError(f"no founder locus has a minor-allele frequency >= panel_maf={maf}")
    return np.sort(rng.choice(eligible, min(int(n_markers), eligible.size), replace=False))


def bits_frequency(pop: Population, block: int = 16384) -> np.ndarray:
    """float64 ``[n_loci]``: the frequency of allele 1 in ``pop`` (by blocks of loci)."""
    out = np.empty(pop.n_loci)
    for i in range(0, pop.n_loci, block):
        loci = np.arange(i, min(i + block, pop.n_loci))
        out[loci] = pop.dosage(loci).mean(0, dtype=np.float64) / 2.0
    return out


def unobserved_mask(m: int, ratio: float, run: int, rng: np.random.Generator) -> np.ndarray:
    """bool ``[m]``: about ``ratio * m`` markers hidden, in runs of ``run`` neighbours."""
    n_runs = int(round(ratio * m / run))
    mask = np.zeros(m, bool)
    if n_runs:
        starts = rng.choice(max(m - run + 1, 1), min(n_runs, max(m - run + 1, 1)), replace=False)
        mask[(starts[:, None] + np.arange(run)[None, :]).ravel().clip(0, m - 1)] = True
    return mask
