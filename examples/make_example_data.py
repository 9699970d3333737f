"""Make the bundled example data with gpfn's own simulator (a NAM prior draw).

Writes into gpfn_core/example_data/ (package data, used by `gpfn demo`):
  train.hmp.txt            HapMap (two-letter calls) of the training population
  train_phenotypes.csv     taxon,yield for the training population
  target.hmp.txt           HapMap of the target population (no phenotypes)
  target_true_values.csv   taxon,genetic_value: the simulated truth, to check predictions

    python examples/make_example_data.py   (deterministic: prior seed 2024, draw 0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpfn_core.registry import get_registry

OUT = Path(__file__).resolve().parents[1] / "gpfn_core" / "example_data"  # package data: gpfn demo uses it
FIXED = "+\tNA\tNA\tNA\tNA\tNA\tNA"
HEADER = "rs#\talleles\tchrom\tpos\tstrand\tassembly#\tcenter\tprotLSID\tassayLSID\tpanelLSID\tQCcode"


def main() -> None:
    prior = get_registry().make_prior("nam", seed=2024, overrides={
        "pop_size": 300, "n_markers": 2000, "h2": 0.6, "n_families": 30, "train_fraction": 0.7})
    d = prior.draw(0)
    rng = np.random.default_rng(2024)
    m = d.x.shape[1]
    pairs = np.array(["A/G", "C/T", "A/C", "G/T"])[rng.integers(0, 4, m)]
    chrom = np.repeat(np.arange(1, 11), int(np.ceil(m / 10)))[:m]
    pos = (np.arange(m) % int(np.ceil(m / 10)) + 1) * 10_000
    taxa = np.array([f"NAM{i:03d}" for i in range(d.n)])
    OUT.mkdir(exist_ok=True)

    def hapmap(path: Path, rows: np.ndarray) -> None:
        with open(path, "w") as f:
            f.write(HEADER + "\t" + "\t".join(taxa[rows]) + "\n")
            for j in range(m):
                ref, alt = pairs[j].split("/")
                calls = np.array([ref + ref, ref + alt, alt + alt, "NN"])[np.where(d.x[rows, j] < 0, 3, d.x[rows, j])]
                f.write(f"SNP{j:05d}\t{pairs[j]}\t{chrom[j]}\t{pos[j]}\t{FIXED}\t" + "\t".join(calls) + "\n")

    nt = d.n_train
    hapmap(OUT / "train.hmp.txt", np.arange(nt))
    hapmap(OUT / "target.hmp.txt", np.arange(nt, d.n))
    with open(OUT / "train_phenotypes.csv", "w") as f:
        f.write("taxon,yield\n" + "".join(f"{t},{y:.3f}\n" for t, y in zip(taxa[:nt], 50 + d.y[:nt])))
    with open(OUT / "target_true_values.csv", "w") as f:
        f.write("taxon,genetic_value\n" + "".join(f"{t},{g:.3f}\n" for t, g in zip(taxa[nt:], 50 + d.g[nt:])))
    print(f"{nt} training + {d.n - nt} target individuals x {m} markers in {OUT}")


if __name__ == "__main__":
    main()
