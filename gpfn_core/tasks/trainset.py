"""`gpfn trainset`: which candidates to phenotype, so that the targets are predicted best.

A phenotyping budget buys a training set of ``size`` lines out of many genotyped
candidates.  Which ones matter: a training set related to the targets predicts them better
than a random one of the same size (Rincent et al. 2012's CDmean; Akdemir et al. 2015's
STPGA).  The criterion here is CDmean's: the mean over targets of the reliability of each
target's deviation from the targets' mean (selection ranks the targets against each other),
under GBLUP's model with its mean estimated:

    rel_v = 1 - PEV(c_v) / Var(c_v),   c_v = g_v - mean of the targets' g,

with g ~ N(0, K), K the genomic relationships of candidates and targets together (centred
on both), phenotypes g + mean + noise of variance (1 - h2) / h2 and ``h2`` an assumed
heritability.  It needs no phenotype.  Candidates are added one at a time,
each the one that raises the mean reliability most: the posterior covariance of everyone's
breeding values loses a rank-one term per addition (O(n^2) per step, n candidates plus
targets), so the whole choice is deterministic and takes seconds for a few thousand lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.data.dataset import read_dataset
from gpfn_core.data.encoding import Encoding
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.linear.kinship import relationship
from gpfn_core.tasks.predict import align, write_csv
from gpfn_core.threads import memory_available

MEAN_VARIANCE = 1e6  # the mean's prior variance (relationships have a mean diagonal of one): in effect fixed
MEMORY_PER_PAIR = 24  # bytes per pair of candidates and targets: the relationships and the covariance updated in place


def choose_training(x_candidates: np.ndarray, x_targets: np.ndarray, size: int, h2: float = 0.5,
                    fixed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``size`` rows of ``x_candidates`` (int8 dosages, -1 missing) to phenotype, in the
    order chosen, and the targets' mean reliability after each (see the module docstring).
    ``fixed``: rows already phenotyped (bool ``[n_candidates]``), in the training set from
    the start and never chosen again."""
    return _climb(_relationships(x_candidates, x_targets), len(x_candidates), size, h2, fixed)


def _climb(k: np.ndarray, nc: int, size: int, h2: float, fixed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`choose_training` on the relationships ``k`` of the ``nc`` candidates, then the targets."""
    if not 0 < h2 < 1:
        raise ValidationError(f"h2 must be in (0, 1), got {h2}")
    nv = len(k) - nc
    fixed = np.zeros(nc, bool) if fixed is None else np.asarray(fixed, bool)
    if not 1 <= size <= nc - fixed.sum():
        raise ValidationError(f"the training set's size must be between 1 and the {nc - int(fixed.sum())} candidates "
                              f"not yet phenotyped, got {size}")
    if nv < 2:
        raise ValidationError(f"the criterion ranks targets against each other: it needs two or more, got {nv}")
    lam = (1.0 - h2) / h2
    kv = np.maximum(_contrast_variances(k[nc:, nc:]), 1e-12)
    # the breeding values and the mean, jointly: the mean a random effect of so large a variance that it acts
    # as GBLUP's fixed one (a training set of one family says nothing of another family's level, though the
    # relationships, centred on both, are negative between them); their posterior covariance loses a rank-one
    # term per line that joins the training set, whose phenotype is its breeding value + the mean + noise
    cov = np.zeros((nc + nv + 1, nc + nv + 1))
    cov[:-1, :-1] = k
    cov[-1, -1] = MEAN_VARIANCE

    def add(c: int) -> None:
        s = cov[:, c] + cov[:, -1]
        np.subtract(cov, np.outer(s, s / (s[c] + s[-1] + lam)), out=cov)

    for c in np.flatnonzero(fixed):
        add(int(c))
    taken, order, path = fixed.copy(), [], []
    targets = slice(nc, nc + nv)
    for _ in range(int(size)):
        cand = np.flatnonzero(~taken)
        seen = cov[targets, cand] + cov[targets, -1][:, None]
        seen -= seen.mean(0)  # what a line's phenotype tells of each target's contrast
        gain = (seen ** 2 / kv[:, None]).sum(0) / (np.diag(cov)[cand] + 2 * cov[cand, -1] + cov[-1, -1] + lam)
        c = int(cand[np.argmax(gain)])
        add(c)
        taken[c] = True
        order.append(c)
        path.append(float(np.mean(1.0 - _contrast_variances(cov[targets, targets]) / kv)))
    return np.array(order, dtype=np.int64), np.array(path)


def trainset(candidates_path: str | Path, targets_path: str | Path, out_csv: str | Path, size: int, *,
             h2: float = 0.5, phenotyped: str | Path | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Write ``out_csv`` (rank, taxon, the targets' mean reliability once it is in) and return
    a report, with the mean reliability of random training sets of the same size beside it.
    ``phenotyped``: a Dataset whose taxa among the candidates are phenotyped already; they
    stay in the training set and ``size`` lines are added to them."""
    out_csv = Path(out_csv)
    if out_csv.exists() and not overwrite:
        raise GpfnError(f"{out_csv}: already exists (use --force to replace it)")
    cand, targets = read_dataset(candidates_path), read_dataset(targets_path)
    fixed = np.zeros(cand.table.n_taxa, bool)
    if phenotyped is not None:
        fixed = np.isin(cand.table.taxa, read_dataset(phenotyped).table.taxa)
        if not fixed.any():
            raise GpfnError(f"{phenotyped}: none of its taxa is among the {cand.table.n_taxa} candidates of "
                            f"{candidates_path}; parse every genotyped line, phenotyped or not, as the candidates")
    al = align(cand, targets)
    n = len(al.train) + len(al.target)
    need = MEMORY_PER_PAIR * n * n
    avail = memory_available()
    if avail is not None and need > avail:
        raise GpfnError(f"{n:,} candidates and targets need about {need / 2**30:.1f} GiB and {avail / 2**30:.1f} GiB is "
                        f"available: choose among fewer candidates")
    k, nc = _relationships(al.train, al.target), len(al.train)  # once, for the choice and the random sets beside it
    order, path = _climb(k, nc, size, h2, fixed)
    rows = ([i + 1, cand.table.taxa[c], f"{p:.6g}"] for i, (c, p) in enumerate(zip(order, path)))
    write_csv(out_csv, ["rank", "taxon", "mean_target_reliability"], rows, overwrite)
    rng = np.random.default_rng(0)
    random_rel = [_reliability(k, nc, np.concatenate(
        [np.flatnonzero(fixed), rng.choice(np.flatnonzero(~fixed), size, replace=False)]), h2) for _ in range(5)]
    return {**al.report, "candidates": int((~fixed).sum()), "already_phenotyped": int(fixed.sum()),
            "targets": len(al.target), "size": int(size), "h2": h2,
            "mean_target_reliability": round(float(path[-1]), 4),
            "random_training_set_reliability": round(float(np.mean(random_rel)), 4), "output": str(out_csv)}


def reliability(x_candidates: np.ndarray, x_targets: np.ndarray, rows: np.ndarray, h2: float = 0.5) -> float:
    """The targets' mean reliability with the candidates ``rows`` phenotyped (the criterion
    :func:`choose_training` climbs), from GBLUP's prediction error variance with the mean
    estimated by generalised least squares, for comparing training sets."""
    return _reliability(_relationships(x_candidates, x_targets), len(x_candidates), rows, h2)


def _reliability(k: np.ndarray, nc: int, rows: np.ndarray, h2: float) -> float:
    """:func:`reliability` on the relationships ``k`` of the ``nc`` candidates, then the targets."""
    s = np.asarray(rows, dtype=np.int64)
    v = k[np.ix_(s, s)] + (1.0 - h2) / h2 * np.eye(s.size)
    kvs = k[nc:][:, s]
    a = np.linalg.solve(v, np.column_stack([kvs.T, np.ones(s.size)]))  # V^-1 [K_SV, 1]
    q = kvs @ a[:, -1]  # K_VS V^-1 1
    pev = k[nc:, nc:] - kvs @ a[:, :-1] + np.outer(q, q) / a[:, -1].sum()
    return float(np.mean(1.0 - _contrast_variances(pev) / np.maximum(_contrast_variances(k[nc:, nc:]), 1e-12)))


def _contrast_variances(cov: np.ndarray) -> np.ndarray:
    """The variances of each target's deviation from the targets' mean, from their covariance."""
    return np.diag(cov) - 2 * cov.mean(1) + cov.mean()


def _relationships(x_candidates: np.ndarray, x_targets: np.ndarray) -> np.ndarray:
    """float64 K of candidates then targets, encoded and centred on both together."""
    both = np.concatenate([x_candidates, x_targets])
    x = Encoding.fit(both).transform(both)
    return relationship(x, x[:0])[0].astype(np.float64)
