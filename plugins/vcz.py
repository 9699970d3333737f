"""The ``vcz`` reader: VCF Zarr stores, as ``bio2zarr vcf2zarr`` (0.2) and sgkit write them.

The arrays read are ``call_genotype`` [variants, samples, ploidy] (allele indices, -1
missing, -2 the padding of a call with fewer alleles than the ploidy), ``variant_allele``
[variants, alleles] ("" where a site has fewer), ``variant_position``, ``variant_contig``
(into ``contig_id``), ``variant_id`` with ``variant_id_mask``, ``sample_id``; an optional
``call_genotype_mask`` marks missing calls too.  The store is read one chunk of variants
at a time, so memory follows the chunk size, not the cohort; the filters, allele handling
and missing-call report are the ``vcf`` reader's, so a VCF and its conversion give the
same Dataset.

Before any chunk is decoded every array's codecs are checked against a list of
compressors and filters that only decode data: a store naming ``pickle`` (or any codec
outside the list) is refused, since decoding it could run code.

Registered through its own entry point (``vcz = "gpfn_plugins.vcz"``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from gpfn_core import GenotypeReader, GenotypeTable, hookimpl
from gpfn_core.data.textio import check_unique
from gpfn_core.errors import GpfnError

REQUIRED = ("call_genotype", "variant_allele", "variant_position", "variant_contig", "contig_id", "sample_id")
# codecs that only decode bytes (compressors, checksums, byte and string layouts): nothing else is read
SAFE_CODECS = frozenset({"blosc", "zstd", "gzip", "zlib", "lz4", "bz2", "lzma", "crc32", "crc32c", "adler32",
                         "fletcher32", "bytes", "transpose", "vlen-utf8", "vlen-bytes", "vlen-array", "delta",
                         "fixedscaleoffset", "packbits", "shuffle", "bitround", "quantize", "sharding_indexed",
                         "numcodecs.blosc", "numcodecs.zstd", "numcodecs.gzip", "numcodecs.zlib", "numcodecs.lz4",
                         "numcodecs.bz2", "numcodecs.lzma", "numcodecs.crc32", "numcodecs.delta",
                         "numcodecs.shuffle", "numcodecs.packbits", "numcodecs.fixedscaleoffset"})


class Vcz(GenotypeReader):
    """VCF Zarr (VCZ): a directory or a .zip of it."""

    name = "vcz"
    description = "VCF Zarr stores (bio2zarr vcf2zarr, sgkit), read chunk by chunk; codecs checked before decoding"
    extensions = (".vcz", ".vcz.zip")

    def can_read(self, path: Path) -> bool:
        path = Path(path)
        try:
            return b"vcf_zarr_version" in _metadata(path).get("", b"")
        except (OSError, zipfile.BadZipFile):
            return False

    def read(self, path: Path) -> GenotypeTable:
        import zarr

        path = Path(path)
        if not path.exists():
            raise GpfnError(f"{path}: no such VCF Zarr store")
        try:
            meta = _metadata(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise GpfnError(f"{path}: not a readable VCF Zarr store ({exc})") from None
        _check_codecs(path, meta)
        try:
            store = zarr.storage.ZipStore(path, mode="r") if path.is_file() else zarr.storage.LocalStore(path, read_only=True)
            g = zarr.open_group(store, mode="r")
            missing = [a for a in REQUIRED if a not in g]
            if missing:
                raise GpfnError(f"{path}: not a VCF Zarr store with genotypes: no array {', '.join(missing)}")
            return self._read(path, g)
        except GpfnError:
            raise
        except Exception as exc:  # zarr and codec errors of a damaged store, named
            raise GpfnError(f"{path}: damaged VCF Zarr store ({type(exc).__name__}: {exc})") from None

    def _read(self, path: Path, g) -> GenotypeTable:
        gt = g["call_genotype"]
        if gt.ndim != 3 or gt.shape[2] not in (1, 2):
            raise GpfnError(f"{path}: call_genotype must be [variants, samples, ploidy 1 or 2], got {gt.shape}")
        n_var, n_smp = gt.shape[:2]
        samples = _strings(g["sample_id"][:])
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
        contigs = _strings(g["contig_id"][:])
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
            al = _strings(alleles_arr[lo:hi])
            n_alleles = (al != "").sum(1)
            contig = np.asarray(g["variant_contig"][lo:hi]).astype(np.int64)
            if contig.size and (contig.min() < 0 or contig.max() >= contigs.size):
                raise GpfnError(f"{path}: variant_contig of variants {lo}..{hi - 1} points outside contig_id")
            where = np.asarray(g["variant_position"][lo:hi]).astype(np.int64)
            vid = _strings(ids_arr[lo:hi]) if ids_arr is not None else np.full(hi - lo, "")
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
                             info={"reader": self.name, **{f"sites_skipped_{k}": v for k, v in skipped.items()}})


def _strings(a) -> np.ndarray:
    """A string array of whatever string dtype zarr returns (object, numpy's StringDType)."""
    a = np.asarray(a)
    return np.array(a.tolist(), dtype=str).reshape(a.shape)


def _metadata(path: Path) -> dict[str, bytes]:
    """Every Zarr metadata document of the store (``.zattrs``, ``.zarray``, ``zarr.json``...),
    keyed by its folder ("" for the root), read as bytes without decoding any chunk."""
    names = (".zattrs", ".zarray", ".zgroup", "zarr.json")
    out: dict[str, bytes] = {}
    if path.is_file():
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                folder, _, name = info.filename.rstrip("/").rpartition("/")
                if name in names:
                    out[folder] = out.get(folder, b"") + z.read(info)
    elif path.is_dir():
        for p in path.rglob("*"):
            if p.name in names and p.is_file():
                folder = str(p.parent.relative_to(path)) if p.parent != path else ""
                out[folder] = out.get(folder, b"") + p.read_bytes()
    return out


def _check_codecs(path: Path, meta: dict[str, bytes]) -> None:
    """Refuse a store any of whose arrays names a codec outside :data:`SAFE_CODECS`."""
    for folder, raw in meta.items():
        for doc in _documents(raw):
            for codec in _codecs(doc):
                if codec not in SAFE_CODECS:
                    raise GpfnError(f"{path}: array '{folder or '/'}' uses the codec '{codec}', which gpfn does not "
                                    f"decode (it could run code from the file); convert the store again with "
                                    f"bio2zarr")


def _documents(raw: bytes) -> list[dict]:
    """The JSON documents concatenated in ``raw`` (a folder may hold .zarray and .zattrs)."""
    docs, text, at = [], raw.decode("utf-8", "replace"), 0
    decoder = json.JSONDecoder()
    while at < len(text):
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        try:
            doc, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            break
        if isinstance(doc, dict):
            docs.append(doc)
    return docs


def _codecs(doc: dict) -> list[str]:
    """Codec ids named by one metadata document (Zarr v2 compressor and filters; v3 codecs, also
    nested in sharding)."""
    out = []
    for c in [doc.get("compressor"), *(doc.get("filters") or []), *(doc.get("codecs") or [])]:
        if isinstance(c, dict):
            name = c.get("id") or c.get("name")
            if isinstance(name, str):
                out.append(name)
            inner = c.get("configuration") or {}
            if isinstance(inner, dict):
                out += _codecs({"codecs": inner.get("codecs") or [], "filters": inner.get("index_codecs") or []})
    return out


@hookimpl
def gpfn_genotype_readers():
    return [Vcz]
