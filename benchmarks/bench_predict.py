"""End-to-end `gpfn predict` time: 1,000 training + 1,000 target individuals x 50,000 markers.

Beside it, GBLUP (REML) on the same datasets in the same run, both including reading
the Dataset files.  The model is ``--model`` or, by default, one of the default `gpfn fit`
architecture (6 layers x 256, 100 PCA features, GBLUP and sparse smoothers) with
untrained weights, which does not change the time.

Second table: every trait in one call.  Six traits of 2,500 training individuals, 2,500
targets x 5,000 markers: one `gpfn predict --phenotype all` against six `gpfn predict
--phenotype NAME` calls, with the shipped ``nam`` model (``--model`` to change it).

    python benchmarks/bench_predict.py [--markers 50000] [--threads 2] [--model FILE] [--sections 1,2] [--record]
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
    """Best-of-``repeats`` seconds of GBLUP (REML) and of ``gpfn predict`` on the same Dataset files,
    the two taking turns.

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
        # the two alternate, so a drift of the machine's speed during the run reaches both alike
        ts: dict[str, list[float]] = {"gblup": [], "gpfn": []}
        for _ in range(repeats):
            for name, fn in (("gblup", run_gblup), ("gpfn", run_gpfn)):
                t0 = time.perf_counter()
                fn()
                ts[name].append(time.perf_counter() - t0)
        times.update({name: min(v) for name, v in ts.items()})
    return times


def time_traits(model_path: Path, n_train: int = 2500, n_target: int = 2500, markers: int = 5000, traits: int = 6,
                repeats: int = 1, missing: float = 0.0) -> dict[str, float]:
    """Best-of-``repeats`` seconds of one ``predict(phenotype="all")`` and of one call per trait,
    on a training Dataset with ``traits`` correlated phenotypes observed on every training
    individual (as a trial's BLUEs are; ``missing``: the share each trait misses, on its own
    individuals) and the same targets."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_pair(tmp, n_train, n_target, markers)
        tr = read_dataset(tmp / "train.gpfn")
        rng = np.random.default_rng(1)
        y = tr.phenotype()
        ys = np.column_stack([y * rng.uniform(-1, 1) + rng.normal(0, y.std(), y.size) for _ in range(traits)])
        if missing:  # each trait missing on its own individuals: they share the encoding only
            ys[rng.random(ys.shape) < missing] = np.nan
        names = [f"trait{k}" for k in range(traits)]
        write_dataset(tmp / "traits.gpfn", Dataset(tr.table, ys, names), overwrite=True)

        def one_call():
            predict(model_path, tmp / "traits.gpfn", tmp / "target.gpfn", tmp / "all.csv", phenotype="all",
                    overwrite=True, device="cpu")

        def per_trait():
            for name in names:
                predict(model_path, tmp / "traits.gpfn", tmp / "target.gpfn", tmp / f"{name}.csv", phenotype=name,
                        overwrite=True, device="cpu")

        times = {"train": tr.table.n_taxa, "target": n_target, "markers": tr.table.n_markers, "traits": traits}
        for name, fn in (("per_trait", per_trait), ("one_call", one_call)):
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
    ap.add_argument("--sections", default="1,2", help="1: predict against GBLUP; 2: six traits in one call")
    ap.add_argument("--record", action="store_true", help="write the results to benchmarks/results/")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sections = {int(x) for x in args.sections.split(",")}
    results = {}
    if 1 in sections:
        t = results["predict"] = time_predict(args.model, args.train, args.target, args.markers, args.repeats)
        print(f"# {t['train']} training + {t['target']} target individuals x {t['markers']} markers, {args.threads} "
              f"threads, model {args.model or 'untrained, default architecture'}")
        print(f"{'what':24}  {'seconds':>8}  {'vs GBLUP':>8}")
        for name, key in (("GBLUP (REML), baseline", "gblup"), ("gpfn predict", "gpfn")):
            print(f"{name:24}  {t[key]:8.2f}  {t[key] / t['gblup']:8.2f}")
    if 2 in sections:
        from gpfn_core.models.lookup import find_model

        model = args.model or find_model("nam")
        t = results["traits"] = time_traits(model)
        print(f"\n# {t['traits']} traits of {t['train']} training individuals, 2500 targets x {t['markers']} markers, "
              f"{args.threads} threads, model {model}")
        print(f"{'what':34}  {'seconds':>8}  {'speed-up':>8}")
        print(f"{'one call per trait, baseline':34}  {t['per_trait']:8.2f}  {1:8.2f}")
        print(f"{'one call, --phenotype all':34}  {t['one_call']:8.2f}  {t['per_trait'] / t['one_call']:8.2f}")
    if args.record:
        import sys

        sys.path.insert(0, str(Path(__file__).parent))
        from records import write

        print(f"recorded: {write('predict', results, models=[args.model] if args.model else [])}")

if __name__ == "__main__":
    main()
