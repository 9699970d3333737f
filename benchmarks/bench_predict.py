"""End-to-end `gpfn predict` time: 1,000 training + 1,000 target individuals x 50,000 markers.

Beside it, GBLUP (REML) on the same datasets in the same run, both including reading
the Dataset files.  The model is ``--model`` or, by default, one of the default `gpfn fit`
architecture (6 layers x 256, 100 PCA features, GBLUP and sparse smoothers) with
untrained weights, which does not change the time.

    python benchmarks/bench_predict.py [--markers 50000] [--threads 2] [--model FILE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gpfn_core import GenotypeTable
from gpfn_core.net.bar import BarDistribution
from gpfn_core.data.dataset import Dataset, read_dataset, write_dataset
from gpfn_core.sim.founders import RandomFounders
from gpfn_core.linear.gblup import gblup
from gpfn_core.net.model import PFN
from gpfn_core.net.modelfile import save_model
from gpfn_core.tasks.predict import predict
from gpfn_core.registry import get_registry
from gpfn_core.net.config import FitConfig


def write_pair(folder: Path, n_train: int, n_target: int, markers: int) -> tuple[Path, Path]:
    """A training and a target Dataset (a wild prior draw on random founders) in ``folder``."""
    n = n_train + n_target
    prior = get_registry().make_prior("wild", seed=0, founders=RandomFounders(n_loci=markers, n_chromosomes=10),
                                      overrides={"pop_size": n, "n_markers": markers, "founder_size": 1000,
                                                 "generations": 5, "train_fraction": n_train / n})
    d = prior.draw(0)
    m = d.x.shape[1]

    def table(rows):
        return GenotypeTable(np.array([f"t{i}" for i in rows]), np.array([f"m{j}" for j in range(m)]),
                             np.array(["1"] * m), np.arange(m), np.array(["A"] * m), np.array(["G"] * m), d.x[rows])

    nt = d.n_train
    train = write_dataset(folder / "train.gpfn", Dataset(table(np.arange(nt)), d.y[:nt, None].astype(float), ["y"]),
                          overwrite=True)
    target = write_dataset(folder / "target.gpfn", Dataset(table(np.arange(nt, d.n))), overwrite=True)
    return train, target


def time_predict(model_path: Path | None = None, n_train: int = 1000, n_target: int = 1000, markers: int = 50_000,
                 repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` seconds of GBLUP (REML) and of ``gpfn predict`` on the same Dataset files.

    ``model_path``: a model file (default: an untrained model of the default `gpfn fit`
    architecture with the default smoothers; weights do not change the time)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_pair(tmp, n_train, n_target, markers)
        tr, tg = read_dataset(tmp / "train.gpfn"), read_dataset(tmp / "target.gpfn")
        nt, m = tr.table.n_taxa, tr.table.n_markers
        if model_path is None:
            cfg = FitConfig(prior="wild")
            model_path = tmp / "m.gpfn"
            save_model(model_path, PFN(cfg.model_config()), BarDistribution(np.linspace(-4, 4, 1001)),
                       {"feature_selection": cfg.feature_selection, "n_features": cfg.feature_max_size,
                        "pop_max_size": 1000, "fit_config": {"max_training_samples": 990, "smoothers": cfg.smoothers}})

        def run_gpfn():
            predict(model_path, tmp / "train.gpfn", tmp / "target.gpfn", tmp / "out.csv", overwrite=True,
                    device="cpu")

        def run_gblup():
            tr, tg = read_dataset(tmp / "train.gpfn"), read_dataset(tmp / "target.gpfn")
            gblup(tr.table.dosage, tr.phenotype(), tg.table.dosage)

        times = {"train": nt, "target": tg.table.n_taxa, "markers": m}
        for name, fn in (("gblup", run_gblup), ("gpfn", run_gpfn)):
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            times[name] = min(ts)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--target", type=int, default=1000)
    ap.add_argument("--markers", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None, help="Model file (default: untrained, default architecture).")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time_predict(args.model, args.train, args.target, args.markers, args.repeats)
    print(f"# {t['train']} training + {t['target']} target individuals x {t['markers']} markers, {args.threads} threads, "
          f"model {args.model or 'untrained, default architecture'}")
    print(f"{'what':24}  {'seconds':>8}  {'vs GBLUP':>8}")
    for name, key in (("GBLUP (REML), baseline", "gblup"), ("gpfn predict", "gpfn")):
        print(f"{name:24}  {t[key]:8.2f}  {t[key] / t['gblup']:8.2f}")


if __name__ == "__main__":
    main()
