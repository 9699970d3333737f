"""The `loo_choice` anchor: one smoother column chosen by leave-one-out fit, or all of them
weighed by it (pseudo-BMA+).

The anchor reads the smoother mean columns (GBLUP and the marker-weighted kernel, each at
every h2 of the grid) and their leave-one-out (or cross-fitted) values on the training
individuals.  Two ways to turn those into one prediction:

- **argmin**: the column with the smallest leave-one-out mean squared error (what the
  anchor was before pseudo-BMA+);
- **pseudo-BMA+** (Yao et al. 2018): every column, weighed by the softmax of its
  leave-one-out log predictive density (normal, the column's mean squared error as the
  variance), averaged over Bayesian-bootstrap reweightings of the individuals
  (:func:`gpfn_core.net.preprocess.loo_choice`, what ships);
- **tempered pseudo-BMA** at 1/2 and 1/4 of the log density (no bootstrap): how much a
  softer weighting than the plain pseudo-BMA's would gain, as a check on the choice.

On draws of each model's own prior (``--draws-from`` selection by default: decisions are
made on them), at the population size the model is validated at and, with ``--n-train``,
at that many training individuals (``--targets`` targets): r with the targets' true
genetic values of each version of the anchor, and of the model's blend (its shipped
stacking weights) with the argmin anchor and with pseudo-BMA+.  Paired differences against
argmin with their SEs; ``--record`` writes every draw's r (record ``loo-weights-SET``).

    python benchmarks/bench_loo_weights.py [--draws 200] [--n-train 1000 --targets 200] [--record]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from pathlib import Path

import numpy as np

MODELS = ("nam", "ril", "diverse", "silva", "recurrent", "outbred", "hybrid", "universal")
ROOT = Path(__file__).resolve().parents[1]
SIZE_OFFSET = 30_000_000  # draws at --n-train: indices apart from the validation-size ones


def argmin_choice(loo: np.ndarray, y: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The target column of the smoother whose leave-one-out values fit ``y`` best."""
    return target[:, int(np.argmin(((loo - y[:, None]) ** 2).mean(0)))]


def tempered(loo: np.ndarray, y: np.ndarray, target: np.ndarray, temperature: float) -> np.ndarray:
    """Pseudo-BMA weights with the log predictive densities times ``temperature``."""
    mse = np.maximum(((loo - y[:, None]) ** 2).mean(0), 1e-12)
    lw = -temperature * len(y) / 2 * np.log(mse)
    w = np.exp(lw - lw.max())
    return target @ (w / w.sum())


def sd_columns(f_train: np.ndarray, n_features: int, smoothers) -> tuple[np.ndarray, np.ndarray]:
    """Each smoother mean column's leave-one-out sd column ``[n, C]`` and its h2 ``[C]`` (for
    ``bma``: the h2 grid averaged with its posterior weights), in the order of
    :func:`~gpfn_core.net.preprocess.smoother_mean_columns`."""
    from gpfn_core.linear.smoothers import BMA_WIDTH, H2_GRID
    from gpfn_core.net.preprocess import parse_smoothers

    grid, g = np.asarray(H2_GRID), len(H2_GRID)
    sds, h2s, at = [], [], n_features
    for name in parse_smoothers(smoothers):
        if name == "bma":
            sds.append(f_train[:, at + 1 : at + 2])
            h2s.append([float(f_train[0, at + 2 : at + 2 + g] @ grid)])
            at += BMA_WIDTH
        else:
            sds.append(f_train[:, at + g : at + 2 * g])
            h2s.append(grid)
            at += 2 * g
    return np.concatenate(sds, axis=1).astype(np.float64), np.concatenate(h2s).astype(np.float64)


def gp_density(loo: np.ndarray, sds: np.ndarray, h2: np.ndarray, y: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pseudo-BMA+ with each column's own leave-one-out predictive density: normal, with the
    Gaussian process's predictive variance sd_i^2 + (1 - h2) of each individual's phenotype
    (its leave-one-out sd column and the column's noise share on the standardised scale)
    instead of one variance per column fitted to its errors (Sundararajan and Keerthi 2001)."""
    var = np.maximum(sds**2 + (1.0 - h2)[None, :], 1e-12)
    lpd = -0.5 * np.log(var) - 0.5 * (loo - y[:, None]) ** 2 / var
    from gpfn_core.net.preprocess import pseudo_bma_weights

    return target @ pseudo_bma_weights(lpd)


def _one(job: tuple[str, str, int, int | None, int]) -> dict | None:
    import torch
    from threadpoolctl import threadpool_limits

    from gpfn_core.models.scoring import draw_set
    from gpfn_core.net.config import config_of_model
    from gpfn_core.net.draws import build
    from gpfn_core.net.inference import member_outputs, model_context
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.net.preprocess import (
        STACK_ANCHORS,
        loo_choice,
        prepare,
        smoother_mean_columns,
    )
    from gpfn_core.net.stacking import stack_weights, stacked
    from gpfn_core.registry import get_registry

    name, draws_from, j, n_train, targets = job
    threadpool_limits(1)
    torch.set_num_threads(1)
    path = ROOT / "gpfn_core" / "models" / f"{name}.gpfn"
    model, bar, meta = load_model(path)
    cfg = config_of_model(path, meta)
    start, cfg.seed = draw_set(draws_from)
    cfg.overrides = {}
    prior, _ = build(cfg)
    if n_train is None:
        d = prior.draw(start + j, fixed={"pop_size": cfg.validation_pop_size})
    else:
        d = prior.draw(start + SIZE_OFFSET + j, fixed={"pop_size": n_train + targets,
                                                       "train_fraction": n_train / (n_train + targets)})
    nt = d.n_train
    truth, y = d.g[nt:], d.y[:nt].astype(np.float64)
    if y.std() == 0 or truth.std() == 0:
        return None
    fit = meta.get("fit_config", {})
    sm = fit.get("smoothers", "")
    sel = get_registry().get("selector", meta["feature_selection"])(int(meta["n_features"]), seed=0)
    p = prepare(d.x[:nt], y, d.x[nt:], sel, sm, anchors=True)
    cols = [int(meta["n_features"]) + c for c in smoother_mean_columns(sm)]
    loo, tgt = p.train[:, cols].astype(np.float64), p.target[:, cols].astype(np.float64)
    z = p.y_train.astype(np.float64)
    r = lambda v: float(np.corrcoef(v, truth)[0, 1])
    old = argmin_choice(loo, z, tgt)
    sds, h2s = sd_columns(p.train, int(meta["n_features"]), sm)
    gp = gp_density(loo, sds, h2s, z, tgt)
    out = {"n_train": nt, "argmin": r(old), "pseudo-BMA+": r(loo_choice(p.train, z, p.target, int(meta["n_features"]), sm)),
           "tempered 1/2": r(tempered(loo, z, tgt, 0.5)), "tempered 1/4": r(tempered(loo, z, tgt, 0.25)),
           "GP density": r(gp)}
    context = model_context(fit.get("context"), fit.get("max_training_samples"), meta.get("pop_max_size", 1000))
    members = member_outputs(model, bar, p.train, p.y_train, p.target, context)
    stack = stack_weights(meta)
    k = STACK_ANCHORS.index("loo_choice")
    before = p.anchors.copy()
    before[:, k] = old
    out["blend, argmin"] = r(stacked(members, before, stack, nt)[0]["mean"])
    out["blend, pseudo-BMA+"] = r(stacked(members, p.anchors, stack, nt)[0]["mean"])
    with_gp = p.anchors.copy()
    with_gp[:, k] = gp
    out["blend, GP density"] = r(stacked(members, with_gp, stack, nt)[0]["mean"])
    out["loo weight"] = float(stack.at(nt)[0][1 + k]) if stack is not None else 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--draws-from", default="selection", choices=["selection", "final"])
    ap.add_argument("--n-train", type=int, default=None, help="Training individuals (default: the model's "
                    "validation population with its prior's split).")
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    names = a.models.split(",")
    jobs = [(m, a.draws_from, j, a.n_train, a.targets) for m in names for j in range(a.draws)]
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(_one, jobs, chunksize=2)
    res: dict[str, list[dict]] = {}
    for (m, *_), row in zip(jobs, rows):
        if row is not None:
            res.setdefault(m, []).append(row)
    methods = ["pseudo-BMA+", "tempered 1/2", "tempered 1/4", "GP density"]
    size = "the validation population" if a.n_train is None else f"{a.n_train} training individuals"
    print(f"\n{a.draws} {a.draws_from} draws of each model's prior at {size}: r with the true values, "
          "paired differences against argmin ± SE\n")
    print("| model | training (median) | loo weight | argmin | " + " | ".join(methods)
          + " | blend, argmin | blend, pseudo-BMA+ − argmin | blend, GP density − pseudo-BMA+ |")
    print("| --- " * (7 + len(methods)) + "|")
    for m, rs in res.items():
        v = {k: np.array([row[k] for row in rs]) for k in rs[0]}

        def diff(x, y, v=v):
            d = v[x] - v[y]
            return f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f}"

        print(f"| {m} | {int(np.median(v['n_train']))} | {np.median(v['loo weight']):.2f} | {v['argmin'].mean():.3f} | "
              + " | ".join(diff(k, "argmin") for k in methods)
              + f" | {v['blend, argmin'].mean():.3f} | {diff('blend, pseudo-BMA+', 'blend, argmin')} "
              f"| {diff('blend, GP density', 'blend, pseudo-BMA+')} |")
    if a.record:
        from records import write

        tag = "" if a.n_train is None else f"-n{a.n_train}"
        path = write(f"loo-weights-{a.draws_from}{tag}",
                     {m: {k: [row[k] for row in rs] for k in rs[0]} for m, rs in res.items()},
                     models=[ROOT / "gpfn_core" / "models" / f"{m}.gpfn" for m in res],
                     data={"draws_from": a.draws_from, "draws": a.draws, "n_train": a.n_train, "targets": a.targets})
        print(f"recorded: {path}")


if __name__ == "__main__":
    main()
