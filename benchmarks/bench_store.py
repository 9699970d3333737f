"""Draw-store throughput: generation with 1 and 2 workers, bytes per draw, compression, follower reads.

The baseline is generation + preprocessing in one process without a store (the rate
`gpfn fit --prior` gets on the fly), measured in the same run.

    python benchmarks/bench_store.py [--prior nam] [--founders random] [--draws 64] [--pop-max-size 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from gpfn_core.tasks.generate import generate
from gpfn_core.sim.store import StoreReader
from gpfn_core.net.config import FitConfig, Schedule
from gpfn_core.net.draws import build, DrawDataset


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", default="nam")
    ap.add_argument("--founders", default="msprime", choices=["msprime", "random"])
    ap.add_argument("--draws", type=int, default=64)
    ap.add_argument("--shard-size", type=int, default=16)
    ap.add_argument("--pop-max-size", type=int, default=1000)
    args = ap.parse_args()
    cfg = FitConfig(prior=args.prior, founders=args.founders, pop_max_size=args.pop_max_size, batch_size=8)
    prior, sel = build(cfg)
    live = DrawDataset(prior, sel, cfg, Schedule(cfg), cfg.batch_size)
    live.item(10**8)  # warm the founder pool
    n = max(8, args.draws // 4)
    t0 = time.perf_counter()
    for i in range(n):
        live.item(i)
    base = n / (time.perf_counter() - t0)
    rows = [("on the fly, 1 process (baseline)", base, 1.0)]
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            store = Path(tmp) / f"w{workers}"
            t0 = time.perf_counter()
            generate(cfg, store, args.draws, shard_size=args.shard_size, workers=workers)
            rate = args.draws / (time.perf_counter() - t0)
            rows.append((f"generate, {workers} worker(s)", rate, rate / base))
        store = Path(tmp) / "w1"
        r = StoreReader(store)
        t0 = time.perf_counter()
        for i in range(r.available()):
            r[i]
        read_rate = r.available() / (time.perf_counter() - t0)
        rows.append(("follower reads", read_rate, read_rate / base))
        disk = size_of(store / "shards")
        raw = args.draws * args.pop_max_size * (cfg.feature_max_size * 2 + 4)  # float16 x + float32 y, padded
    print(f"# prior {args.prior} ({args.founders} founders), pop {args.pop_max_size}, {cfg.feature_max_size} "
          f"features, {args.draws} draws in shards of {args.shard_size}")
    print(f"{'what':34}  {'draws/s':>9}  {'vs baseline':>11}")
    for name, rate, ratio in rows:
        print(f"{name:34}  {rate:9.2f}  {ratio:11.2f}")
    print(f"\nMB written per draw: {disk / args.draws / 2**20:.3f}   compression ratio: {raw / disk:.2f} "
          f"(uncompressed float16/float32 {raw / args.draws / 2**20:.3f} MB per draw)")


if __name__ == "__main__":
    main()
