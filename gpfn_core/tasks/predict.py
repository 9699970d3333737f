"""`gpfn predict`: GEBVs of a target population from a model, a training and a target Dataset.

1. Markers of the two datasets are matched by id (or by chromosome:position when the
   ids do not match), alleles are compared, ref/alt swaps are flipped, mismatches and
   unmatched markers are dropped and counted.
2. The training individuals' phenotypes and both genotype sets go through the same
   preprocessing as in training (:func:`gpfn_core.net.preprocess.prepare`).
3. The model predicts targets in chunks (they never attend to each other).  When the
   training population is larger than the model's context, an ensemble over random
   subsets of the training tokens is averaged (mixture mean and variance; quantiles
   averaged); the smoother columns still come from every training individual.
4. Where the model file has stacking weights, the mean (and the quantiles with it) is
   blended with closed-form predictions from every training individual
   (:mod:`gpfn_core.net.stacking`).
5. Results go back to the phenotype's scale and are written atomically as CSV.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.atomic import publish, remove_stale, temp_path
from gpfn_core.data.dataset import Dataset, read_dataset
from gpfn_core.errors import GpfnError
from gpfn_core.net.inference import member_outputs, model_context, resolve_device
from gpfn_core.net.modelfile import load_model
from gpfn_core.net.preprocess import Genotypes, prepare
from gpfn_core.registry import get_registry
from gpfn_core.tasks.iterative import predict_arrays_iterative
from gpfn_core.tasks.outputs import joined, quantile_key, result  # noqa: F401 (quantile_key: callers import it here)
from gpfn_core.tasks.plan import (  # noqa: F401 (the planning functions, where callers have found them)
    MIN_TARGETS_PER_PASS,
    iterative_memory,
    plan,
    plan_passes,
    predict_memory,
    targets_per_pass,
)
from gpfn_core.threads import memory_available

MIN_SHARED_MARKERS = 100


@dataclass
class Aligned:
    train: np.ndarray  # int8 [n_train, k]
    target: np.ndarray  # int8 [n_target, k]
    report: dict[str, Any]
    target_markers: np.ndarray | None = None  # int [k]: the shared markers' columns in the target's table


def align(train: Dataset, target: Dataset, min_shared: int = MIN_SHARED_MARKERS) -> Aligned:
    """Shared markers of two datasets, target dosages flipped where ref/alt are swapped."""
    a, b = train.table, target.table
    keys = [("marker id", a.marker, b.marker)]
    if (a.chrom != "").all() and (b.chrom != "").all():
        keys.append(("chromosome:position", np.char.add(np.char.add(a.chrom.astype(str), ":"), a.pos.astype(str)),
                     np.char.add(np.char.add(b.chrom.astype(str), ":"), b.pos.astype(str))))
    best = max(keys, key=lambda k: np.intersect1d(k[1], k[2]).size)
    how, ka, kb = best
    shared, ia, ib = np.intersect1d(ka, kb, assume_unique=False, return_indices=True)
    ref_a, alt_a, ref_b, alt_b = a.ref[ia], a.alt[ia], b.ref[ib], b.alt[ib]
    known = (ref_a != "") & (alt_a != "") & (ref_b != "") & (alt_b != "")
    same = ~known | ((ref_a == ref_b) & (alt_a == alt_b))
    swapped = known & (ref_a == alt_b) & (alt_a == ref_b)
    keep = same | swapped
    dt = b.dosage[:, ib[keep]].copy()
    flip = swapped[keep]
    dt[:, flip] = np.where(dt[:, flip] < 0, dt[:, flip], 2 - dt[:, flip])
    report = {"matched_by": how, "train_markers": a.n_markers, "target_markers": b.n_markers,
              "shared_markers": int(keep.sum()), "flipped_ref_alt": int(swapped.sum()),
              "dropped_allele_mismatch": int((~keep).sum()),
              "dropped_unmatched_train": int(a.n_markers - shared.size),
              "dropped_unmatched_target": int(b.n_markers - shared.size)}
    if keep.sum() < min_shared:
        raise GpfnError(f"the training and target datasets share only {int(keep.sum())} markers (need at least "
                        f"{min_shared}); are they from the same marker panel? ({report})")
    return Aligned(a.dosage[:, ia[keep]], dt, report, ib[keep])


def predict(
    model_path: str | Path, train_path: str | Path, target_path: str | Path, out_csv: str | Path, *,
    phenotype: str | None = None, normalized: bool = False, device: str = "auto", ensemble: int | None = None,
    seed: int = 0, chunk: int = 1000, overwrite: bool = False, covariates: list[str] | None = None,
    max_memory: float | None = None, solver: str = "auto", log=None,
) -> dict[str, Any]:
    """Write ``out_csv`` and return a report.  One phenotype (``phenotype``: a name, default the
    first): columns taxon, mean, sd, q05, q95.  Several (a comma-separated list, or ``all``):
    taxon, then NAME_mean, NAME_sd, NAME_q05, NAME_q95 for each, every trait-independent step
    (the encoding, the decomposition of the relationships, the family kernels) done once for
    the traits phenotyped on the same individuals.  ``covariates``: columns of the training
    phenotype file (locations, years, blocks; factors or numbers) fitted as fixed effects on
    the training individuals (GLS in the mixed model) and taken out of their phenotypes before
    prediction; the targets get breeding values, with no covariate effect added, and the
    report gives the fitted effects.  Before the model runs, the peak memory is estimated
    from the sizes (:func:`predict_memory`); where every target at once would pass
    ``max_memory`` bytes (default: what the machine has available) the targets go through
    preprocessing in passes of as many as fit (:func:`targets_per_pass`; the training side is
    decomposed once, and the predictions are the same), and where even a pass of
    :data:`MIN_TARGETS_PER_PASS` would not fit nothing runs and the error says what would;
    ``log`` (a callable) hears the estimate before the model runs.  ``solver``: ``dense`` (the
    relationships decomposed), ``iterative`` (no n x n matrix: :func:`predict_arrays_iterative`)
    or ``auto``: dense where it fits in the memory allowed, else iterative (said in the log
    and the report)."""
    out_csv = Path(out_csv)
    if out_csv.exists() and not overwrite:
        raise GpfnError(f"{out_csv}: already exists (use --force to replace it)")
    train, target = read_dataset(train_path), read_dataset(target_path)  # a user's files first: their errors are likeliest
    names = phenotype_names(train, phenotype, covariates)
    dev = resolve_device(device)
    model, bar, meta = load_model(model_path, dev)
    ys = np.column_stack([train.phenotype(n) for n in names])
    for name, y in zip(names, ys.T):
        if np.isfinite(y).sum() < 3:
            raise GpfnError(f"{train_path}: fewer than three training taxa have a value of '{name}'")
    al = align(train, target)
    n_train = int(np.isfinite(ys).any(1).sum())
    solver, per_pass, need = plan(n_train, int(target.table.n_taxa), al.train.shape[1], max_memory, solver, log)
    if covariates and solver == "iterative":
        raise GpfnError("--covariates fits its effects with the dense relationships, which this training set "
                        "does not fit in memory for; take the covariate effects out of the phenotypes first")
    effects = {}
    if covariates:
        from gpfn_core.linear.gblup import fixed_effects

        c, labels = train.covariates(list(covariates))
        for j, name in enumerate(names):
            ok = np.isfinite(ys[:, j])
            b, _ = fixed_effects(al.train[ok], ys[ok, j], c[ok])
            ys[:, j] = ys[:, j] - c @ b
            effects[name] = {lab: round(float(v), 6) for lab, v in zip(labels, b)}
    results = predict_traits(model, bar, meta, al.train, ys, al.target, normalized=normalized, ensemble=ensemble,
                             seed=seed, chunk=chunk, per_pass=per_pass, solver=solver, log=log)
    if len(names) == 1:
        header = ["taxon", "mean", "sd", "q05", "q95"]
    else:
        header = ["taxon", *(f"{n}_{k}" for n in names for k in ("mean", "sd", "q05", "q95"))]
    cols = [res[k] for res in results for k in ("mean", "sd", "q05", "q95")]
    rows = ([t, *(f"{v:.6g}" for v in vals)] for t, *vals in zip(target.table.taxa, *cols))
    write_csv(out_csv, header, rows, overwrite)
    first, observed = results[0], np.isfinite(ys[:, 0])
    return {**al.report, "phenotypes": names, "training_taxa": int(observed.sum()),
            "training_taxa_without_phenotype": int((~observed).sum()), "targets": int(target.table.n_taxa),
            "ensemble_members": first["members"], "context": first["context"],
            "stack_weights": None if first["stack_weights"] is None else [round(v, 3) for v in first["stack_weights"]],
            "interval_scale": None if first["interval_scale"] is None else round(first["interval_scale"], 3),
            "scale": "standardised" if normalized else "phenotype", "device": str(dev), "output": str(out_csv),
            "memory_estimate": f"{need / 2**30:.2f} GiB", "targets_per_pass": per_pass, "solver": solver,
            **({"covariate_effects": effects} if effects else {})}


def phenotype_names(ds: Dataset, spec: str | None, exclude: list[str] | None = None) -> list[str]:
    """``None``: the first phenotype; ``all``: every one; else a name or a comma-separated list.
    ``exclude``: columns used as covariates, never traits (``all`` and the default skip them)."""
    if not ds.phenotype_names:
        ds.phenotype(None)  # the error naming the file
    exclude = list(exclude or [])
    traits = [n for n in ds.phenotype_names if n not in exclude]
    if spec is not None and spec != "all":
        names = [n.strip() for n in spec.split(",") if n.strip()]
        for n in names:
            ds.phenotype(n)  # an unknown name: the error listing the known ones
        both = [n for n in names if n in exclude]
        if both:
            raise GpfnError(f"{', '.join(both)}: named both as a trait and as a covariate")
        return names
    if not traits:
        raise GpfnError(f"{ds.attrs.get('path', 'dataset')}: every phenotype column is a covariate; no trait left")
    return traits if spec == "all" else traits[:1]


def predict_traits(model, bar, meta: dict[str, Any], x_train: np.ndarray, ys: np.ndarray, x_target: np.ndarray,
                   *, per_pass: int | None = None, solver: str = "dense", log=None,
                   **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`predict_arrays` of every column of ``ys`` (``[n, k]``, NaN where a training
    individual has no value): traits observed on the same individuals share one
    :class:`~gpfn_core.net.preprocess.Genotypes` (encoding, relationships, family kernels).
    ``per_pass``: at most this many targets go through preprocessing at once (default:
    as many as fit in the memory available, :func:`targets_per_pass`, as ``gpfn predict``
    chooses them without ``--max-memory``); the next pass reuses the training side
    (:meth:`~gpfn_core.net.preprocess.Genotypes.for_targets`), so memory follows the pass, not
    the target set, and the predictions are the same; ``log``
    (a callable) hears each pass begin where there are several.  ``solver="iterative"``:
    :func:`predict_arrays_iterative` for each group of traits instead (no n x n matrix)."""
    ys = np.asarray(ys, dtype=np.float64).reshape(len(x_train), -1)
    smoothers = (meta.get("fit_config") or {}).get("smoothers", "")
    if per_pass is None:
        n_obs = int(np.isfinite(ys).any(1).sum())
        per_pass = (plan(n_obs, len(x_target), x_target.shape[1], None, "iterative")[1] if solver == "iterative"
                    else targets_per_pass(n_obs, len(x_target), x_target.shape[1], memory_available()))
    per_pass = max(int(per_pass), 1)
    # traits grouped by which individuals have a value, one group at a time: each group's Genotypes
    # (n x n relationships, their decomposition, the family kernels) is released before the next
    # is made, so the peak is one group's whatever the number of missing-value patterns
    groups: dict[bytes, list[int]] = {}
    for j, y in enumerate(ys.T):
        groups.setdefault(np.packbits(np.isfinite(y)).tobytes(), []).append(j)
    out: list[dict[str, Any] | None] = [None] * ys.shape[1]
    for traits in groups.values():
        observed = np.isfinite(ys[:, traits[0]])
        if solver == "iterative":
            for j, res in zip(traits, predict_arrays_iterative(model, bar, meta, x_train[observed],
                                                               ys[observed][:, traits], x_target,
                                                               per_pass=per_pass, log=log, **kwargs)):
                out[j] = res
            continue
        first, parts = None, {j: [] for j in traits}
        for s in range(0, max(len(x_target), 1), per_pass):
            block = x_target[s : s + per_pass]
            if log and per_pass < len(x_target):
                log(f"targets {s + 1:,}-{s + len(block):,} of {len(x_target):,}"
                    + (f" ({len(traits)} traits)" if len(traits) > 1 else ""))
            if first is None:
                genotypes = first = Genotypes.for_smoothers(x_train[observed], block, smoothers)
            else:
                genotypes = first.for_targets(block)
            for j in traits:
                parts[j].append(predict_arrays(model, bar, meta, x_train[observed], ys[observed, j], block,
                                               genotypes=genotypes, **kwargs))
            del genotypes
        for j in traits:
            out[j] = joined(parts[j])
        del first
    return out


def write_csv(path: Path, header: list[str], rows, overwrite: bool) -> Path:
    """Write a CSV whole or not at all (:mod:`gpfn_core.atomic`); the folder is made if missing.
    Of two runs writing the same output without ``overwrite``, one wins and the other gets a
    clear error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return publish(tmp, path, overwrite)


def predict_arrays(model, bar, meta: dict[str, Any], x_train: np.ndarray, y: np.ndarray, x_target: np.ndarray, *,
                   normalized: bool = False, ensemble: int | None = None, seed: int = 0,
                   chunk: int = 1000, quantiles: tuple[float, ...] = (0.05, 0.95), stack: bool = True,
                   genotypes: Genotypes | None = None) -> dict[str, Any]:
    """Predictive mean, sd and ``quantiles`` (keys ``q05``, ``q95``, ...: ``f"q{100 q:02g}"``) of
    targets from aligned dosages and training phenotypes.

    Preprocessing (features and smoothers) runs once on *every* training individual, so
    the smoother columns carry all of them to every target.  When the training set is
    larger than the model's context, the transformer sees random subsets of the
    training tokens (an ensemble; mixture mean and variance, quantiles averaged).
    A model file with stacking weights (:mod:`gpfn_core.net.stacking`) blends each
    member's mean with closed-form predictions from every training individual (GBLUP
    averaged over h2, the smoother columns weighed by their leave-one-out fit, GBLUP with a
    within-family kernel; only those the stacking weighs are computed), with the
    weights and the interval scale the file holds for this training-set size
    (``stack_weights``, ``interval_scale``; ``stack=False``: the network alone);
    ``network_mean`` is the network's own mean.
    """
    from gpfn_core.net.stacking import stack_weights

    fit_cfg = meta.get("fit_config", {})
    context = model_context(fit_cfg.get("context"), fit_cfg.get("max_training_samples"), meta.get("pop_max_size", 1000))
    n = len(y)
    selector_cls = get_registry().get("selector", meta["feature_selection"])
    stacking = stack_weights(meta) if stack else None
    used = () if stacking is None else stacking.anchors_at(n)
    p = prepare(x_train, y, x_target, selector_cls(int(meta["n_features"]), seed=seed), fit_cfg.get("smoothers", ""),
                anchors=used, genotypes=genotypes)
    scale, shift = (1.0, 0.0) if normalized else (p.scale.sd, p.scale.mean)
    # Up to CONTEXT_SLACK times the largest training set seen in fitting is one pass; beyond
    # that, random subsets of the context's size (mixture mean and variance, quantiles averaged).
    members = member_outputs(model, bar, p.train, p.y_train, p.target, context, ensemble=ensemble, seed=seed,
                             chunk=chunk, quantiles=tuple(quantiles))
    return result(members, p.anchors, stacking if p.anchors is not None else None, n, scale, shift, quantiles,
                   context)
