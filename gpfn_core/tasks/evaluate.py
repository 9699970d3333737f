"""`gpfn evaluate`: GPFN against GBLUP, ridge regression, a CV elastic net, RKHS regression, BayesB and BayesCπ on
the same folds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.atomic import publish, remove_stale, temp_path
from gpfn_core.data.dataset import read_dataset
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.linear.baselines import elastic_net, ridge, rkhs
from gpfn_core.linear.bayes import bayes
from gpfn_core.linear.gblup import fixed_effects, gblup, gblup_memory
from gpfn_core.linear.iterative import gblup_iterative, iterative_memory
from gpfn_core.metrics import pearson, spearman
from gpfn_core.net.inference import resolve_device
from gpfn_core.net.modelfile import load_model
from gpfn_core.tasks.predict import align, phenotype_names, predict_traits
from gpfn_core.threads import memory_available

# every method evaluate knows, in table order; GBLUP-CG is GBLUP with no n x n matrix (conjugate gradients,
# randomised-trace REML: gpfn_core.linear.iterative), for training sets past what the dense path holds
METHODS = ("GPFN", "GBLUP", "GBLUP-CG", "ridge", "ElasticNet", "RKHS", "BayesB", "BayesCpi")
DEFAULT_METHODS = ("GPFN", "GBLUP", "ridge")


def parse_methods(spec: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"gpfn,gblup,bayesb"`` (any case) -> ``("GPFN", "GBLUP", "BayesB")``, checked, in table order."""
    if spec is None:
        return DEFAULT_METHODS
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    by_key = {m.lower(): m for m in METHODS}
    bad = [n for n in names if n.lower() not in by_key]
    if bad or not names:
        raise ValidationError(f"--methods: unknown {', '.join(bad) or '(none given)'}; choose among "
                              f"{', '.join(m.lower() for m in METHODS)}")
    wanted = {by_key[n.lower()] for n in names}
    return tuple(m for m in METHODS if m in wanted)


def metrics(pred: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(obs)
    p, o = pred[ok], obs[ok]
    return {"pearson": pearson(p, o), "spearman": spearman(p, o), "rmse": float(np.sqrt(np.mean((p - o) ** 2)))}


def evaluate(model_path: str | Path, *, dataset: str | Path | None = None, folds: int = 5,
             train: str | Path | None = None, target: str | Path | None = None, phenotype: str | None = None,
             seed: int = 0, device: str = "auto", methods: str | tuple[str, ...] | None = None,
             iterations: int = 6000, burn_in: int = 1000, groups: str | None = None,
             covariates: list[str] | None = None) -> dict[str, Any]:
    """Per-fold metrics and pooled predictions of each method, for each phenotype (``phenotype``:
    a name, a comma-separated list or ``all``; default the first).  ``groups``: folds of whole
    groups (a phenotype column of group codes, a CSV of taxon,group, or ``genomic`` for
    clusters of the genomic relationships): each group is left out whole, one fold each up to
    ``folds`` groups, else groups are dealt into ``folds`` folds.  ``covariates``: columns of
    the phenotype file fitted as fixed effects on each fold's training individuals (GLS in
    the mixed model); every method predicts from the phenotypes with them taken out and is
    scored against the targets' phenotypes with them taken out.  ``iterations``/``burn_in``:
    the Bayesian samplers'.  The first trait's results are also at the top level."""
    methods = parse_methods(methods)
    if any(m.startswith("Bayes") for m in methods) and not 0 <= burn_in < iterations:
        raise ValidationError(f"need 0 <= --burn-in ({burn_in}) < --iterations ({iterations})")
    dev = resolve_device(device)
    model, bar, meta = load_model(model_path, dev) if "GPFN" in methods else (None, None, None)
    if dataset is not None:
        if train is not None or target is not None:
            raise ValidationError("give either DATASET (with --folds) or --train and --target, not both")
        if folds < 2:
            raise ValidationError(f"--folds must be >= 2, got {folds}")
        ds = read_dataset(dataset)
        names = phenotype_names(ds, phenotype, covariates)
        masks, fold_info = fold_splits(ds, folds, seed, groups)
        x, cov = ds.table.dosage, _covariates(ds, covariates)
        tasks = []
        for name in names:
            y = ds.phenotype(name)
            ok = np.isfinite(y)
            if (ok & np.any([te for _, te in masks], axis=0)).sum() < 2 * len(fold_info):
                raise GpfnError(f"{dataset}: {int(ok.sum())} taxa with '{name}' are too few for {len(fold_info)} folds")
            for f, (tr, te) in enumerate(masks):
                if (ok & te).sum() < 2 or (ok & tr).sum() < 2:
                    raise GpfnError(f"{dataset}: fold {f} ({', '.join(fold_info[f]['groups'])}) leaves "
                                    f"{int((ok & tr).sum())} training and {int((ok & te).sum())} test taxa with "
                                    f"'{name}'; each needs at least two: use fewer --folds")
            tasks.append((name, [(x[ok & tr], y[ok & tr], x[ok & te], y[ok & te],
                                  None if cov is None else cov[ok & tr], None if cov is None else cov[ok & te])
                                 for tr, te in masks]))
    elif train is not None and target is not None:
        if groups is not None:
            raise ValidationError("--groups makes folds of DATASET; with --train and --target there is one split")
        tr, tg = read_dataset(train), read_dataset(target)
        al = align(tr, tg)
        names = phenotype_names(tr, phenotype, covariates)
        ctr, ctg = _covariates(tr, covariates), _covariates(tg, covariates)
        tasks, fold_info = [], [{"fold": 0, "groups": [], "size": int(tg.table.n_taxa)}]
        # the target's observed values: the same columns, or without --phenotype its first (a
        # file of true values may name its column differently)
        scored = names if phenotype is not None else phenotype_names(tg, None, covariates)
        for name, as_named in zip(names, scored):
            y_tr, y_tg = tr.phenotype(name), tg.phenotype(as_named)
            ok = np.isfinite(y_tr)
            tasks.append((name, [(al.train[ok], y_tr[ok], al.target, y_tg, None if ctr is None else ctr[ok],
                                  None if ctg is None else ctg[:])]))
    else:
        raise ValidationError("give DATASET (cross-validation with --folds) or both --train and --target")
    for method in ("GBLUP", "RKHS"):
        if method in methods:
            _dense_gblup_fits(tasks, method)
    traits = {name: _run(splits, methods, model, bar, meta, seed, iterations, burn_in) for name, splits in tasks}
    first = traits[names[0]]
    return {**first, "traits": traits, "fold_info": fold_info}


def _dense_gblup_fits(tasks, method: str = "GBLUP") -> None:
    """Refuse, before any fold runs, a dense GBLUP (or RKHS regression, whose kernels are as
    large) whose largest training set would not fit in the memory available, naming the
    sizes and the method that fits (``gblup-cg``)."""
    n, nv, m = max(((len(s[1]), len(s[3]), s[0].shape[1]) for _, splits in tasks for s in splits), default=(0, 0, 0))
    need, avail = gblup_memory(n, nv, m), memory_available()
    if avail is not None and need > avail:
        raise GpfnError(f"{method} on {n:,} training individuals x {m:,} markers needs about {need / 2**30:.1f} GiB and "
                        f"{avail / 2**30:.1f} GiB is available: use --methods gblup-cg (GBLUP with no n x n matrix, "
                        f"about {iterative_memory(n, nv, m) / 2**30:.1f} GiB)")


def _run(splits, methods, model, bar, meta, seed, iterations, burn_in) -> dict[str, Any]:
    runs: dict[str, list] = {m: [] for m in methods}
    pooled: dict[str, list] = {m: [] for m in methods}
    observed, effects = [], []
    for x_tr, y_tr, x_tg, y_tg, c_tr, c_tg in splits:
        if c_tr is not None:  # covariates out of the phenotypes, fitted on this fold's training individuals
            b, _ = fixed_effects(x_tr, y_tr, c_tr[0])
            y_tr, y_tg = y_tr - c_tr[0] @ b, y_tg - c_tg[0] @ b
            effects.append(dict(zip(c_tr[1], map(float, b))))
        observed.append(y_tg)
        for method in methods:
            t0 = time.perf_counter()
            if method == "GPFN":
                pred = predict_traits(model, bar, meta, x_tr, y_tr[:, None], x_tg, seed=seed)[0]["mean"]
            elif method == "GBLUP":
                pred = gblup(x_tr, y_tr, x_tg).prediction
            elif method == "GBLUP-CG":
                pred = gblup_iterative(x_tr, y_tr, x_tg).prediction
            elif method == "ridge":
                pred = ridge(x_tr, y_tr, x_tg)
            elif method == "ElasticNet":
                pred = elastic_net(x_tr, y_tr, x_tg, seed=seed)
            elif method == "RKHS":
                pred = rkhs(x_tr, y_tr, x_tg)
            else:
                pred = bayes(x_tr, y_tr, x_tg, method.lower(), iterations=iterations, burn_in=burn_in,
                             seed=seed).prediction
            runs[method].append({**metrics(pred, y_tg), "seconds": time.perf_counter() - t0})
            pooled[method].append(pred)
    summary = {m: {k: float(np.nanmean([r[k] for r in runs[m]])) for k in ("pearson", "spearman", "rmse", "seconds")}
               for m in methods}
    out = {"summary": summary, "folds": runs, "observed": np.concatenate(observed),
           "predicted": {m: np.concatenate(v) for m, v in pooled.items()}}
    if effects:
        out["covariate_effects"] = {k: float(np.mean([e[k] for e in effects])) for k in effects[0]}
    return out


def _covariates(ds, names: list[str] | None):
    """``(matrix, labels)`` rows of ``ds``'s covariates ``names``, or None."""
    if not names:
        return None
    c, labels = ds.covariates(list(names))
    return _Rows(c, labels)


class _Rows:
    """A covariate matrix that indexes by rows and carries its column labels: ``rows[mask]`` is
    ``(matrix[mask], labels)``."""

    def __init__(self, c: np.ndarray, labels: list[str]) -> None:
        self.c, self.labels = c, labels

    def __getitem__(self, rows) -> tuple[np.ndarray, list[str]]:
        return self.c[rows], self.labels


def fold_splits(ds, folds: int, seed: int, groups: str | None
                ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[dict[str, Any]]]:
    """bool ``(training, test)`` masks over the taxa of each fold, and each fold's groups and
    size.  Random folds, folds of whole groups (:func:`fold_assignment`), or with two
    columns ``groups="female,male"`` (the parents of single crosses, ``gpfn parse
    --crosses``) folds of crosses with both parents untested (T0): each column's groups are
    dealt into ``folds`` folds, fold f's test crosses have both parents in its groups, its
    training crosses neither, and a cross with one parent in them is in neither set."""
    two = groups is not None and "," in groups and not Path(groups).is_file()  # a CSV's name may hold a comma
    names = [g.strip() for g in groups.split(",")] if two else []
    if not names:
        fold_of, info = fold_assignment(ds, folds, seed, groups)
        return [((fold_of >= 0) & (fold_of != f), fold_of == f) for f in range(len(info))], info
    if len(names) != 2 or not all(names):
        raise GpfnError(f"--groups {groups!r}: two columns (the two parents of each cross) or one group, not {len(names)}")
    (fa, ia), (fb, ib) = (fold_assignment(ds, folds, seed, name) for name in names)
    k = min(len(ia), len(ib))
    masks, info = [], []
    for f in range(k):
        test = (fa == f) & (fb == f)
        train = (fa >= 0) & (fb >= 0) & (fa != f) & (fb != f)
        masks.append((train, test))
        info.append({"fold": f, "groups": [f"{names[0]}={g}" for g in ia[f]["groups"]]
                     + [f"{names[1]}={g}" for g in ib[f]["groups"]], "size": int(test.sum()),
                     "left_out": int(((fa >= 0) & (fb >= 0) & ~train & ~test).sum())})
    return masks, info


def fold_assignment(ds, folds: int, seed: int, groups: str | None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """int ``[n]`` fold of each taxon (-1: in none) and each fold's groups and size.  Without
    ``groups``: random folds.  With them: whole groups (see :func:`evaluate`)."""
    n = ds.table.n_taxa
    if groups is None:
        fold_of = np.random.default_rng(seed).permutation(n) % folds
        return fold_of, [{"fold": f, "groups": [], "size": int((fold_of == f).sum())} for f in range(folds)]
    labels = group_labels(ds, groups)
    known = labels != ""
    names, inverse, sizes = np.unique(labels[known], return_inverse=True, return_counts=True)
    if names.size < 2:
        raise GpfnError(f"--groups {groups}: {names.size} group(s); folds of whole groups need at least two")
    if names.size <= folds:
        of_group = np.arange(names.size)
    else:  # deal the groups into folds, the largest first, each to the fold with fewest taxa
        of_group, taken = np.zeros(names.size, np.int64), np.zeros(folds)
        for g in np.argsort(-sizes, kind="stable"):
            of_group[g] = int(np.argmin(taken))
            taken[of_group[g]] += sizes[g]
    fold_of = np.full(n, -1)
    fold_of[known] = of_group[inverse]
    k = int(of_group.max()) + 1
    return fold_of, [{"fold": f, "groups": [str(g) for g in names[of_group == f]], "size": int((fold_of == f).sum())}
                     for f in range(k)]


def group_labels(ds, groups: str) -> np.ndarray:
    """str ``[n]`` group of each taxon ("" none): ``genomic`` clusters of the relationships (the
    families family GBLUP finds), a factor or phenotype column of ``ds``, or a CSV file of
    taxon,group."""
    if groups == "genomic":
        from gpfn_core.data.encoding import Encoding
        from gpfn_core.linear.family import family_labels
        from gpfn_core.linear.kinship import relationship

        x = Encoding.fit(ds.table.dosage).transform(ds.table.dosage)
        return np.array([f"cluster{c}" for c in family_labels(relationship(x, x[:0])[0])])
    if groups in ds.factor_names:
        return ds.factors[:, ds.factor_names.index(groups)]
    if groups in ds.phenotype_names:
        v = ds.phenotypes[:, ds.phenotype_names.index(groups)]
        return np.array(["" if not np.isfinite(a) else f"{a:g}" for a in v])
    path = Path(groups)
    if not path.is_file():
        raise GpfnError(f"--groups {groups!r}: not 'genomic', a column of the dataset ({', '.join(ds.factor_names + ds.phenotype_names)}) "
                        f"or a CSV file of taxon,group")
    from gpfn_core.data.phenotypes import read_phenotypes

    table = read_phenotypes(path)
    if not table.text_names and not table.names:
        raise GpfnError(f"{path}: no group column")
    col = (table.text[:, 0] if table.text_names else np.array([f"{a:g}" if np.isfinite(a) else "" for a in
                                                               table.values[:, 0]]))
    of = dict(zip(table.taxa, col))
    missing = [t for t in ds.table.taxa if t not in of]
    if len(missing) == len(ds.table.taxa):
        raise GpfnError(f"{path}: none of the dataset's taxa are in it (e.g. '{ds.table.taxa[0]}')")
    return np.array([of.get(t, "") for t in ds.table.taxa])


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """PNG: predicted vs observed per method, and mean Pearson r per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = result["observed"]
    methods = list(result["summary"])
    fig, axes = plt.subplots(1, len(methods) + 1, figsize=(4 * (len(methods) + 1), 4))
    folds = result.get("fold_info") or []
    if len(folds) > 1:  # each fold's size, and its groups where folds are of whole groups
        text = "; ".join(f"fold {f['fold']}: {f['size']}" + (f" ({', '.join(f['groups'][:4])}"
                                                               + (", ..." if len(f["groups"]) > 4 else "") + ")"
                                                               if f["groups"] else "") for f in folds)
        fig.text(0.01, 0.01, text, fontsize=7, wrap=True)
    for ax, m in zip(axes, methods):
        pred = result["predicted"][m]
        ax.scatter(obs, pred, s=8, alpha=0.6)
        ax.set_title(f"{m}  r = {result['summary'][m]['pearson']:.3f}")
        ax.set_xlabel("observed")
        ax.set_ylabel("predicted")
    rs = [result["summary"][m]["pearson"] for m in methods]
    colours = {"GPFN": "tab:green", "GBLUP": "tab:blue", "GBLUP-CG": "tab:cyan", "ridge": "tab:gray",
               "ElasticNet": "tab:red", "RKHS": "tab:brown", "BayesB": "tab:orange", "BayesCpi": "tab:purple"}
    axes[-1].bar(methods, rs, color=[colours[m] for m in methods])
    axes[-1].set_ylabel("mean Pearson r")
    axes[-1].set_title("accuracy")
    fig.tight_layout(rect=(0, 0.06 if len(folds) > 1 else 0, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = temp_path(path, ".png")
    try:
        fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return publish(tmp, path, overwrite=True)
