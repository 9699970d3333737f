"""`gpfn cross`: which crosses to make.  Each planned cross's progeny is simulated from its
parents' genotypes and predicted, as PopVar (Mohammadi et al. 2015) does with marker
effects, but through the whole of ``gpfn predict``.

A breeder choosing crosses wants their progeny's mean and spread: the best lines come
from crosses whose progeny are both good on average and varied (the usefulness criterion
of Schnell 1983, U = mean + i sd, with i the selection intensity of keeping the best
``selected`` share).  For each cross, ``lines`` progeny are made with gpfn's meiosis
(:mod:`gpfn_core.sim.engine`, Haldane's model on a genetic map): F2 plants, recombinant
inbred lines by single-seed descent, or doubled haploids of the F1.  Their GEBVs come from
the model exactly as targets of ``gpfn predict`` (a target's prediction does not depend on
the other targets), and the cross gets their mean and standard deviation.  The sd is the
spread of the predicted values, so it is shrunk as every prediction is (PopVar's is too):
it ranks crosses, it is not the progeny's true genetic variance.

Parents are genotyped lines, normally inbred.  A parent's heterozygous call is phased at
random, locus by locus and anew for each progeny line (counted in the report: genotypes
carry no phase, and putting every alternative allele on one haplotype would make up a
coupling of neighbouring loci), and a marker where a parent's call is missing is missing
in its progeny (imputed with the training mean, as any missing call).

The genetic map: ``--map`` (a CSV of marker, chromosome, position in cM), else each
chromosome of the panel is taken as one Morgan long with markers placed in proportion to
their base-pair positions (crop chromosomes are mostly 1-2 Morgans).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.data.crosses import Crosses, read_crosses
from gpfn_core.data.dataset import read_dataset
from gpfn_core.data.textio import open_table, split
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.net.inference import resolve_device
from gpfn_core.net.modelfile import load_model
from gpfn_core.tasks.predict import (
    align,
    phenotype_names,
    plan_passes,
    predict_traits,
    write_csv,
)
from gpfn_core.types import GeneticMap, Population

PROGENY = ("ril", "dh", "f2")
ALL_PAIRS = "all"  # --crosses all: every pair of the parents
CELLS_AT_ONCE = 50_000_000  # progeny x markers bred at a time (a few hundred MB of haplotypes and copies)


def all_pairs(parents: np.ndarray) -> Crosses:
    """Every cross of two different ``parents`` (each pair once, in the parents' order),
    named ``A x B``."""
    parents = np.asarray(parents, dtype=str)
    if parents.size < 2:
        raise GpfnError(f"every pair of the parents needs two parents or more, got {parents.size}")
    i, j = np.triu_indices(parents.size, k=1)
    names = np.char.add(np.char.add(parents[i], " x "), parents[j])
    return Crosses(names, parents[i], parents[j], np.zeros(i.size, np.int64), "every pair of the parents")


def read_map(path: str | Path, markers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chromosome names and positions in Morgans of ``markers`` from a CSV/TSV with a header
    whose first three columns are the marker id, its chromosome and its position in cM."""
    path = Path(path)
    it, header_no, head, sep = open_table(path)
    if len(head) < 3:
        raise GpfnError(f"{path}:{header_no}: a map needs three columns (marker, chromosome, cM), got {head}")
    chrom, cm = {}, {}
    for no, line in it:
        cells = split(line, sep)
        if len(cells) != len(head):
            raise GpfnError(f"{path}:{no}: expected {len(head)} fields as in the header, got {len(cells)}")
        try:
            v = float(cells[2])
        except ValueError:
            raise GpfnError(f"{path}:{no}: position {cells[2]!r} is not a number of cM") from None
        if not np.isfinite(v) or v < 0:
            raise GpfnError(f"{path}:{no}: position {cells[2]!r} must be a finite number of cM >= 0")
        chrom[cells[0]], cm[cells[0]] = cells[1], v
    absent = [m for m in markers if m not in cm]
    if absent:
        raise GpfnError(f"{path}: {len(absent)} of the {len(markers)} markers shared by the datasets are not on the "
                        f"map, e.g. {', '.join(absent[:5])}")
    return np.array([chrom[m] for m in markers]), np.array([cm[m] for m in markers]) / 100.0


def genetic_map(chrom: np.ndarray, morgans: np.ndarray) -> tuple[GeneticMap, np.ndarray]:
    """The :class:`GeneticMap` of markers on named chromosomes at positions in Morgans, in
    map order, and ``order`` (the markers' columns in map order)."""
    names, index = np.unique(chrom, return_inverse=True)
    order = np.lexsort((morgans, index))
    lengths = np.array([max(float(morgans[index == c].max()), 1e-6) for c in range(names.size)])
    return GeneticMap(index[order], morgans[order], lengths), order


def default_positions(chrom: np.ndarray, pos: np.ndarray, source: str) -> np.ndarray:
    """Positions in Morgans with each chromosome one Morgan long, in proportion to base pairs."""
    if (chrom == "").any():
        raise GpfnError(f"{source}: markers without a chromosome; give their genetic map (--map)")
    out = np.zeros(len(pos))
    for c in np.unique(chrom):
        on = chrom == c
        lo, hi = pos[on].min(), pos[on].max()
        if on.sum() > 1 and hi == lo:
            raise GpfnError(f"{source}: the markers of chromosome {c} have no base-pair positions; give their genetic "
                            f"map (--map)")
        out[on] = (pos[on] - lo) / max(hi - lo, 1)
    return out


def simulate_progeny(dosage: np.ndarray, first: np.ndarray, second: np.ndarray, gmap: GeneticMap, order: np.ndarray,
                     kind: str = "ril", lines: int = 100, selfing: int = 6, seed: int = 0) -> np.ndarray:
    """int8 ``[len(first) * lines, m]``: ``lines`` progeny of each cross ``first[k] x second[k]``
    (rows of the parents' int8 ``dosage`` ``[p, m]``), cross by cross, on the genetic map
    ``gmap`` of the columns ``order``: F2 plants, recombinant inbred lines after ``selfing``
    generations of single-seed descent from the F1, or doubled haploids of the F1.  A parent's
    heterozygous call is phased at random, locus by locus and anew for each line; where either
    parent's call is missing the progeny's is missing (-1).  Crosses are bred a block at a time
    (:data:`CELLS_AT_ONCE` progeny x markers), so memory follows the block, not the plan."""
    from gpfn_core.sim import engine as E

    if kind not in PROGENY:
        raise ValidationError(f"progeny must be one of {', '.join(PROGENY)}, got {kind!r}")
    if lines < 1 or selfing < 1:
        raise ValidationError(f"need at least one line per cross and one generation of selfing, got {lines}, {selfing}")
    d = np.asarray(dosage)[:, order]
    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)
    rng = np.random.default_rng(seed)
    out = np.empty((len(first) * lines, d.shape[1]), dtype=np.int8)
    per_block = max(1, CELLS_AT_ONCE // max(lines * d.shape[1], 1))
    for b in range(0, len(first), per_block):
        # each progeny line's F1 from its own copy of the two parents, whose heterozygous calls put the alt allele
        # on either haplotype at random, locus by locus: with no phase known the lines average over it, and no
        # coupling of neighbouring heterozygous loci is made up (all alt alleles on one haplotype would make one)
        copies = np.concatenate([d[np.repeat(first[b:b + per_block], lines)],
                                 d[np.repeat(second[b:b + per_block], lines)]])
        first_alt = rng.random(copies.shape) < 0.5
        het, hom = copies == 1, copies == 2
        haplotypes = np.stack([hom | (het & first_alt), hom | (het & ~first_alt)], axis=1).astype(np.uint8)
        del copies, first_alt, het, hom
        n = len(haplotypes) // 2
        f1 = E.cross(Population.from_haplotypes(haplotypes, gmap), np.arange(n), n + np.arange(n), rng)
        pop = (E.selfing(f1, None, rng) if kind == "f2" else E.doubled_haploids(f1, None, rng) if kind == "dh"
               else E.single_seed_descent(f1, selfing, rng))
        out[b * lines:b * lines + n][:, order] = pop.dosage()
    missing = np.asarray(dosage) < 0
    out[np.repeat(missing[first] | missing[second], lines, axis=0)] = -1
    return out


def selection_intensity(selected: float) -> float:
    """The standardised selection differential of keeping the best ``selected`` share of a
    normal population: phi(z) / selected, with z its (1 - selected) quantile."""
    from scipy.stats import norm

    if not 0 < selected < 1:
        raise ValidationError(f"the share selected must be in (0, 1), got {selected}")
    return float(norm.pdf(norm.ppf(1 - selected)) / selected)


def predict_crosses(model_path: str | Path, train_path: str | Path, parents_path: str | Path,
                    crosses_path: str | Path, out_csv: str | Path, *, phenotype: str | None = None,
                    progeny: str = "ril", lines: int = 100, selfing: int = 6, selected: float = 0.1,
                    lower: bool = False, map_path: str | Path | None = None, seed: int = 0, device: str = "auto",
                    overwrite: bool = False, max_memory: float | None = None, log=None) -> dict[str, Any]:
    """Write ``out_csv`` (cross, parent1, parent2, then mean, sd, usefulness of its progeny's
    predicted breeding values, per trait as NAME_... where there are several) and return a
    report.  ``crosses_path``: a crosses file, or ``"all"`` for every pair of the parents.
    ``lower``: lower values are better (usefulness = mean - i sd)."""
    out_csv = Path(out_csv)
    if out_csv.exists() and not overwrite:
        raise GpfnError(f"{out_csv}: already exists (use --force to replace it)")
    intensity = selection_intensity(selected)
    planned = read_crosses(crosses_path) if str(crosses_path) != ALL_PAIRS else None
    train, parents = read_dataset(train_path), read_dataset(parents_path)
    if planned is None:
        planned = all_pairs(parents.table.taxa)
    first, second = planned.parent_rows(parents.table.taxa)
    unknown = np.flatnonzero((first < 0) | (second < 0))
    if unknown.size:
        k = int(unknown[0])
        raise GpfnError(f"{planned.source}:{planned.lines[k]}: a parent of cross '{planned.hybrid[k]}' is not among the "
                        f"{parents.table.n_taxa} taxa of {parents_path}")
    names = phenotype_names(train, phenotype)
    ys = np.column_stack([train.phenotype(n) for n in names])
    al = align(train, parents)
    cols = al.target_markers
    t = parents.table
    if map_path is not None:
        chrom, morgans = read_map(map_path, t.marker[cols])
    else:
        chrom, morgans = t.chrom[cols].astype(str), default_positions(t.chrom[cols].astype(str), t.pos[cols],
                                                                      str(parents_path))
    gmap, order = genetic_map(chrom, morgans)
    x = simulate_progeny(al.target, first, second, gmap, order, progeny, lines, selfing, seed)
    n_train = int(np.isfinite(ys).any(1).sum())
    per_pass, need = plan_passes(n_train, len(x), x.shape[1], max_memory, log)
    model, bar, meta = load_model(model_path, resolve_device(device))
    results = predict_traits(model, bar, meta, al.train, ys, x, per_pass=per_pass, seed=seed, log=log)
    sign = -1.0 if lower else 1.0
    table = []
    for res in results:
        by_cross = res["mean"].reshape(len(first), lines)
        mean, sd = by_cross.mean(1), by_cross.std(1)
        table += [mean, sd, mean + sign * intensity * sd]
    keys = ("mean", "sd", "usefulness")
    header = ["cross", "parent1", "parent2", *(keys if len(names) == 1 else
                                               (f"{n}_{k}" for n in names for k in keys))]
    rows = ([c, a, b, *(f"{v:.6g}" for v in vals)]
            for c, a, b, *vals in zip(planned.hybrid, planned.parent1, planned.parent2, *table))
    write_csv(out_csv, header, rows, overwrite)
    het = int((al.target[np.unique(np.concatenate([first, second]))] == 1).sum())
    return {**al.report, "phenotypes": names, "crosses": len(first), "progeny": progeny, "lines_per_cross": lines,
            **({"selfing_generations": selfing} if progeny == "ril" else {}),
            "selected": selected, "selection_intensity": round(intensity, 4),
            "map": str(map_path) if map_path is not None else "each chromosome one Morgan, by base-pair position",
            "map_length_morgans": round(gmap.total_length, 3), "parent_heterozygous_calls_phased_at_random": het,
            "training_taxa": n_train, "memory_estimate": f"{need / 2**30:.2f} GiB", "targets_per_pass": per_pass,
            "output": str(out_csv)}
