"""Held-out accuracy of a model file against GBLUP, recorded into the file, and its card.

Draws ``--draws`` fresh draws of the model's own prior (indices from 5e9: never used for
training, bucket borders or the fit's validation), at the population size the model
was fitted for, and measures Pearson r with the targets' true genetic values for the
model and for GBLUP (REML on all markers of the same draw).  Prints the table, stores
the result in the model file's metadata (weights unchanged) and writes the card
(markdown, the same text `gpfn models` prints) beside it as MODEL.md.

    python benchmarks/model_card.py gpfn_core/models/nam.gpfn [--draws 200] [--no-record]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from gpfn_core.net.modelfile import read_metadata
from gpfn_core.models.cards import card
from gpfn_core.models.scoring import heldout, record_heldout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-record", action="store_true", help="Only print; leave the model file and card alone.")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t = time.perf_counter()
    res = heldout(a.model, draws=a.draws)
    seconds = time.perf_counter() - t
    m, g = np.array(res["model_r_per_draw"]), np.array(res["gblup_r_per_draw"])
    ok = np.isfinite(m) & np.isfinite(g)
    print(f"{a.model}: {res['draws']} held-out draws (pop {res['pop_size']}), {seconds:.0f} s")
    print(f"{'method':28} {'mean r':>8} {'sd':>7} {'median':>8} {'ratio':>7}")
    print(f"{'GBLUP (REML, all markers)':28} {res['gblup_r']:8.3f} {res['gblup_r_sd']:7.3f} {np.median(g[ok]):8.3f} {1:7.2f}")
    print(f"{'GPFN':28} {res['model_r']:8.3f} {res['model_r_sd']:7.3f} {np.median(m[ok]):8.3f} "
          f"{res['model_r'] / res['gblup_r']:7.2f}")
    print(f"paired difference GPFN - GBLUP: {res['diff']:+.3f} (SE {res['diff_se']:.3f}); "
          f"GPFN ahead on {np.mean(m[ok] > g[ok]):.0%} of draws; 90% intervals cover {res['coverage90']:.1%} of targets")
    if not a.no_record:
        record_heldout(a.model, res)
        md = a.model.with_suffix(".md")
        md.write_text(card(a.model, read_metadata(a.model)))
        print(f"recorded in {a.model}; card: {md}")


if __name__ == "__main__":
    main()
