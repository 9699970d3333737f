"""End-to-end `gpfn predict` time: 1,000 training + 1,000 target individuals x 50,000 markers.

Beside it, GBLUP (REML) on the same datasets in the same run, both including reading
the Dataset files.  The model has the default `gpfn fit` architecture (6 layers x 256,
100 PCA features); its weights are untrained, which does not change the time.

    python benchmarks/bench_predict.py [--markers 50000] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gpfn_core import GenotypeTable
from gpfn_core.bar import BarDistribution
from gpfn_core.dataset import Dataset, read_dataset, write_dataset
from gpfn_core.founders import RandomFounders
from gpfn_core.gblup import gblup
from gpfn_core.model import PFN, ModelConfig
from gpfn_core.modelfile import save_model
from gpfn_core.predict import predict
from gpfn_core.registry import get_registry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--target", type=int, default=1000)
    ap.add_argument("--markers", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.train + args.target
    prior = get_registry().make_prior("wild", seed=0, founders=RandomFounders(n_loci=args.markers, n_chromosomes=10),
                                      overrides={"pop_size": n, "n_markers": args.markers, "founder_size": 1000,
                                                 "generations": 5, "train_fraction": args.train / n})
    d = prior.draw(0)
    m = d.x.shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def table(rows):
            return GenotypeTable(np.array([f"t{i}" for i in rows]), np.array([f"m{j}" for j in range(m)]),
                                 np.array(["1"] * m), np.arange(m), np.array(["A"] * m), np.array(["G"] * m), d.x[rows])

        nt = d.n_train
        write_dataset(tmp / "train.gpfn", Dataset(table(np.arange(nt)), d.y[:nt, None].astype(float), ["y"]))
        write_dataset(tmp / "target.gpfn", Dataset(table(np.arange(nt, d.n))))
        cfg = ModelConfig(n_features=100, emb_size=256, num_layers=6, num_heads=4, hidden_dim=1024, num_buckets=1000)
        model = PFN(cfg)
        save_model(tmp / "m.gpfn", model, BarDistribution(np.linspace(-4, 4, 1001)),
                   {"feature_selection": "pca", "n_features": 100, "pop_max_size": 1000,
                    "fit_config": {"max_training_samples": 990}})

        def run_gpfn():
            predict(tmp / "m.gpfn", tmp / "train.gpfn", tmp / "target.gpfn", tmp / "out.csv", overwrite=True,
                    device="cpu")

        def run_gblup():
            tr, tg = read_dataset(tmp / "train.gpfn"), read_dataset(tmp / "target.gpfn")
            gblup(tr.table.dosage, tr.phenotype(), tg.table.dosage)

        times = {}
        for name, fn in (("GBLUP (REML), baseline", run_gblup), ("gpfn predict", run_gpfn)):
            ts = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            times[name] = min(ts)
    base = times["GBLUP (REML), baseline"]
    print(f"# {nt} training + {d.n - nt} target individuals x {m} markers, {args.threads} threads, "
          f"model {model.n_parameters() / 1e6:.1f} M parameters")
    print(f"{'what':24}  {'seconds':>8}  {'vs GBLUP':>8}")
    for name, t in times.items():
        print(f"{name:24}  {t:8.2f}  {t / base:8.2f}")


if __name__ == "__main__":
    main()
