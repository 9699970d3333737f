"""The ``pgen`` reader: PLINK 2 binary filesets (.pgen + .pvar + .psam) through pgenlib.

Counts the ALT allele of the .pvar (allele 1), as the ``vcf`` reader does, so a VCF and
its ``plink2 --make-pgen`` conversion give the same Dataset; multi-allelic variants are
skipped and counted.  Genotypes are read in blocks of variants straight into the
sample-major dosage matrix.  A .bim/.fam beside a .pgen (``--make-bed``-style names) is
read too.

Registered through its own entry point (``pgen = "gpfn_plugins.pgen"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpfn_core import GenotypeReader, GenotypeTable, hookimpl
from gpfn_core.data.textio import check_unique, lines
from gpfn_core.errors import GpfnError

BLOCK = 4096  # variants read at a time


class Pgen(GenotypeReader):
    """PLINK 2 .pgen/.pvar/.psam."""

    name = "pgen"
    description = "PLINK 2 .pgen/.pvar/.psam via pgenlib (counts the ALT allele; multi-allelic sites skipped)"
    extensions = (".pgen",)

    def can_read(self, path: Path) -> bool:
        return str(path).lower().endswith(".pgen")

    def read(self, path: Path) -> GenotypeTable:
        try:
            import pgenlib
        except ImportError:  # pragma: no cover - a declared dependency
            raise GpfnError("reading PLINK 2 files needs pgenlib: pip install pgenlib") from None
        path = Path(path)
        pvar = next((path.with_suffix(e) for e in (".pvar", ".bim") if path.with_suffix(e).is_file()), None)
        psam = next((path.with_suffix(e) for e in (".psam", ".fam") if path.with_suffix(e).is_file()), None)
        if not path.is_file() or pvar is None or psam is None:
            missing = [str(p) for p, ok in ((path, path.is_file()), (path.with_suffix(".pvar"), pvar is not None),
                                             (path.with_suffix(".psam"), psam is not None)) if not ok]
            raise GpfnError(f"{path}: a PLINK 2 fileset needs {', '.join(missing)}; not found")
        samples = _samples(psam)
        try:
            variants = pgenlib.PvarReader(bytes(str(pvar), "utf8"))
            n_var = variants.get_variant_ct()
            offsets = variants.get_allele_idx_offsets()
            n_alleles = np.diff(np.asarray(offsets, np.int64))
            reader = pgenlib.PgenReader(bytes(str(path), "utf8"), raw_sample_ct=len(samples), pvar=variants)
        except GpfnError:
            raise
        except Exception as exc:
            raise GpfnError(f"{path}: not a readable PLINK 2 fileset ({_message(exc)})") from None
        try:
            alt1 = np.array([variants.get_allele_code(j, 1).decode() for j in range(n_var)])
            keep = (n_alleles == 2) & (alt1 != ".")
            skipped = {"multiallelic": int((n_alleles > 2).sum()), "monomorphic_no_alt": int(((n_alleles == 2)
                                                                                             & (alt1 == ".")).sum())}
            idx = np.flatnonzero(keep).astype(np.uint32)
            if not idx.size:
                raise GpfnError(f"{path}: no biallelic variants (skipped: {skipped})")
            dosage = np.empty((len(samples), idx.size), np.int8)
            buf = np.empty((len(samples), min(BLOCK, idx.size)), np.int8)
            for lo in range(0, idx.size, BLOCK):
                part = idx[lo : lo + BLOCK]
                out = buf[:, : part.size] if part.size < buf.shape[1] else buf
                out = np.ascontiguousarray(out)
                reader.read_list(part, out, sample_maj=True)
                dosage[:, lo : lo + part.size] = out
            dosage[dosage < 0] = -1  # pgenlib marks a missing call -9
            chrom = np.array([variants.get_variant_chrom(int(j)).decode() for j in idx])
            pos = np.array([variants.get_variant_pos(int(j)) for j in idx], np.int64)
            vid = np.array([variants.get_variant_id(int(j)).decode() for j in idx])
            ref = np.array([variants.get_allele_code(int(j), 0).decode() for j in idx])
        except GpfnError:
            raise
        except Exception as exc:
            raise GpfnError(f"{path}: damaged PLINK 2 fileset ({_message(exc)})") from None
        finally:
            reader.close()
            variants.close()
        ids = np.where(np.isin(vid, ("", ".")), np.char.add(np.char.add(chrom, ":"), pos.astype(str)), vid)
        check_unique(ids, "marker id", str(pvar))
        return GenotypeTable(samples, ids, chrom, pos, ref, alt1[idx], dosage, source=str(path),
                             info={"reader": self.name, **{f"sites_skipped_{k}": v for k, v in skipped.items()}})


def _samples(psam: Path) -> np.ndarray:
    """Sample ids (IID) of a .psam (header ``#IID`` or ``#FID IID``) or .fam (FID IID ...)."""
    rows = list(lines(psam))
    if not rows:
        raise GpfnError(f"{psam}: no samples")
    head = rows[0][1].split()
    if head[0].startswith("#"):
        names = [h.lstrip("#") for h in head]
        if "IID" not in names:
            raise GpfnError(f"{psam}:{rows[0][0]}: the header names no IID column: {rows[0][1]!r}")
        col, body = names.index("IID"), rows[1:]
    else:  # .fam, or a .psam without a header: FID IID ...
        col, body = 1, rows
    out = []
    for no, line in body:
        cells = line.split()
        if len(cells) <= col:
            raise GpfnError(f"{psam}:{no}: expected an IID in column {col + 1}, got {line!r}")
        out.append(cells[col])
    check_unique(out, "sample", str(psam))
    return np.array(out)


def _message(exc: Exception) -> str:
    import re

    return re.sub(r"\bb'([^']*)'", r"\1", str(exc)) or type(exc).__name__


@hookimpl
def gpfn_genotype_readers():
    return [Pgen]
