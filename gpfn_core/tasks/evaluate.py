"""`gpfn evaluate`: GPFN against GBLUP, ridge regression, a CV elastic net, BayesB and BayesCπ on the same folds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.atomic import publish, remove_stale, temp_path
from gpfn_core.data.dataset import read_dataset
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.linear.baselines import elastic_net, ridge
from gpfn_core.linear.bayes import bayes
from gpfn_core.linear.gblup import gblup
from gpfn_core.net.inference import resolve_device
from gpfn_core.net.modelfile import load_model
from gpfn_core.tasks.predict import align, predict_arrays

METHODS = ("GPFN", "GBLUP", "ridge", "ElasticNet", "BayesB", "BayesCpi")  # every method evaluate knows, in table order
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
    def rank(a):
        return np.argsort(np.argsort(a)).astype(float)

    ok = np.isfinite(obs)
    p, o = pred[ok], obs[ok]
    if p.size < 3 or p.std() == 0 or o.std() == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "rmse": float(np.sqrt(np.mean((p - o) ** 2)))}
    return {"pearson": float(np.corrcoef(p, o)[0, 1]), "spearman": float(np.corrcoef(rank(p), rank(o))[0, 1]),
            "rmse": float(np.sqrt(np.mean((p - o) ** 2)))}


def evaluate(model_path: str | Path, *, dataset: str | Path | None = None, folds: int = 5,
             train: str | Path | None = None, target: str | Path | None = None, phenotype: str | None = None,
             seed: int = 0, device: str = "auto", methods: str | tuple[str, ...] | None = None,
             iterations: int = 6000, burn_in: int = 1000) -> dict[str, Any]:
    """Per-fold metrics and pooled predictions of each method (``iterations``/``burn_in``: the
    Bayesian samplers')."""
    methods = parse_methods(methods)
    if any(m.startswith("Bayes") for m in methods) and not 0 <= burn_in < iterations:
        raise ValidationError(f"need 0 <= --burn-in ({burn_in}) < --iterations ({iterations})")
    dev = resolve_device(device)
    model, bar, meta = load_model(model_path, dev) if "GPFN" in methods else (None, None, None)
    splits = []
    if dataset is not None:
        if train is not None or target is not None:
            raise ValidationError("give either DATASET (with --folds) or --train and --target, not both")
        if folds < 2:
            raise ValidationError(f"--folds must be >= 2, got {folds}")
        ds = read_dataset(dataset)
        y = ds.phenotype(phenotype)
        keep = np.flatnonzero(np.isfinite(y))
        if keep.size < 2 * folds:
            raise GpfnError(f"{dataset}: {keep.size} phenotyped taxa are too few for {folds} folds")
        x, y = ds.table.dosage[keep], y[keep]
        fold_of = np.random.default_rng(seed).permutation(keep.size) % folds
        for f in range(folds):
            splits.append((x[fold_of != f], y[fold_of != f], x[fold_of == f], y[fold_of == f]))
    elif train is not None and target is not None:
        tr, tg = read_dataset(train), read_dataset(target)
        al = align(tr, tg)
        y_tr, y_tg = tr.phenotype(phenotype), tg.phenotype(phenotype)
        ok = np.isfinite(y_tr)
        splits.append((al.train[ok], y_tr[ok], al.target, y_tg))
    else:
        raise ValidationError("give DATASET (cross-validation with --folds) or both --train and --target")
    runs: dict[str, list] = {m: [] for m in methods}
    pooled: dict[str, list] = {m: [] for m in methods}
    observed: list = []
    for x_tr, y_tr, x_tg, y_tg in splits:
        observed.append(y_tg)
        for method in methods:
            t0 = time.perf_counter()
            if method == "GPFN":
                pred = predict_arrays(model, bar, meta, x_tr, y_tr, x_tg, seed=seed)["mean"]
            elif method == "GBLUP":
                pred = gblup(x_tr, y_tr, x_tg).prediction
            elif method == "ridge":
                pred = ridge(x_tr, y_tr, x_tg)
            elif method == "ElasticNet":
                pred = elastic_net(x_tr, y_tr, x_tg, seed=seed)
            else:
                pred = bayes(x_tr, y_tr, x_tg, method.lower(), iterations=iterations, burn_in=burn_in,
                             seed=seed).prediction
            runs[method].append({**metrics(pred, y_tg), "seconds": time.perf_counter() - t0})
            pooled[method].append(pred)
    summary = {m: {k: float(np.nanmean([r[k] for r in runs[m]])) for k in ("pearson", "spearman", "rmse", "seconds")}
               for m in methods}
    return {"summary": summary, "folds": runs, "observed": np.concatenate(observed),
            "predicted": {m: np.concatenate(v) for m, v in pooled.items()}}


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """PNG: predicted vs observed per method, and mean Pearson r per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = result["observed"]
    methods = list(result["summary"])
    fig, axes = plt.subplots(1, len(methods) + 1, figsize=(4 * (len(methods) + 1), 4))
    for ax, m in zip(axes, methods):
        pred = result["predicted"][m]
        ax.scatter(obs, pred, s=8, alpha=0.6)
        ax.set_title(f"{m}  r = {result['summary'][m]['pearson']:.3f}")
        ax.set_xlabel("observed")
        ax.set_ylabel("predicted")
    rs = [result["summary"][m]["pearson"] for m in methods]
    colours = {"GPFN": "tab:green", "GBLUP": "tab:blue", "ridge": "tab:gray", "ElasticNet": "tab:red",
               "BayesB": "tab:orange",
               "BayesCpi": "tab:purple"}
    axes[-1].bar(methods, rs, color=[colours[m] for m in methods])
    axes[-1].set_ylabel("mean Pearson r")
    axes[-1].set_title("accuracy")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = temp_path(path, ".png")
    try:
        fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return publish(tmp, path, overwrite=True)
