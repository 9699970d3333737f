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
    factors: np.ndarray | None = None  # str [n, f]: columns of words of the phenotype file ("" = missing)
    factor_names: list[str] = field(default_factory=list)

    def covariates(self, names: list[str]) -> tuple[np.ndarray, list[str]]:
        """The design matrix ``[n, p]`` of covariates ``names`` and its column labels: a factor
        (a column of words) is one indicator column per level but the first; a numeric
        phenotype column is itself.  A missing value is an error naming it and its taxa."""
        cols, labels = [], []
        for name in names:
            if name in self.factor_names:
                v = self.factors[:, self.factor_names.index(name)]
                missing = v == ""
                levels = sorted(set(v[~missing]))
                cols += [(v == lev).astype(np.float64) for lev in levels[1:]]
                labels += [f"{name}={lev}" for lev in levels[1:]]
            elif name in self.phenotype_names:
                v = self.phenotypes[:, self.phenotype_names.index(name)]
                missing = ~np.isfinite(v)
                cols.append(np.nan_to_num(v))
                labels.append(name)
            else:
                raise GpfnError(f"{self.attrs.get('path', 'dataset')}: no covariate column {name!r}; it has "
                                f"{', '.join(self.factor_names + self.phenotype_names) or 'none'}")
            if missing.any():
                taxa = ", ".join(self.table.taxa[missing][:5])
                raise GpfnError(f"{self.attrs.get('path', 'dataset')}: covariate '{name}' is missing for "
                                f"{int(missing.sum())} taxa (e.g. {taxa}); give it a value or leave it out")
        return (np.column_stack(cols) if cols else np.zeros((self.table.n_taxa, 0))), labels

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
            "source": t.source, "phenotype_names": list(ds.phenotype_names), "factor_names": list(ds.factor_names),
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
        if ds.factors is not None and ds.factor_names:
            values = np.asarray(ds.factors).astype(str).reshape(n, -1).astype(object)
            g.create_array("factors", shape=values.shape, dtype=str, chunks=values.shape or (1,))[...] = values
        if path.suffix == ".zip":
            store.close()
    except BaseException:
        _remove(tmp)
        raise
    return publish(tmp, path, overwrite)


def _open(path: Path):
    """The Zarr group of the Dataset at ``path`` and its attributes, checked to be one."""
    import zarr

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
    return g, attrs


def read_dataset(path: str | Path) -> Dataset:
    """Read a Dataset file; a clear error for anything that is not one."""
    path = Path(path)
    g, attrs = _open(path)
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
        factor_names = attrs.get("factor_names", [])
        factors = np.array(g["factors"][:].tolist(), dtype=str) if "factors" in g else None
        if not isinstance(factor_names, list) or (factors is not None
                                                   and factors.shape != (table.n_taxa, len(factor_names))):
            raise ValueError(f"factors of shape {None if factors is None else factors.shape} for {table.n_taxa} taxa "
                             f"and the names {factor_names!r}")
    except GpfnError as exc:
        raise GpfnError(f"{path}: damaged gpfn dataset ({exc})") from None
    except Exception as exc:  # zarr, zip and codec errors of a damaged file, named
        raise GpfnError(f"{path}: damaged gpfn dataset ({type(exc).__name__}: {exc})") from None
    attrs["path"] = str(path)
    return Dataset(table, pheno, [str(n) for n in names], attrs, factors, [str(n) for n in factor_names])


def open_genotypes(path: str | Path):
    """The genotypes of the Dataset directory at ``path``, opened but not read: its Zarr array
    (int8 ``[taxa, markers]``, 0/1/2 with -1 missing, stored in chunks of up to
    1,024 x 16,384), checked to be a Dataset's.  ``dask.array.from_zarr`` of it reads the
    chunks where they are used, for genotypes too large to hold in memory
    (``docs/scale.md``).  A zipped Dataset is refused: several processes cannot read one zip."""
    path = Path(path)
    if path.is_file():
        raise GpfnError(f"{path}: a zipped Dataset; Dask reads a Dataset directory (write one without .zip)")
    g, _ = _open(path)
    try:
        arr = g["genotypes"]
    except KeyError:
        arr = None
    if arr is None or arr.dtype != np.int8 or arr.ndim != 2:
        raise GpfnError(f"{path}: damaged gpfn dataset (no int8 [taxa, markers] genotypes array)")
    return arr


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()
