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
from gpfn_core.linear.family import GAUSSIAN_MAX_N
from gpfn_core.net.inference import combine_members, member_outputs, model_context, resolve_device
from gpfn_core.net.modelfile import load_model
from gpfn_core.net.preprocess import STACK_ANCHORS, Genotypes, prepare
from gpfn_core.registry import get_registry
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


# peak memory of a prediction, measured (peak RSS above the process's start, nam.gpfn, 500-4,000 training and
# 500-20,000 targets x 10,000-50,000 markers): bytes per individual x marker in a pass (the dosages, their
# encoding, the target products), per pair of training individuals (the relationships, their decompositions,
# the family kernels), per target x training pair in a pass (the targets' relationships, family-kernel rows
# and their rotations; targets never pair with each other), and a floor (the model, torch)
MEMORY_PER_CELL, MEMORY_PER_PAIR, MEMORY_PER_TARGET_PAIR, MEMORY_FLOOR = 7, 56, 72, 100 * 2**20
MIN_TARGETS_PER_PASS = 500  # below this the training side's repeated per-trait fits outweigh what a pass saves


def plan_passes(n_train: int, n_target: int, n_markers: int, max_memory: float | None, log=None) -> tuple[int, int]:
    """The targets per pass (:func:`targets_per_pass`) and the peak memory estimate in bytes
    (:func:`predict_memory`) of a prediction, with ``max_memory`` bytes allowed (default: what
    the machine has available); ``log`` hears the estimate.  A job that would not fit even
    with :data:`MIN_TARGETS_PER_PASS` targets a pass is refused, naming the sizes."""
    limit = max_memory if max_memory is not None else memory_available()
    per_pass = targets_per_pass(n_train, n_target, n_markers, limit)
    need = predict_memory(n_train, n_target, n_markers, per_pass)
    if log:
        log(f"memory: about {need / 2**30:.2f} GiB at the peak"
            + (f" ({limit / 2**30:.1f} GiB {'allowed' if max_memory is not None else 'available'})" if limit else "")
            + (f"; targets in passes of {per_pass:,}" if per_pass < n_target else ""))
    if limit is not None and need > limit:
        raise GpfnError(f"predicting {n_train:,} training + {n_target:,} target "
                        f"individuals x {n_markers:,} markers needs about {need / 2**30:.1f} GiB"
                        + (f" with targets in passes of {per_pass:,}" if per_pass < n_target else "")
                        + "; " + (f"--max-memory is {limit / 2**30:.1f} GiB" if max_memory is not None else
                                  f"{limit / 2**30:.1f} GiB is available")
                        + ": take the iterative path (--solver iterative or auto), thin the markers (gpfn parse "
                          "--min-maf), phenotype fewer training individuals, or give --max-memory to run anyway")
    return per_pass, need


SOLVERS = ("auto", "dense", "iterative")
ITERATIVE_FROM = 1000  # below this the randomised-trace REML moves delta by up to 10% (linear.iterative)


def plan(n_train: int, n_target: int, n_markers: int, max_memory: float | None, solver: str = "auto",
         log=None) -> tuple[str, int, int]:
    """``(solver, targets per pass, peak memory estimate in bytes)`` of a prediction with
    ``max_memory`` bytes allowed (default: what the machine has available): ``dense`` as
    :func:`plan_passes` plans it; ``iterative`` as :func:`iterative_memory` estimates it; ``auto``
    the dense path where it fits, else the iterative one.  A job that fits neither way is
    refused, naming the sizes; ``log`` hears the choice and the estimate."""
    if solver not in SOLVERS:
        raise GpfnError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    limit = max_memory if max_memory is not None else memory_available()
    per_pass = targets_per_pass(min(n_train, NETWORK_SUBSET), n_target, n_markers,
                                None if limit is None else limit - iterative_memory(n_train, 0, n_markers))
    need = iterative_memory(n_train, n_target, n_markers, per_pass)
    if solver != "iterative":
        dense = predict_memory(n_train, n_target, n_markers, targets_per_pass(n_train, n_target, n_markers, limit))
        # the dense path where it fits, or where the iterative one would need as much (a small training set)
        if solver == "dense" or limit is None or dense <= limit or need >= dense:
            return ("dense", *plan_passes(n_train, n_target, n_markers, max_memory, log))
        if log:
            log(f"the dense path needs about {dense / 2**30:.1f} GiB for {n_train:,} training individuals; "
                f"taking the iterative path (no n x n matrix)")
    if log and n_train < ITERATIVE_FROM:
        log(f"note: below {ITERATIVE_FROM:,} training individuals the iterative path's REML (random trace probes) "
            f"is noisier than the dense path's, which fits here")
    if log:
        log(f"memory: about {need / 2**30:.2f} GiB at the peak on the iterative path"
            + (f" ({limit / 2**30:.1f} GiB {'allowed' if max_memory is not None else 'available'})" if limit else ""))
    if limit is not None and need > limit:
        raise GpfnError(f"predicting {n_train:,} training + {n_target:,} target individuals x {n_markers:,} markers "
                        f"on the iterative path needs about {need / 2**30:.1f} GiB; "
                        + (f"--max-memory is {limit / 2**30:.1f} GiB" if max_memory is not None else
                           f"{limit / 2**30:.1f} GiB is available")
                        + ": thin the markers (gpfn parse --min-maf) or phenotype fewer training individuals")
    return "iterative", per_pass, need


def iterative_memory(n_train: int, n_target: int, n_markers: int, targets_per_pass: int | None = None) -> int:
    """Bytes :func:`predict_arrays_iterative` takes at its peak, about: the training genotypes
    (int8 dosages, their float32 encoding) and the solver's columns
    (:func:`gpfn_core.linear.iterative.iterative_memory`), the QTL candidates' float64
    columns, the targets' dosages, and the dense preprocessing of the network's
    :data:`NETWORK_SUBSET` training individuals with ``targets_per_pass`` targets at once
    (:func:`predict_memory`)."""
    from gpfn_core.linear.iterative import iterative_memory as solver_memory
    from gpfn_core.linear.qtl import QTL_CANDIDATES

    n, m = int(n_train), int(n_markers)
    return int(solver_memory(n, 0, m) + 8 * n * QTL_CANDIDATES + n_target * m
               + predict_memory(min(n, NETWORK_SUBSET), n_target, m, targets_per_pass))


def predict_memory(n_train: int, n_target: int, n_markers: int, targets_per_pass: int | None = None) -> int:
    """Bytes a prediction of ``n_target`` targets from ``n_train`` training individuals on
    ``n_markers`` markers takes at its peak, about, with at most ``targets_per_pass`` targets
    preprocessed at once (default: all; the others' dosages, one byte a marker, wait in
    memory).  It overstates rather than understates: by 3-14% on the seven measurements its
    constants come from (2,000 + 1,000 x 10,000: 651 MiB for a measured 584; 2,000 + 8,000:
    2.03 GiB for 1.82), by 22% at 16,000 + 1,000 x 50,000 (20.1 GiB for 16.5)."""
    c = n_target if targets_per_pass is None else max(min(int(targets_per_pass), n_target), 0)
    # family GBLUP's Gaussian kernels: the float32 distances and one float32 kernel at a time in its reduction,
    # and the targets' float64 distances to the training individuals, kept for every bandwidth
    gaussian = 8 * n_train * (n_train + c) if n_train <= GAUSSIAN_MAX_N else 0
    return int(MEMORY_PER_CELL * (n_train + c) * n_markers + (n_target - c) * n_markers
               + MEMORY_PER_PAIR * n_train * n_train + gaussian + MEMORY_PER_TARGET_PAIR * n_train * c + MEMORY_FLOOR)


def targets_per_pass(n_train: int, n_target: int, n_markers: int, limit: float | None) -> int:
    """How many targets go through preprocessing at once: all of them where they fit in ``limit``
    bytes (or the limit is unknown), else the most that fit (:func:`predict_memory`), at least
    :data:`MIN_TARGETS_PER_PASS` (the caller refuses what does not fit even then)."""
    if limit is None or predict_memory(n_train, n_target, n_markers) <= limit:
        return max(n_target, 1)
    lo, hi = min(MIN_TARGETS_PER_PASS, n_target), n_target  # the largest c in [lo, hi] that fits, or lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if predict_memory(n_train, n_target, n_markers, mid) <= limit else (lo, mid - 1)
    return max(lo, 1)


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
            out[j] = _joined(parts[j])
        del first
    return out


def _joined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One :func:`predict_arrays` result from those of consecutive chunks of the targets."""
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) if isinstance(v, np.ndarray) else v
            for k, v in parts[0].items()}


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
    # only the anchors the file's stacking weighs at this training-set size are computed (the others
    # are zero columns, weighed zero)
    used = () if stacking is None else tuple(a for a, w in zip(STACK_ANCHORS, stacking.at(n)[0][1:]) if w != 0)
    p = prepare(x_train, y, x_target, selector_cls(int(meta["n_features"]), seed=seed), fit_cfg.get("smoothers", ""),
                anchors=used, genotypes=genotypes)
    scale, shift = (1.0, 0.0) if normalized else (p.scale.sd, p.scale.mean)
    # Up to CONTEXT_SLACK times the largest training set seen in fitting is one pass; beyond
    # that, random subsets of the context's size (mixture mean and variance, quantiles averaged).
    members = member_outputs(model, bar, p.train, p.y_train, p.target, context, ensemble=ensemble, seed=seed,
                             chunk=chunk, quantiles=tuple(quantiles))
    return _result(members, p.anchors, stacking if p.anchors is not None else None, n, scale, shift, quantiles,
                   context)


def _result(members: list[dict[str, np.ndarray]], anchors: np.ndarray | None, stacking, n: int, scale: float,
            shift: float, quantiles: tuple[float, ...], context: int) -> dict[str, Any]:
    """:func:`predict_arrays`' result from the network's ensemble ``members`` and the anchors
    (standardised scale), blended by ``stacking`` at ``n`` training individuals and taken to
    the phenotype's scale (``scale`` times, plus ``shift``)."""
    from gpfn_core.net.stacking import stacked

    network = combine_members(members)["mean"]
    out, weights, widen = stacked(members, anchors, stacking, n)
    return {"mean": out["mean"] * scale + shift, "sd": out["sd"] * scale,
            **{quantile_key(q): out[f"q{q}"] * scale + shift for q in quantiles},
            "members": len(members), "context": context, "network_mean": network * scale + shift,
            "stack_weights": None if weights is None else [float(v) for v in weights],
            "interval_scale": None if weights is None else float(widen)}


# training individuals (a random subset, seeded) whose dense preprocessing gives the network its features on
# the iterative path: what the network sees of a larger set anyway is subsets of its context (a few hundred
# tokens), and from a few thousand lines on the stacking weighs its mean 0-0.10 (the model cards)
NETWORK_SUBSET = 2000


def predict_arrays_iterative(model, bar, meta: dict[str, Any], x_train: np.ndarray, ys: np.ndarray,
                             x_target: np.ndarray, *, normalized: bool = False, ensemble: int | None = None,
                             seed: int = 0, chunk: int = 1000, quantiles: tuple[float, ...] = (0.05, 0.95),
                             stack: bool = True, per_pass: int | None = None, log=None) -> list[dict[str, Any]]:
    """:func:`predict_arrays` of each column of ``ys`` (``[n, k]``, every training individual
    with a value of each) with no n x n matrix, for training sets past what the dense path
    holds (``gpfn predict --solver iterative``, or ``auto`` where the dense path would not fit).

    - The stacking anchors its weights use at this size come from every training individual
      as marker effects (:func:`~gpfn_core.net.preprocess.anchor_effects`: conjugate gradients
      through the genotypes, REML by randomised traces, the QTL anchor's single effects,
      BayesB's short chain; :data:`~gpfn_core.net.preprocess.ITERATIVE_FORMS` says what each
      anchor becomes), fitted once per trait; the targets stream through them.
    - The network (its mean, sd and quantiles, about which the stacking moves and scales the
      intervals) runs on :data:`NETWORK_SUBSET` training individuals drawn with ``seed``,
      preprocessed as the dense path preprocesses everyone (:func:`prepare`), and its
      output is taken to the scale of the whole training set before the blend.
    - Targets go ``per_pass`` at a time (default all) through the network's preprocessing.

    Time grows as n m per conjugate-gradient iteration and memory as n m (the genotypes)."""
    from gpfn_core.data.encoding import Encoding, Standardizer
    from gpfn_core.linear.iterative import KinshipOperator, Solver
    from gpfn_core.net.preprocess import anchor_effects
    from gpfn_core.net.stacking import stack_weights

    ys = np.asarray(ys, dtype=np.float64).reshape(len(x_train), -1)
    n = len(x_train)
    fit_cfg = meta.get("fit_config", {})
    context = model_context(fit_cfg.get("context"), fit_cfg.get("max_training_samples"), meta.get("pop_max_size", 1000))
    smoothers = fit_cfg.get("smoothers", "")
    selector_cls = get_registry().get("selector", meta["feature_selection"])
    stacking = stack_weights(meta) if stack else None
    used = () if stacking is None else tuple(a for a, w in zip(STACK_ANCHORS, stacking.at(n)[0][1:]) if w != 0)
    scales = [Standardizer.fit(y) for y in ys.T]
    enc = Encoding.fit(x_train)
    fits = []
    if used:
        xt = enc.transform(x_train)
        solver = Solver(KinshipOperator(xt))
        for j, (sc, y) in enumerate(zip(scales, ys.T)):
            mu, eff, info = anchor_effects(xt, sc.transform(y), used, solver)
            fits.append((mu.astype(np.float32), eff.astype(np.float32)))
            if log and info:
                log(f"iterative path{f', trait {j + 1}' if ys.shape[1] > 1 else ''}: REML h2 {info['h2']:.3f}, "
                    f"{solver.stats.iterations:,} conjugate-gradient iterations so far")
        del xt, solver
    sub = (np.sort(np.random.default_rng(seed).choice(n, NETWORK_SUBSET, replace=False)) if n > NETWORK_SUBSET
           else np.arange(n))
    per_pass = max(int(per_pass or len(x_target)), 1)
    parts: list[list[dict[str, Any]]] = [[] for _ in scales]
    first = None
    for s in range(0, max(len(x_target), 1), per_pass):
        block = x_target[s : s + per_pass]
        genotypes = first = (Genotypes.for_smoothers(x_train[sub], block, smoothers) if first is None
                             else first.for_targets(block))
        xv = enc.transform(block) if fits else None
        for t, (sc, y) in enumerate(zip(scales, ys.T)):
            p = prepare(x_train[sub], y[sub], block, selector_cls(int(meta["n_features"]), seed=seed), smoothers,
                        anchors=False, genotypes=genotypes)
            members = [rescaled(o, p.scale, sc) for o in
                       member_outputs(model, bar, p.train, p.y_train, p.target, context, ensemble=ensemble, seed=seed,
                                      chunk=chunk, quantiles=tuple(quantiles))]
            anchors = (fits[t][0] + xv @ fits[t][1]).astype(np.float64) if fits else None
            scale, shift = (1.0, 0.0) if normalized else (sc.sd, sc.mean)
            parts[t].append(_result(members, anchors, stacking if anchors is not None else None, n, scale, shift,
                                    tuple(quantiles), context))
        del genotypes
    return [_joined(p) for p in parts]


def rescaled(out: dict[str, np.ndarray], source, to) -> dict[str, np.ndarray]:
    """A standardised predictive distribution ``out`` (mean, sd, ``q...``) on the phenotype scale
    ``source`` (a :class:`~gpfn_core.data.encoding.Standardizer`) moved to the standardised
    scale of ``to``."""
    a, b = source.sd / to.sd, (source.mean - to.mean) / to.sd
    return {k: (v * a + b if k == "mean" or k.startswith("q") else v * a if k == "sd" else v) for k, v in out.items()}


def quantile_key(q: float) -> str:
    """0.05 -> ``q05``, 0.95 -> ``q95``, 0.5 -> ``q50``, 0.025 -> ``q2.5``."""
    return f"q{100 * q:02g}"
