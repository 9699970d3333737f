"""The Dataset file (`gpfn parse` output): a Zarr v3 group, a directory or a .zip.

Arrays: ``genotypes`` int8 [n, m] (0/1/2 copies of ``alt``, -1 missing), ``taxa``,
``marker``, ``chrom``, ``ref``, ``alt`` (strings), ``pos`` int64, and, when phenotypes
were joined, ``phenotypes`` float64 [n, k] (NaN missing) named by the attribute
``phenotype_names``.  Attributes: ``format`` ("gpfn-dataset"), ``format_version``,
``gpfn_version``, ``source``, ``reader`` and a ``report`` of what parsing changed.
Everything loads as plain arrays and JSON: no pickle, no code.  Writes go to a
temporary path beside the output and are renamed into place when complete.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.atomic import publish, remove_stale, temp_path
from gpfn_core.version import __version__
from gpfn_core.errors import GpfnError
from gpfn_core.types import GenotypeTable

DATASET_FORMAT = "gpfn-dataset"
DATASET_VERSION = 1
_STRINGS = ("taxa", "marker", "chrom", "ref", "alt")


@dataclass
class Dataset:
    table: GenotypeTable
    phenotypes: np.ndarray | None = None  # float64 [n, k], NaN = missing
    phenotype_names: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    def phenotype(self, name: str | None = None) -> np.ndarray:
        """One phenotype column (the first when ``name`` is None)."""
        if self.phenotypes is None or not self.phenotype_names:
            raise GpfnError(f"{self.attrs.get('path', 'dataset')}: has no phenotypes (parse it with --phenotypes)")
        if name is None:
            return self.phenotypes[:, 0]
        if name not in self.phenotype_names:
            raise GpfnError(f"phenotype {name!r} not in the dataset; it has: {', '.join(self.phenotype_names)}")
        return self.phenotypes[:, self.phenotype_names.index(name)]


def write_dataset(path: str | Path, ds: Dataset, overwrite: bool = False) -> Path:
    """Write ``ds`` to ``path`` (a directory, or a zip when it ends in .zip) atomically
    (:mod:`gpfn_core.atomic`: whole or absent, never clobbered without ``overwrite``)."""
    import zarr

    path = Path(path)
    if path.exists() and not overwrite:
        raise GpfnError(f"{path}: already exists (use --force to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)  # what a killed writer of this output left
    tmp = temp_path(path)
    _remove(tmp)
    t = ds.table
    try:
        store: Any
        if path.suffix == ".zip":
            store = zarr.storage.ZipStore(tmp, mode="w")
        else:
            store = zarr.storage.LocalStore(tmp)
        attributes = {  # the Dataset's own fields last: attributes read from another file cannot override them
            **{k: v for k, v in ds.attrs.items() if k != "path"},
            "format": DATASET_FORMAT, "format_version": DATASET_VERSION, "gpfn_version": __version__,
            "source": t.source, "phenotype_names": list(ds.phenotype_names),
        }
        # attributes at creation: a zip cannot rewrite its zarr.json later
        g = zarr.create_group(store, attributes=attributes)
        n, m = t.dosage.shape
        g.create_array("genotypes", data=np.ascontiguousarray(t.dosage, dtype=np.int8),
                       chunks=(max(1, min(n, 1024)), max(1, min(m, 16384))))
        for name in _STRINGS:  # variable-length UTF-8 (a registered Zarr v3 extension data type)
            values = np.asarray(getattr(t, name)).astype(str).astype(object)
            arr = g.create_array(name, shape=values.shape, dtype=str, chunks=(max(1, min(len(values), 65536)),))
            if len(values):
                arr[:] = values
        g.create_array("pos", data=np.asarray(t.pos, dtype=np.int64))
        if ds.phenotypes is not None:
            g.create_array("phenotypes", data=np.asarray(ds.phenotypes, dtype=np.float64).reshape(n, -1))
        if path.suffix == ".zip":
            store.close()
    except BaseException:
        _remove(tmp)
        raise
    return publish(tmp, path, overwrite)


def read_dataset(path: str | Path) -> Dataset:
    """Read a Dataset file; a clear error for anything that is not one."""
    import zarr

    path = Path(path)
    if not path.exists():
        raise GpfnError(f"{path}: no such dataset")
    if path.is_file() and not zipfile.is_zipfile(path):
        raise GpfnError(f"{path}: not a gpfn Dataset but a plain file (a genotype file?); make one with "
                        f"`gpfn parse {path} -o {path.name.split('.')[0]}.gpfn` and give that")
    try:
        store = zarr.storage.ZipStore(path, mode="r") if path.is_file() else zarr.storage.LocalStore(path, read_only=True)
        g = zarr.open_group(store, mode="r")
        attrs = dict(g.attrs)
    except Exception as exc:
        raise GpfnError(f"{path}: not a gpfn dataset ({type(exc).__name__}: {exc})") from None
    if attrs.get("format") != DATASET_FORMAT:
        raise GpfnError(f"{path}: not a gpfn dataset (a Zarr group without format '{DATASET_FORMAT}')")
    version = attrs.get("format_version")
    if not isinstance(version, int) or version > DATASET_VERSION:
        raise GpfnError(f"{path}: dataset format version {version!r} is newer than this gpfn reads ({DATASET_VERSION}); "
                        f"it was written by gpfn {attrs.get('gpfn_version', '?')}")
    try:
        cols = {name: np.array(g[name][:].tolist(), dtype=str).reshape(-1) for name in _STRINGS}
        dosage = np.asarray(g["genotypes"][:])
        if dosage.dtype != np.int8 or dosage.ndim != 2 or dosage.size and (dosage.min() < -1 or dosage.max() > 2):
            raise ValueError(f"genotypes of dtype {dosage.dtype}, shape {dosage.shape}, not 0/1/2 with -1 missing")
        report = attrs.get("report", {})
        table = GenotypeTable(dosage=dosage, pos=np.asarray(g["pos"][:], dtype=np.int64).reshape(-1),
                              source=str(attrs.get("source", "")), info=dict(report) if isinstance(report, dict) else {},
                              **cols)
        names = attrs.get("phenotype_names", [])
        pheno = np.asarray(g["phenotypes"][:], dtype=np.float64) if "phenotypes" in g else None
        if not isinstance(names, list) or (pheno is not None and pheno.shape != (table.n_taxa, len(names))):
            raise ValueError(f"phenotypes of shape {None if pheno is None else pheno.shape} for {table.n_taxa} taxa "
                             f"and the names {names!r}")
    except GpfnError as exc:
        raise GpfnError(f"{path}: damaged gpfn dataset ({exc})") from None
    except Exception as exc:  # zarr, zip and codec errors of a damaged file, named
        raise GpfnError(f"{path}: damaged gpfn dataset ({type(exc).__name__}: {exc})") from None
    attrs["path"] = str(path)
    return Dataset(table, pheno, [str(n) for n in names], attrs)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()
