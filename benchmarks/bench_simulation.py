"""Simulation speed: per prior, and meiosis throughput against a per-offspring baseline.

Prints two tables (one CPU core unless --threads says otherwise):

1. per prior: median seconds per draw (simulation only, and simulation + PCA to 100
   features), peak traced memory, markers per draw;
2. meiosis: offspring x markers per second of gpfn's bit-packed engine beside two
   baselines measured in the same run: a per-offspring Python loop (the original
   GPFN's style) and a dense (one byte per allele) vectorized numpy version.

    python benchmarks/bench_simulation.py [--draws 5] [--founders msprime|random]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from gpfn_core import GeneticMap, Population  # noqa: E402
from gpfn_core.sim import engine as E  # noqa: E402
from gpfn_core.registry import get_registry  # noqa: E402

ORIGINAL_NAM_SECONDS = 43.0  # the original GPFN's NAM draw at its defaults, one core, measured on this machine kind


def pca_features(draw, k: int = 100) -> np.ndarray:
    """PCA of the centred dosages to k features, fitted on the training rows.

    Uses the registered `pca` feature selector when installed, else a randomized SVD.
    """
    reg = get_registry()
    x = draw.x.astype(np.float32)
    if "pca" in reg.names("selector"):
        sel = reg.get("selector", "pca")(k, seed=0)
        return sel.fit(x[: draw.n_train], draw.y[: draw.n_train]).transform(x)
    import torch

    xt = torch.from_numpy(x)
    mu = xt[: draw.n_train].mean(0)
    _, _, v = torch.svd_lowrank(xt[: draw.n_train] - mu, q=k, niter=2)
    return ((xt - mu) @ v).numpy()


def bench_priors(names, draws: int, founders: str) -> list[tuple]:
    rows = []
    reg = get_registry()
    for name in names:
        prior = reg.make_prior(name, seed=0, founders=founders)
        prior.draw(10_000)  # warm-up: loads (or simulates once) the founder pool member(s)
        sim, full, peaks, markers = [], [], [], []
        for i in range(draws):
            tracemalloc.start()
            t0 = time.perf_counter()
            d = prior.draw(i)
            t1 = time.perf_counter()
            pca_features(d)
            t2 = time.perf_counter()
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
            sim.append(t1 - t0)
            full.append(t2 - t0)
            markers.append(d.x.shape[1])
        rows.append((name, statistics.median(sim), statistics.median(full), max(peaks), int(np.median(markers)),
                     ORIGINAL_NAM_SECONDS / statistics.median(full) if name == "nam" else None))
    return rows


def loop_meiosis(h: np.ndarray, gm: GeneticMap, parents: np.ndarray, rng) -> np.ndarray:
    """Baseline: one gamete at a time, one chromosome at a time (original GPFN style)."""
    out = np.empty((parents.size, h.shape[2]), np.uint8)
    offs = gm.offsets
    for i, p in enumerate(parents):
        for c in range(gm.n_chromosomes):
            a, b = offs[c], offs[c + 1]
            pts = np.sort(rng.uniform(0, gm.lengths[c], rng.poisson(gm.lengths[c])))
            side = (np.searchsorted(pts, gm.pos[a:b], side="left") + rng.integers(2)) % 2
            out[i, a:b] = np.where(side == 1, h[p, 1, a:b], h[p, 0, a:b])
    return out


def dense_meiosis(h: np.ndarray, gm: GeneticMap, parents: np.ndarray, rng) -> np.ndarray:
    """Baseline: vectorized over gametes but one byte per allele (cumulative-sum masks)."""
    k, m = parents.size, h.shape[2]
    counts = rng.poisson(gm.lengths, size=(k, gm.n_chromosomes)).ravel()
    gam = np.repeat(np.repeat(np.arange(k), gm.n_chromosomes), counts)
    chrom = np.repeat(np.tile(np.arange(gm.n_chromosomes), k), counts)
    stride = gm.lengths.max() + 1
    loc = np.searchsorted(gm.chrom * stride + gm.pos, chrom * stride + rng.random(counts.sum()) * gm.lengths[chrom],
                          side="right")
    start = rng.random((k, gm.n_chromosomes)) < 0.5
    sg, sc = np.nonzero(start)
    tog = np.zeros((k, m + 1), np.uint8)
    np.add.at(tog, (np.concatenate([gam, sg]), np.concatenate([loc, gm.offsets[sc]])), 1)
    mask = (np.cumsum(tog[:, :m], axis=1, dtype=np.uint8) & 1).astype(bool)
    return np.where(mask, h[parents, 1], h[parents, 0])


def bench_meiosis(n: int = 1000, m: int = 30_000, repeats: int = 3) -> list[tuple]:
    rng = np.random.default_rng(0)
    gm = GeneticMap.uniform(m, 10, 1.5, rng)
    h = rng.integers(0, 2, (n, 2, m)).astype(np.uint8)
    pop = Population.from_haplotypes(h, gm)
    parents = rng.integers(0, n, n)

    def rate(fn, k):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(parents[:k])
            times.append(time.perf_counter() - t0)
        return k * m / min(times)

    packed = rate(lambda p: E.gametes(pop, p, rng), n)
    dense = rate(lambda p: dense_meiosis(h, gm, p, rng), n)
    loop = rate(lambda p: loop_meiosis(h, gm, p, rng), 100)
    return [("per-offspring loop (baseline)", loop, 1.0), ("dense numpy", dense, dense / loop),
            ("gpfn bit-packed", packed, packed / loop)]


def table(header, rows):
    cells = [header] + [[("-" if c is None else f"{c:.3g}" if isinstance(c, float) else str(c)) for c in r]
                        for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  ".join(c.rjust(x) for c, x in zip(r, w)))
        if j == 0:
            print("  ".join("-" * x for x in w))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--founders", default="msprime", choices=["msprime", "random"])
    ap.add_argument("--priors", default="wild,nam,ril,silva,recurrent")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"# gpfn simulation benchmark, {args.threads} thread(s), founders={args.founders}, python {sys.version.split()[0]}")
    print(f"# original GPFN NAM draw with PCA-100 at defaults: {ORIGINAL_NAM_SECONDS} s (measured on the same machine kind)\n")
    table(["prior", "sim s/draw", "sim+PCA100 s/draw", "peak MiB", "markers", "speed-up vs original"],
          bench_priors(args.priors.split(","), args.draws, args.founders))
    print("\n# meiosis throughput, 1,000 parents x 30,000 markers x 10 chromosomes of 1.5 M")
    table(["implementation", "offspring*markers/s", "ratio vs loop"], bench_meiosis())


if __name__ == "__main__":
    main()
