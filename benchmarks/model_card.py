"""One model's held-out accuracy against GBLUP, recorded into the file, and its card.

Scores the model on ``--draws`` held-out draws of its prior at the prior's defaults
(``--draws-from selection`` or ``final``; the same draws ``bench_accuracy.py`` sections 1
and 5 use), prints the table, and with ``--record`` writes a record under
``benchmarks/results/``, stores the result in the model file with its fingerprint and
writes the card (markdown, the same text ``gpfn models`` prints) beside it as MODEL.md.

    python benchmarks/model_card.py gpfn_core/models/nam.gpfn [--draws 200] [--draws-from final] [--record]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from records import write  # noqa: E402

from gpfn_core.models.cards import card  # noqa: E402
from gpfn_core.models.scoring import PER_DRAW, SUMMARY, heldout, record_heldout  # noqa: E402
from gpfn_core.net.modelfile import read_metadata  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--draws-from", default="selection", choices=["selection", "final"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--record", action="store_true", help="Record the result and rewrite the card.")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t = time.perf_counter()
    res = heldout(a.model, draws=a.draws, draws_from=a.draws_from)
    seconds = time.perf_counter() - t
    m, g = np.array(res["model_r_per_draw"]), np.array(res["gblup_r_per_draw"])
    ok = np.isfinite(m) & np.isfinite(g)
    print(f"{a.model}: {res['draws']} {a.draws_from} draws of {res['prior']} (pop {res['pop_size']}), {seconds:.0f} s")
    print(f"{'method':28} {'mean r':>8} {'sd':>7} {'median':>8}")
    print(f"{'GBLUP (REML, all markers)':28} {res['gblup_r']:8.3f} {res['gblup_r_sd']:7.3f} {np.median(g[ok]):8.3f}")
    print(f"{'GPFN':28} {res['model_r']:8.3f} {res['model_r_sd']:7.3f} {np.median(m[ok]):8.3f}")
    print(f"paired difference GPFN - GBLUP: {res['diff']:+.3f} (SE {res['diff_se']:.3f}); "
          f"GPFN ahead on {np.mean(m[ok] > g[ok]):.0%} of draws; 90% intervals cover {res['coverage90']:.1%} of targets")
    if a.record:
        rec = write(f"heldout-{a.draws_from}", {a.model.name: {k: res[k] for k in (*SUMMARY, *PER_DRAW, "prior")
                                                               if k in res}},
                    models=[a.model], data={"draws_from": a.draws_from, "draws": a.draws})
        record_heldout(a.model, res, str(rec))
        md = a.model.with_suffix(".md")
        md.write_text(card(a.model, read_metadata(a.model)))
        print(f"recorded: {rec}; card: {md}")


if __name__ == "__main__":
    main()
