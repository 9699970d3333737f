"""The ``vcz`` reader: VCF Zarr stores, as ``bio2zarr vcf2zarr`` (0.2) and sgkit write them.

The arrays and their conversion are :mod:`gpfn_core.data.vcz`'s (shared with
``GPFNRegressor``, which takes the same arrays from an xarray/sgkit Dataset): one chunk of
variants at a time, so memory follows the chunk size, not the cohort, with the ``vcf``
reader's filters, allele handling and missing-call report, so a VCF and its conversion
give the same Dataset.

Before any chunk is decoded every array's codecs are checked against a list of
compressors and filters that only decode data: a store naming ``pickle`` (or any codec
outside the list) is refused, since decoding it could run code.

Registered through its own entry point (``vcz = "gpfn_plugins.vcz"``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


from gpfn_core import GenotypeReader, GenotypeTable, hookimpl
from gpfn_core.data.vcz import vcz_table
from gpfn_core.errors import GpfnError

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
            return self._read(path, g)
        except GpfnError:
            raise
        except Exception as exc:  # zarr and codec errors of a damaged store, named
            raise GpfnError(f"{path}: damaged VCF Zarr store ({type(exc).__name__}: {exc})") from None

    def _read(self, path: Path, g) -> GenotypeTable:
        return vcz_table(g, path, self.name)


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
