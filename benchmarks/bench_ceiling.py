"""How far above GBLUP the model's own inputs can take a prediction, on its held-out draws.

The model sees GBLUP at 8 fixed heritabilities and a marker-weighted (sparse) kernel at
the same 8, each with leave-one-out (or cross-fitted) values for the training rows.  On
the same held-out draws as `bench_accuracy` section 1 (the model file's prior and
population size, prior seed ``--seed``), this scores rules that combine those 16 columns
using only the training rows, against GBLUP with REML:

- **LOO choice**: the column with the smallest leave-one-out error (cross-validation);
- **soft choice**: all columns weighted by exp(-n/2 log LOO-MSE) (a pseudo-likelihood);
- **BMA over h2**: the gblup columns weighted by their marginal likelihood (Bayesian
  averaging over the heritability grid instead of REML's point estimate);
- **NNLS stack**: non-negative least squares of the phenotypes on the LOO columns;
- **oracle**: the best column in hindsight (needs the true values; no method has it).

GPFN (``--model``, default the shipped NAM model) is scored on the same draws, as
``gpfn predict`` gives it (blended with the BMA and leave-one-out-choice rows by the
file's stacking weights, see :mod:`gpfn_core.net.stacking`) and its network alone.  If every rule is level with GBLUP and
only the oracle is ahead, the inputs hold no more than GBLUP for a selector to find, and
a larger margin needs inputs or training that know more.

    python benchmarks/bench_ceiling.py [--model gpfn_core/models/nam.gpfn] [--draws 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import nnls

from gpfn_core.linear.gblup import gblup
from gpfn_core.linear.kinship import Kinship
from gpfn_core.linear.smoothers import H2_GRID, marginal_loglik, posterior_weights, smoother_features
from gpfn_core.linear.sparse import sparse_smoother_features
from gpfn_core.models.cards import architecture_thirds
from gpfn_core.models.lookup import model_file
from gpfn_core.net.config import config_of_model as fit_config_of, HELDOUT_INDEX
from gpfn_core.net.modelfile import load_model
from gpfn_core.tasks.predict import predict_arrays
from gpfn_core.data.encoding import Encoding, Standardizer
from gpfn_core.net.draws import build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="Model file, or a population type whose shipped model to use "
                    "(default: nam); its prior and population size give the draws; GPFN's row.")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1, help="Prior seed of the draws (bench_accuracy --heldout-seed).")
    a = ap.parse_args()
    path = model_file(a.model)
    model = load_model(path)
    cfg = fit_config_of(path, model[2])
    cfg.seed = a.seed
    prior, _ = build(cfg)
    g = len(H2_GRID)
    names = ["LOO choice", "soft choice", "BMA over h2 (gblup columns)", "NNLS stack", "oracle (best column)",
             "GPFN (as gpfn predict: stacked where the file has weights)", "GPFN network alone"]
    rows, t = [], time.perf_counter()
    for j in range(a.draws):
        d = prior.draw(HELDOUT_INDEX + j, fixed={"pop_size": cfg.validation_pop_size})
        nt, truth = d.n_train, d.g[d.n_train:]
        enc = Encoding.fit(d.x[:nt])
        xt, xv = enc.transform(d.x[:nt]), enc.transform(d.x[nt:])
        z = Standardizer.fit(d.y[:nt]).transform(d.y[:nt]).astype(np.float64)

        def r(p):
            return float(np.corrcoef(p, truth)[0, 1]) if np.std(p) > 0 else 0.0

        kin = Kinship.of(xt)
        cols = [smoother_features(xt, z, xv, kinship=kin), sparse_smoother_features(xt, z, xv)]
        tr = np.concatenate([c[0][:, :g] for c in cols], 1).astype(np.float64)
        tv = np.concatenate([c[1][:, :g] for c in cols], 1).astype(np.float64)
        err = ((tr - z[:, None]) ** 2).mean(0)
        w, _ = nnls(tr, z)
        row = [r(gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction), r(tv[:, np.argmin(err)]),
               r(tv @ posterior_weights(-0.5 * nt * np.log(err))), r(tv[:, :g] @ posterior_weights(marginal_loglik(kin, z))),
               r(tv @ w) if w.any() else 0.0, max(r(tv[:, k]) for k in range(2 * g))]
        res = predict_arrays(*model, d.x[:nt], d.y[:nt], d.x[nt:])
        row += [r(res["mean"]), r(res["network_mean"])]
        rows.append((d.params.get("poly_share", np.nan), row))
    share = np.array([s for s, _ in rows], float)
    r_ = np.array([x for _, x in rows], float)
    print(f"# bench_ceiling: {a.draws} held-out draws of `{cfg.prior}` (seed {a.seed}, pop "
          f"{cfg.validation_pop_size}), model {path}; {time.perf_counter() - t:.0f} s\n")
    thirds = architecture_thirds(share)
    print("| rule | mean r | − GBLUP ± SE | wins | " + " | ".join(n for n, _ in thirds) + " |")
    print("| --- " * (4 + len(thirds)) + "|")
    print(f"| GBLUP (REML), baseline | {r_[:, 0].mean():.3f} | | |" + " |" * len(thirds))
    for k, name in enumerate(names):
        d = r_[:, k + 1] - r_[:, 0]
        print(f"| {name} | {r_[:, k + 1].mean():.3f} | {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f} | "
              f"{100 * (d > 0).mean():.0f}% | " + " | ".join(f"{d[sel].mean():+.3f}" for _, sel in thirds) + " |")


if __name__ == "__main__":
    main()
