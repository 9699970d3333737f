"""The one preprocessing path, shared by training (prior draws) and prediction (user data).

1. :class:`~gpfn_core.data.encoding.Encoding` and
   :class:`~gpfn_core.data.encoding.Standardizer`, fitted on the training individuals:
   minor-allele counts centred by the training mean (missing calls imputed with it), and
   the phenotypes standardised by the training mean and sd.
2. A :class:`~gpfn_core.interfaces.FeatureSelector` fitted on the encoded training
   individuals (and standardised phenotypes), applied to training and target alike.
3. Smoother features (``smoothers``, preprocessing version 2): closed-form predictions
   from *all* markers and *all* training phenotypes, appended after the selector's
   columns: ``gblup`` (GBLUP at a fixed grid of h2, leave-one-out for training rows)
   ``sparse`` (the same with a marker-weighted kernel, cross-fitted), each adding
   ``2 * len(H2_GRID)`` columns (G means, then G sds), and ``bma`` (the ``gblup``
   columns averaged over h2 by marginal likelihood, their sd, and the G posterior
   weights: ``2 + len(H2_GRID)`` columns); see :mod:`gpfn_core.linear`.  With a kinship
   (``gblup`` or ``bma``) it also keeps the closed-form predictions of the targets
   (:attr:`Prepared.anchors`, :data:`STACK_ANCHORS`: the h2-averaged GBLUP, the
   smoother columns weighed by their leave-one-out fit, GBLUP with a within-family kernel and
   large marker effects from single-effect regressions plus that family GBLUP of the rest),
   which :mod:`gpfn_core.net.stacking` blends the network's mean with.

:func:`prepare` runs them all; :func:`preprocess_draw` applies it to a prior draw.
The original GPFN re-encoded alleles to major/minor only during training; here there
is no other path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpfn_core.data.encoding import Encoding, Standardizer
from gpfn_core.errors import ValidationError
from gpfn_core.interfaces import FeatureSelector
from gpfn_core.linear.bayes import short_chain
from gpfn_core.linear.family import FamilyModel, family_gblup
from gpfn_core.linear.kinship import Kinship
from gpfn_core.linear.qtl import qtl_family_gblup
from gpfn_core.linear.smoothers import (
    BMA_WIDTH,
    H2_GRID,
    GblupGrid,
    bma_features,
    bma_mean,
)
from gpfn_core.linear.sparse import sparse_smoother_features
from gpfn_core.types import Draw

PREPROCESSING_VERSION = 2
SMOOTHERS = ("gblup", "sparse", "bma")
# Prepared.anchors' columns: GBLUP averaged over h2 by marginal likelihood (linear.smoothers.bma_mean), the
# smoother mean columns weighed by how well their leave-one-out values fit the training phenotypes
# (pseudo-BMA+, loo_choice), GBLUP with a within-family kernel averaged over (h2, family share) by
# marginal likelihood (linear.family.family_gblup), and
# large marker effects from Bayesian single-effect regressions plus family GBLUP of the rest
# (linear.qtl.qtl_family_gblup), and BayesB's posterior mean from a short seeded chain (linear.bayes.short_chain)
STACK_ANCHORS = ("gblup_bma", "loo_choice", "gblup_family", "gblup_qtl", "bayesb")
# training-set sizes from which a stacking tries an anchor (its weight is 0 up to that size and grows
# from there to the first fitted size that tried it, net.stacking.Stack.at): BayesB's marker-specific
# shrinkage pays only with thousands of lines (on the `nam` prior a stacking fitted at 27-986 lines
# weighed it 0-0.05; docs/design-record.md), and its chain would cost every smaller fit for nothing
ANCHOR_FROM = {"bayesb": 2000}


def anchors_at(n_train: int) -> tuple[str, ...]:
    """The :data:`STACK_ANCHORS` a stacking fitted at ``n_train`` training individuals tries
    (:data:`ANCHOR_FROM`)."""
    return tuple(a for a in STACK_ANCHORS if n_train >= ANCHOR_FROM.get(a, 0))


@dataclass
class Prepared:
    """Features of training and target individuals and the phenotype scale."""

    train: np.ndarray  # float32 [n_train, F]
    target: np.ndarray  # float32 [n_target, F]
    y_train: np.ndarray  # float32 [n_train], standardised
    scale: Standardizer
    encoding: Encoding
    # float64 [n_target, len(STACK_ANCHORS)], standardised: the closed-form predictions
    # gpfn_core.net.stacking blends the network's mean with; None without a kinship (no gblup/bma smoother)
    anchors: np.ndarray | None = None


def parse_smoothers(spec: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``"gblup,sparse"`` (or a sequence) -> ``("gblup", "sparse")``, checked; ``""``/None: none."""
    names = tuple(n.strip() for n in (spec.split(",") if isinstance(spec, str) else (spec or ())) if n.strip())
    bad = [n for n in names if n not in SMOOTHERS]
    if bad or len(set(names)) != len(names):
        raise ValidationError(f"smoothers must be distinct names among {', '.join(SMOOTHERS)}, got {spec!r}")
    return names


def smoother_width(spec) -> int:
    """Number of columns the smoothers ``spec`` append to the selector's features."""
    return sum(_layout()[n][0] for n in parse_smoothers(spec))


def smoother_mean_columns(spec) -> list[int]:
    """Positions, within the smoothers' columns, of the ones that are point predictions
    (the means; the others are sds or, for ``bma``, the h2 weights)."""
    cols, at = [], 0
    for n in parse_smoothers(spec):
        width, means = _layout()[n]
        cols += [at + j for j in means]
        at += width
    return cols


def _layout() -> dict[str, tuple[int, tuple[int, ...]]]:
    """Each smoother's column count and which of its columns are means."""
    grid = (2 * len(H2_GRID), tuple(range(len(H2_GRID))))  # G means, then G sds
    return {"gblup": grid, "sparse": grid, "bma": (BMA_WIDTH, (0,))}


@dataclass
class Genotypes:
    """The trait-independent part of preprocessing one training and target population: the
    encoding, the encoded genotypes, the one decomposition of the training relationships, the
    targets' coordinates in it, and (made when first asked for) the GBLUP grid's
    phenotype-free products and the family kernels' decompositions.  Several traits
    phenotyped on the same individuals share it (``gpfn predict --phenotype all``);
    :func:`prepare` makes one when not given one."""

    encoding: Encoding
    x_train: np.ndarray
    x_target: np.ndarray
    kinship: Kinship | None = None
    coordinates: np.ndarray | None = None
    cross: np.ndarray | None = None  # float32 [n_target, n_train]: x_v x_t^T, where formed
    _family: FamilyModel | None = None
    _grid: GblupGrid | None = None

    @classmethod
    def of(cls, dosage_train: np.ndarray, dosage_target: np.ndarray, kinship: bool) -> Genotypes:
        enc = Encoding.fit(dosage_train)
        g = cls(enc, enc.transform(dosage_train), enc.transform(dosage_target))
        if kinship:  # one decomposition of x x^T, for the smoothers, the anchors and a selector that wants it (pca)
            g.kinship = Kinship.of(g.x_train, keep=True)  # x x^T kept for the family kernels
            # the targets' x_v x_t^T u, and x_v x_t^T itself where formed (for the family kernels too)
            g.coordinates, g.cross = g.kinship.products(g.x_train, g.x_target)
        return g

    def for_targets(self, dosage_target: np.ndarray) -> Genotypes:
        """The :class:`Genotypes` of other targets against the same training individuals: the
        encoding, the decomposition and (where made) the GBLUP grid's and the family kernels'
        training-side parts are shared, so only the targets' own products are computed.
        Predictions of targets do not depend on the other targets, so predicting them a chunk
        at a time this way gives what predicting them all at once gives."""
        x_target = self.encoding.transform(dosage_target)
        g = Genotypes(self.encoding, self.x_train, x_target, self.kinship)
        if self.kinship is not None:
            g.coordinates, g.cross = self.kinship.products(self.x_train, x_target)
            if self._grid is not None:
                g._grid = self._grid.for_targets(self.kinship, self.x_train, x_target, g.coordinates)
            if self._family is not None:
                g._family = self._family.for_targets(self.kinship, g.coordinates, x_target, g.cross)
        return g

    @classmethod
    def for_smoothers(cls, dosage_train: np.ndarray, dosage_target: np.ndarray,
                      smoothers: str | tuple[str, ...] | list[str] | None) -> Genotypes:
        """:meth:`of`, with the relationships decomposed where the smoothers ``smoothers`` use
        them (``gblup`` or ``bma``): what :func:`prepare` makes when not given one."""
        return cls.of(dosage_train, dosage_target, bool({"gblup", "bma"} & set(parse_smoothers(smoothers))))

    @property
    def grid(self) -> GblupGrid:
        """:class:`~gpfn_core.linear.smoothers.GblupGrid` on the kinship (the ``gblup`` smoother's
        columns, and the QTL anchor's GBLUP of what its marker effects leave)."""
        if self._grid is None:
            self._grid = GblupGrid(self.x_train, self.x_target, H2_GRID, self.kinship, self.coordinates)
        return self._grid

    @property
    def family(self) -> FamilyModel:
        if self._family is None:
            self._family = FamilyModel(self.kinship, self.coordinates, self.x_target, self.cross)
        return self._family


def prepare(
    dosage_train: np.ndarray, y_train: np.ndarray, dosage_target: np.ndarray, selector: FeatureSelector,
    smoothers: str | tuple[str, ...] = (), anchors: bool | tuple[str, ...] = True, genotypes: Genotypes | None = None,
) -> Prepared:
    """Encode, standardise, select features and append the smoothers' columns; every
    statistic comes from the training rows.  ``anchors``: the stacking anchors to compute
    (names of :data:`STACK_ANCHORS`; True: all, False: none, as a training draw needs
    none); a column not asked for is zero (its stacking weight is zero).  ``genotypes``: the
    :class:`Genotypes` of these dosages when the caller has them (another trait of the same
    individuals); the dosages are then not read again."""
    if len(y_train) != len(dosage_train):
        raise ValidationError(f"{len(dosage_train)} training genotypes but {len(y_train)} phenotypes")
    names = parse_smoothers(smoothers)
    scale = Standardizer.fit(y_train)
    z = scale.transform(y_train)
    if genotypes is None:
        genotypes = Genotypes.for_smoothers(dosage_train, dosage_target, names)
    enc, x_train, x_target = genotypes.encoding, genotypes.x_train, genotypes.x_target
    kinship, coords, features = genotypes.kinship, genotypes.coordinates, None
    if kinship is not None:
        selector.fit_kinship(x_train, z, kinship)
        features = selector.transform_kinship(kinship, coords)
    else:
        selector.fit(x_train, z)
    if features is None:
        features = selector.transform(x_train), selector.transform(x_target)
    f_train, f_target = (np.asarray(f, dtype=np.float32) for f in features)
    for name, f in (("training", f_train), ("target", f_target)):
        if f.shape[1] != selector.n_features or not np.isfinite(f).all():
            raise ValidationError(
                f"feature selector '{selector.name}' returned {name} features of shape {f.shape} "
                f"(expected {selector.n_features} finite columns)"
            )
    wanted = set(STACK_ANCHORS) if anchors is True else set(anchors or ())
    anchors = None
    if names:
        # the gblup columns, once, for `gblup` and for `bma` (which averages them); kinship is set for either
        grid = genotypes.grid.features(z) if kinship is not None else None
        fns = {"gblup": lambda: grid, "sparse": lambda: sparse_smoother_features(x_train, z, x_target),
               "bma": lambda: bma_features(*grid, kinship, z)}
        cols = [fns[n]() for n in names]
        f_train = np.concatenate([f_train, *(c[0] for c in cols)], axis=1)
        f_target = np.concatenate([f_target, *(c[1] for c in cols)], axis=1)
        if grid is not None and wanted:
            make = {"gblup_bma": lambda: bma_mean(grid[1], kinship, z),
                    "loo_choice": lambda: loo_choice(f_train, z, f_target, selector.n_features, names),
                    "gblup_family": lambda: family_gblup(kinship, coords, x_target, z, grid[1],
                                                         family=genotypes.family),
                    "gblup_qtl": lambda: qtl_family_gblup(kinship, coords, x_train, x_target, z,
                                                          family=genotypes.family, grid=genotypes.grid),
                    "bayesb": lambda: short_chain(x_train, z, x_target, "bayesb")}
            anchors = np.column_stack([make[a]() if a in wanted else np.zeros(len(f_target))
                                       for a in STACK_ANCHORS])
    return Prepared(f_train, f_target, z, scale, enc, anchors)


LOO_BOOTSTRAP = 200  # Bayesian-bootstrap draws behind loo_choice's pseudo-BMA+ weights
LOO_WEIGHING = "pseudo-BMA+"  # what loo_choice is, as a stacking fitted on it records it


def loo_choice(f_train: np.ndarray, y_train: np.ndarray, f_target: np.ndarray, n_features: int,
               smoothers) -> np.ndarray | None:
    """float64 ``[n_target]``: the smoother mean columns (each a BLUP at one h2 of one smoother)
    averaged with pseudo-BMA+ weights (Yao et al. 2018, Bayesian Analysis 13: 917), in
    features laid out as :func:`prepare`'s (``n_features`` selector columns first): what
    cross-validated model selection among the model's own inputs predicts, without its
    all-or-nothing jumps.

    Each column's leave-one-out (or cross-fitted) values give every training individual a
    log predictive density of its standardised phenotype (normal, with the column's
    leave-one-out mean squared error as its variance); a column's weight is the
    softmax of their sum, averaged over :data:`LOO_BOOTSTRAP` Bayesian-bootstrap
    reweightings of the individuals (Dirichlet(1), a fixed seed: deterministic), which
    keeps columns that fit about equally well about equally weighted where the plain
    choice (the argmin of the error) picks one of them by noise.  On 200 selection draws
    of each shipped model's prior (about 200 training individuals) it is ahead of the
    argmin on all eight, by +0.001 (silva) to +0.007 (ril) in r; the
    tempered weights tried beside it gained no more.  None without smoothers."""
    cols = [n_features + j for j in smoother_mean_columns(smoothers)]
    if not cols:
        return None
    y = np.asarray(y_train, np.float64)
    loo = np.asarray(f_train[:, cols], np.float64)
    resid = loo - y[:, None]
    mse = np.maximum((resid**2).mean(0), 1e-12)
    lpd = -0.5 * np.log(mse)[None, :] - 0.5 * resid**2 / mse[None, :]  # [n, C], up to a constant
    return np.asarray(f_target[:, cols], np.float64) @ pseudo_bma_weights(lpd)


def pseudo_bma_weights(lpd: np.ndarray) -> np.ndarray:
    """``[C]``: pseudo-BMA+ weights of C candidates from each individual's leave-one-out log
    predictive density under each, ``lpd`` ``[n, C]``: the softmax of their sums, averaged over
    :data:`LOO_BOOTSTRAP` Bayesian-bootstrap reweightings of the individuals (Dirichlet(1),
    a fixed seed: deterministic)."""
    n = len(lpd)
    shares = np.random.default_rng(0).dirichlet(np.ones(n), size=LOO_BOOTSTRAP)  # [B, n]
    score = n * (shares @ lpd)  # [B, C]: the bootstrap's log predictive densities of each column
    w = np.exp(score - score.max(1, keepdims=True))
    return (w / w.sum(1, keepdims=True)).mean(0)


def preprocess_draw(draw: Draw, selector: FeatureSelector, target: str = "g",
                    smoothers: str | tuple[str, ...] = ()) -> Draw:
    """A raw prior draw as the model sees it: features ``[n, F]`` and standardised values.

    Training rows carry standardised phenotypes; evaluation rows carry the quantity to
    predict (``target="g"``: the true genetic value, ``"y"``: the phenotype) on the same
    standardised scale (training phenotype mean and sd).
    """
    if target not in ("g", "y"):
        raise ValidationError(f"target must be 'g' or 'y', got {target!r}")
    nt = draw.n_train
    p = prepare(draw.x[:nt], draw.y[:nt], draw.x[nt:], selector, smoothers, anchors=False)
    goal = draw.g if target == "g" and draw.g is not None else draw.y
    y = np.concatenate([p.y_train, p.scale.transform(goal[nt:])])
    return Draw(np.concatenate([p.train, p.target]), y, nt, dict(draw.params), None, draw.index, draw.seed)
