"""VCF Zarr arrays into a GenotypeTable: the conversion the ``vcz`` reader applies to a store
on disk and ``GPFNRegressor`` to an xarray/sgkit Dataset in memory.

``g`` is anything that maps array names to arrays (a zarr group, or an adapter over an
xarray Dataset): ``call_genotype`` [variants, samples, ploidy] (allele indices, -1 missing,
-2 the padding of a call with fewer alleles than the ploidy), ``variant_allele`` [variants,
alleles] ("" where a site has fewer), ``variant_position``, ``variant_contig`` (into
``contig_id``), ``variant_id`` with ``variant_id_mask``, ``sample_id``; an optional
``call_genotype_mask`` marks missing calls too.  It is read one chunk of variants at a
time; the filters, allele handling and missing-call report are the ``vcf`` reader's, so a
VCF and its conversion give the same table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core.data.textio import check_unique
from gpfn_core.errors import GpfnError
from gpfn_core.types import GenotypeTable

REQUIRED = ("call_genotype", "variant_allele", "variant_position", "variant_contig", "contig_id", "sample_id")


def vcz_table(g: Any, path: Any, reader: str = "vcz") -> GenotypeTable:
    """The biallelic sites of ``g`` as a GenotypeTable; ``path`` names the source in errors."""
    missing = [a for a in REQUIRED if a not in g]
    if missing:
        raise GpfnError(f"{path}: not a VCF Zarr store with genotypes: no array {', '.join(missing)}")
    gt = g["call_genotype"]
    if gt.ndim != 3 or gt.shape[2] not in (1, 2):
        raise GpfnError(f"{path}: call_genotype must be [variants, samples, ploidy 1 or 2], got {gt.shape}")
    n_var, n_smp = gt.shape[:2]
    samples = strings(g["sample_id"][:])
    alleles_arr = g["variant_allele"]
    lengths = {"sample_id": (samples.shape, (n_smp,)), "variant_allele": (alleles_arr.shape[:1], (n_var,)),
               "variant_position": (g["variant_position"].shape, (n_var,)),
               "variant_contig": (g["variant_contig"].shape, (n_var,))}
    bad = [f"{k} {got} (expected {want})" for k, (got, want) in lengths.items() if tuple(got) != want]
    if bad or alleles_arr.ndim != 2 or alleles_arr.shape[1] < 2:
        raise GpfnError(f"{path}: array shapes disagree with call_genotype {gt.shape}: "
                        f"{', '.join(bad) or f'variant_allele {alleles_arr.shape}'}")
    if not n_smp:
        raise GpfnError(f"{path}: the store names no samples")
    check_unique(samples, "sample name", f"{path}: sample_id")
    contigs = strings(g["contig_id"][:])
    mask = g["call_genotype_mask"] if "call_genotype_mask" in g else None
    ids_arr = g["variant_id"] if "variant_id" in g else None
    id_mask = g["variant_id_mask"] if "variant_id_mask" in g else None
    step = max(1, int(gt.chunks[0]))
    cols, ids, chrom, pos, ref, alt = [], [], [], [], [], []
    skipped = {"multiallelic": 0, "monomorphic_no_alt": 0, "no_gt": 0}
    seen: dict[str, int] = {}
    for lo in range(0, n_var, step):  # one chunk of variants at a time
        hi = min(lo + step, n_var)
        calls = np.asarray(gt[lo:hi])
        al = strings(alleles_arr[lo:hi])
        n_alleles = (al != "").sum(1)
        contig = np.asarray(g["variant_contig"][lo:hi]).astype(np.int64)
        if contig.size and (contig.min() < 0 or contig.max() >= contigs.size):
            raise GpfnError(f"{path}: variant_contig of variants {lo}..{hi - 1} points outside contig_id")
        where = np.asarray(g["variant_position"][lo:hi]).astype(np.int64)
        vid = strings(ids_arr[lo:hi]) if ids_arr is not None else np.full(hi - lo, "")
        no_id = np.asarray(id_mask[lo:hi]).astype(bool) if id_mask is not None else np.isin(vid, ("", "."))
        keep = n_alleles == 2
        skipped["multiallelic"] += int((n_alleles > 2).sum())
        skipped["monomorphic_no_alt"] += int((n_alleles < 2).sum())
        if not keep.any():
            continue
        c = calls[keep].astype(np.int16)  # [v, n, ploidy]
        if c.shape[2] == 1:
            c = np.concatenate([c, c], axis=2)
        c[:, :, 1] = np.where(c[:, :, 1] == -2, c[:, :, 0], c[:, :, 1])  # a haploid call counts as homozygous
        miss = (c < 0).any(2)
        if mask is not None:
            miss |= np.asarray(mask[lo:hi])[keep].any(2)
        if ((c > 1) & ~miss[:, :, None]).any():
            raise GpfnError(f"{path}: call_genotype of variants {lo}..{hi - 1} names alleles a biallelic site "
                            f"does not have")
        cols.append(np.where(miss, -1, (c == 1).sum(2)).astype(np.int8))  # [v, n] copies of the ALT allele
        for j in np.flatnonzero(keep):
            k = lo + int(j) + 1
            mid = f"{contigs[contig[j]]}:{where[j]}" if no_id[j] else vid[j]
            if mid in seen:
                raise GpfnError(f"{path}: variant {k}: duplicate marker id '{mid}' (first at variant {seen[mid]})")
            seen[mid] = k
            ids.append(mid)
        chrom += list(contigs[contig[keep]])
        pos += list(where[keep])
        ref += list(al[keep, 0])
        alt += list(al[keep, 1])
    if not cols:
        raise GpfnError(f"{path}: no biallelic sites with genotypes (skipped: {skipped})")
    dosage = np.ascontiguousarray(np.concatenate(cols).T)
    return GenotypeTable(samples, np.array(ids), np.array(chrom), np.array(pos, np.int64), np.array(ref),
                         np.array(alt), dosage, source=str(path),
                         info={"reader": reader, **{f"sites_skipped_{k}": v for k, v in skipped.items()}})


def strings(a: Any) -> np.ndarray:
    """A str array of whatever string dtype zarr or xarray return (object, bytes, numpy's StringDType)."""
    a = np.asarray(a)
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel().tolist()],
                    dtype=str).reshape(a.shape)
