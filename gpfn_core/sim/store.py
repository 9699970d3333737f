"""The draw store: prior draws, preprocessed, in chunked Zarr v3 shards.

Layout of a store directory::

    zarr.json                 root group; attributes = the store's metadata (format,
                              prior, seed, overrides, preprocessing, schedule, shard size)
    shards/00000000/          one Zarr group per shard of K consecutive draws:
        x        float16 [K, n_max, F]   features (zero-padded past n): the selector's, then
                                          the smoothers' (see gpfn_core.net.preprocess)
        y        float32 [K, n_max]      standardised targets
        n_train  int32 [K], n int32 [K]
        attrs    params (one JSON object per draw)

A shard is written under a temporary name and renamed into ``shards/`` when complete,
so a reader never sees a partial shard, and shard ``s`` always holds draws
``s*K .. s*K+K-1`` whoever wrote it: writers own disjoint shard ranges, rerunning a
writer only fills in missing shards, and a crashed writer's leftovers are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.version import __version__
from gpfn_core.atomic import alive
from gpfn_core.errors import GpfnError

STORE_FORMAT = "gpfn-draw-store"
STORE_VERSION = 1
_META_FIELDS = ("prior", "seed", "overrides", "founders", "feature_selection", "feature_max_size", "pop_max_size",
                "min_training_samples", "max_training_samples", "nonuniform_eval_pos", "batch_size", "target", "smoothers", "size_distribution", "context")
_META_DEFAULTS = {"smoothers": "", "size_distribution": "uniform", "context": None}  # stores written before a field existed: its value then


def store_metadata(cfg, num_draws: int, shard_size: int) -> dict[str, Any]:
    meta = {k: v for k, v in asdict(cfg).items() if k in _META_FIELDS}
    return {"format": STORE_FORMAT, "format_version": STORE_VERSION, "gpfn_version": __version__,
            "num_draws": int(num_draws), "shard_size": int(shard_size), **json.loads(json.dumps(meta))}


def settings(meta: dict[str, Any]) -> dict[str, Any]:
    """The FitConfig fields a store was made with (prior, preprocessing, schedule, batch size)."""
    return {k: meta[k] if k in meta else _META_DEFAULTS[k] for k in _META_FIELDS}


def create_store(path: str | Path, meta: dict[str, Any]) -> Path:
    """Create the store (metadata first), or check an existing one was made with the same metadata.

    Creation is atomic: the group is built under a temporary name and renamed into
    place, so generators started at the same time on a new store cannot collide.
    """
    import zarr

    path = Path(path)
    if not (path / "zarr.json").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{_host()}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        zarr.create_group(str(tmp), attributes=meta)
        (tmp / "shards").mkdir()
        try:
            os.rename(tmp, path)  # replaces an empty directory; fails if another creator won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    old = read_metadata(path)
    diff = sorted(k for k in meta if k not in ("gpfn_version", "num_draws") and old.get(k) != meta[k])
    if diff:
        raise GpfnError(f"{path}: the store was made with other settings ({', '.join(diff)}: "
                        f"{[old.get(k) for k in diff]} vs {[meta[k] for k in diff]})")
    if int(meta["num_draws"]) > int(old["num_draws"]):
        extend(path, int(meta["num_draws"]))
    return path


def extend(path: str | Path, num_draws: int) -> None:
    """Raise the store's ``num_draws`` to ``num_draws`` (never lowers it): the metadata is
    rewritten atomically under an exclusive lock, so generators extending a store at once
    (processes, MPI ranks, nodes of a shared filesystem with POSIX locks) agree on the largest."""
    import fcntl

    path = Path(path)
    with open(path / ".metadata.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            doc = json.loads((path / "zarr.json").read_text())
            if int(num_draws) <= int(doc["attributes"]["num_draws"]):
                return
            doc["attributes"]["num_draws"] = int(num_draws)
            tmp = path / f".zarr.json.tmp-{_host()}-{os.getpid()}"
            tmp.write_text(json.dumps(doc, indent=2))
            os.replace(tmp, path / "zarr.json")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        meta = json.loads((path / "zarr.json").read_text())["attributes"]
    except (OSError, ValueError, KeyError, TypeError):
        raise GpfnError(f"{path}: not a gpfn draw store (no readable zarr.json)") from None
    if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
        raise GpfnError(f"{path}: not a gpfn draw store (format {meta.get('format') if isinstance(meta, dict) else meta!r})")
    bad = [k for k, lo in (("num_draws", 0), ("shard_size", 1), ("batch_size", 1))
           if not isinstance(meta.get(k), int) or isinstance(meta.get(k), bool) or meta[k] < lo]
    if bad:
        raise GpfnError(f"{path}: damaged draw-store metadata ({', '.join(f'{k}={meta.get(k)!r}' for k in bad)})")
    if meta.get("format") != STORE_FORMAT:
        raise GpfnError(f"{path}: not a gpfn draw store (format {meta.get('format')!r})")
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > STORE_VERSION:
        raise GpfnError(f"{path}: draw-store format version {meta.get('format_version')!r} is not one this gpfn "
                        f"reads ({STORE_VERSION}); it was written by gpfn {meta.get('gpfn_version', '?')}")
    return meta


def shard_name(s: int) -> str:
    return f"{s:08d}"


def committed_shards(path: str | Path) -> list[int]:
    d = Path(path) / "shards"
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


def write_shard(path: str | Path, s: int, items: list[tuple[np.ndarray, np.ndarray, int, dict]], n_max: int,
                n_features: int) -> Path:
    """Write shard ``s`` from ``items`` (x, y, n_train, params) and commit it by renaming."""
    import zarr

    path = Path(path)
    final = path / "shards" / shard_name(s)
    if final.exists():
        return final
    tmp = path / "shards" / f".tmp-{shard_name(s)}-{_host()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    k = len(items)
    x = np.zeros((k, n_max, n_features), np.float16)
    y = np.zeros((k, n_max), np.float32)
    nt = np.zeros(k, np.int32)
    n = np.zeros(k, np.int32)
    for i, (xi, yi, nti, _) in enumerate(items):
        n[i], nt[i] = len(yi), nti
        x[i, : len(yi)] = xi
        y[i, : len(yi)] = yi
    g = zarr.create_group(str(tmp), attributes={"params": [it[3] for it in items], "first_draw": s * k})
    g.create_array("x", data=x, chunks=(1, n_max, n_features))
    for name, arr in (("y", y), ("n_train", nt), ("n", n)):
        g.create_array(name, data=arr)
    try:
        os.rename(tmp, final)  # atomic; another writer may have committed it first
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def clean_stale(path: str | Path) -> int:
    """Remove temporary shards and metadata left by crashed writers on this host.

    Temporary names end in ``-HOST-PID``; only this host's entries whose process is gone
    are removed, so a writer on another node of a shared filesystem is never disturbed.
    """
    removed = 0
    path = Path(path)
    for p in [*(path / "shards").glob(".tmp-*"), *path.glob(".zarr.json.tmp-*")]:
        *_, host, pid = p.name.split("-")
        if host != _host() or not pid.isdigit() or alive(int(pid)):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed += 1
    return removed


def _check_shard(a: dict[str, np.ndarray], k: int) -> None:
    """A shard's arrays agree with each other and with the store's shard size."""
    x, y, nt, n = a["x"], a["y"], a["n_train"], a["n"]
    if x.ndim != 3 or y.shape != x.shape[:2] or nt.shape != (k,) or n.shape != (k,) or len(x) != k:
        raise ValueError(f"arrays of shapes x {x.shape}, y {y.shape}, n_train {nt.shape}, n {n.shape} for {k} draws")
    if (n > x.shape[1]).any() or (n < 2).any() or (nt < 1).any() or (nt >= n).any():
        raise ValueError("draw sizes outside the shard")


class StoreReader:
    """Random access to committed draws: ``reader[i] -> (x [n, F], y [n], n_train)``."""

    def __init__(self, path: str | Path, delete_consumed: bool = False) -> None:
        self.path = Path(path)
        self.meta = read_metadata(self.path)
        self.k = int(self.meta["shard_size"])
        self.delete_consumed = delete_consumed
        self._cache: tuple[int, Any] | None = None

    def available(self) -> int:
        """Number of draws from index 0 on that are committed without a gap."""
        shards = committed_shards(self.path)
        s = 0
        while s < len(shards) and shards[s] == s:
            s += 1
        return min(s * self.k, int(self.meta["num_draws"]))

    def shard(self, s: int):
        import zarr

        if self._cache is None or self._cache[0] != s:
            p = self.path / "shards" / shard_name(s)
            if not p.is_dir():
                raise GpfnError(f"{self.path}: shard {s} (draws {s * self.k}..) is not in the store yet")
            previous = self._cache[0] if self._cache else None
            try:
                g = zarr.open_group(str(p), mode="r")
                arrays = {name: g[name][:] for name in ("x", "y", "n_train", "n")}
                _check_shard(arrays, self.k)
            except Exception as exc:  # zarr, numcodecs and JSON errors of a damaged shard, named
                raise GpfnError(f"{self.path}: shard {s} (draws {s * self.k}..) is damaged ({type(exc).__name__}: "
                                f"{exc}); delete {p} and rerun gpfn generate to write it again") from None
            self._cache = (s, arrays)
            if self.delete_consumed and previous is not None and previous < s:
                shutil.rmtree(self.path / "shards" / shard_name(previous), ignore_errors=True)
        return self._cache[1]

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        sh = self.shard(i // self.k)
        j = i % self.k
        n = int(sh["n"][j])
        return sh["x"][j, :n].astype(np.float32), sh["y"][j, :n], int(sh["n_train"][j])

    def wait_for(self, i: int, poll: float = 2.0, timeout: float | None = None) -> None:
        """Block until draw ``i`` is committed (follow mode)."""
        t0 = time.monotonic()
        while not (self.path / "shards" / shard_name(i // self.k)).is_dir():
            if timeout is not None and time.monotonic() - t0 > timeout:
                raise GpfnError(f"{self.path}: timed out waiting for shard {i // self.k}")
            time.sleep(poll)
