"""Feature-selector speed: 1,000 training individuals x 20,000 markers -> 100 features, one core.

Each built-in selector's fit + transform time, beside scikit-learn's full-SVD PCA
(the original GPFN's `pca`) measured in the same run as the baseline.  The input is
a real prior draw (NAM, msprime founders by default) run through gpfn's encoding.

    python benchmarks/bench_selectors.py [--founders random] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")


from gpfn_core.data.encoding import Encoding, Standardizer# noqa: E402
from gpfn_core.registry import get_registry  # noqa: E402


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--founders", default="msprime", choices=["msprime", "random"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--features", type=int, default=100)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    reg = get_registry()
    over = {"pop_size": 2000, "train_fraction": 0.5, "n_markers": 20000}
    if args.founders == "random":
        from gpfn_core.sim.founders import RandomFounders

        founders = RandomFounders(n_loci=20000, n_chromosomes=10)
    else:
        founders = "msprime"
    d = reg.make_prior("ril", seed=0, overrides=over, founders=founders).draw(0)
    n = 1000
    enc = Encoding.fit(d.x[:n])
    x, xt = enc.transform(d.x[:n]), enc.transform(d.x[n:])
    y = Standardizer.fit(d.y[:n]).transform(d.y[:n])
    print(f"# {x.shape[0]} training + {xt.shape[0]} target individuals x {x.shape[1]} markers -> {args.features} features, 1 thread")

    from sklearn.decomposition import PCA as SkPCA

    def sk(solver):
        p = SkPCA(args.features, svd_solver=solver, random_state=0).fit(x)
        p.transform(x), p.transform(xt)

    base = best_time(lambda: sk("full"), 1)
    auto = best_time(lambda: sk("auto"), args.repeats)
    rows = [("sklearn PCA full (baseline)", base, 1.0), ("sklearn PCA auto (original GPFN)", auto, base / auto)]
    for name in reg.names("selector"):
        def run(name=name):
            s = reg.get("selector", name)(args.features, seed=0).fit(x, y)
            s.transform(x), s.transform(xt)

        t = best_time(run, args.repeats)
        rows.append((name, t, base / t))
    w = max(len(r[0]) for r in rows)
    print(f"{'selector'.ljust(w)}  {'seconds':>8}  {'speed-up vs sklearn PCA':>24}")
    print(f"{'-' * w}  {'-' * 8}  {'-' * 24}")
    for name, t, ratio in rows:
        print(f"{name.ljust(w)}  {t:8.3f}  {ratio:24.1f}")


if __name__ == "__main__":
    main()
