"""Training throughput: draws consumed and optimiser steps per second.

Rows (same run, same prior and model):
  * draw generation + preprocessing alone, one process  (the baseline: the data rate one core gives)
  * model steps alone on pre-generated batches           (the compute rate of the model)
  * `fit` end to end with 0 and with N DataLoader workers

    python benchmarks/bench_fit.py [--prior nam] [--founders msprime] [--steps 20] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from gpfn_core.net.bar import BarDistribution, bar_loss, estimate_borders
from gpfn_core.net.model import PFN, ModelConfig
from gpfn_core.net.batches import collate
from gpfn_core.net.config import FitConfig, Schedule
from gpfn_core.net.draws import build, DrawDataset
from gpfn_core.net.train import fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", default="nam")
    ap.add_argument("--founders", default="msprime", choices=["msprime", "random"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--pop-max-size", type=int, default=1000)
    args = ap.parse_args()
    base = dict(prior=args.prior, founders=args.founders, feature_max_size=100, pop_max_size=args.pop_max_size,
                emb_size=256, num_layers=6, num_heads=4, hidden_dim=1024, num_buckets=1000, batch_size=args.batch_size,
                border_draws=20, val_draws=0, device=args.device, log_steps=0, num_samples=10**7)
    cfg = FitConfig(**base)
    prior, sel = build(cfg)
    ds = DrawDataset(prior, sel, cfg, Schedule(cfg), cfg.batch_size)
    ds[10**8]  # warm the founder pool
    n = args.batch_size * 3
    t0 = time.perf_counter()
    items = [ds[i] for i in range(n)]
    gen_rate = n / (time.perf_counter() - t0)

    dev = torch.device(args.device)
    model = PFN(ModelConfig(100, 256, 6, 4, 1024, 0.0, 1000)).to(dev)
    bar = BarDistribution(estimate_borders(np.concatenate([it[1][it[2]:] for it in items]), 1000)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = [collate(items[i : i + args.batch_size]) for i in range(0, n, args.batch_size)]
    t0 = time.perf_counter()
    for s in range(args.steps):
        x, yt, ye = (t.to(dev) for t in batches[s % len(batches)])
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = model(x, yt)
        loss = bar_loss(bar, logits.float(), ye)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    model_steps = args.steps / (time.perf_counter() - t0)

    rows = [("generation + preprocessing, 1 process (baseline)", gen_rate, None, 1.0),
            ("model steps on ready batches", model_steps * args.batch_size, model_steps,
             model_steps * args.batch_size / gen_rate)]
    for workers in sorted({0, args.workers}):
        with tempfile.TemporaryDirectory() as tmp:
            c = FitConfig(**base, num_workers=workers, max_steps=args.steps, save_path=f"{tmp}/m.gpfn")
            stats = fit(c, progress=False, log=lambda m: None)
        rate = stats["draws_seen"] / stats["seconds"]
        rows.append((f"fit end to end, {workers} workers", rate, stats["steps"] / stats["seconds"], rate / gen_rate))
    print(f"# prior {args.prior} ({args.founders} founders), pop_max_size {args.pop_max_size}, 100 PCA features, "
          f"model 6x256 (~{model.n_parameters() / 1e6:.1f} M parameters), batch {args.batch_size}, device {args.device}")
    w = max(len(r[0]) for r in rows)
    print(f"{'what'.ljust(w)}  {'draws/s':>8}  {'steps/s':>8}  {'vs baseline':>11}")
    print(f"{'-' * w}  {'-' * 8}  {'-' * 8}  {'-' * 11}")
    for name, draws, steps, ratio in rows:
        print(f"{name.ljust(w)}  {draws:8.2f}  {'-' if steps is None else f'{steps:.3f}':>8}  {ratio:11.2f}")


if __name__ == "__main__":
    main()
