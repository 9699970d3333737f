"""The model file: safetensors weights plus a JSON config, in one file, no pickle.

The JSON (under the safetensors metadata key ``gpfn``) holds the architecture, the
bucket borders, the feature selector and its size, the preprocessing version, the
prior and its hyperparameters, and the training statistics.  Loading runs no code
from the file: safetensors parses tensors, ``json`` parses the rest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from gpfn_core.version import __version__
from gpfn_core.atomic import remove_stale, temp_path
from gpfn_core.errors import GpfnError
from gpfn_core.net.bar import BarDistribution
from gpfn_core.net.model import PFN, ModelConfig
from gpfn_core.net.preprocess import PREPROCESSING_VERSION

MODEL_FORMAT = 1
METADATA_KEY = "gpfn"


def save_model(path: str | Path, model: PFN, bar: BarDistribution, info: dict[str, Any],
               dtype: torch.dtype | None = None) -> Path:
    """Write ``model`` atomically (temporary file, then rename); ``dtype`` e.g. float16 to halve the size."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: (v.detach().to("cpu", dtype or v.dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in model.state_dict().items()}
    meta = {
        "format": MODEL_FORMAT,
        "gpfn_version": __version__,
        "preprocessing_version": PREPROCESSING_VERSION,
        "architecture": model.config.to_dict(),
        "borders": bar.borders.tolist(),
        **info,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = temp_path(path)
    save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta)})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # safetensors writes 0600; a model file is for everyone who may read the folder
    os.replace(tmp, path)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON config of a model file; a clear error for anything that is not one of ours."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise GpfnError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except Exception as exc:
        raise GpfnError(f"{path}: not a gpfn model file (not safetensors: {exc})") from None
    if raw is None:
        raise GpfnError(f"{path}: a safetensors file, but not a gpfn model (no '{METADATA_KEY}' metadata)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GpfnError(f"{path}: damaged gpfn metadata ({exc})") from None
    fmt = meta.get("format")
    if not isinstance(fmt, int) or fmt > MODEL_FORMAT:
        raise GpfnError(f"{path}: model format {fmt!r} is newer than this gpfn understands ({MODEL_FORMAT}); "
                        f"upgrade gpfn (the file was written by gpfn {meta.get('gpfn_version', '?')})")
    if meta.get("preprocessing_version", 0) > PREPROCESSING_VERSION:
        raise GpfnError(f"{path}: preprocessing version {meta['preprocessing_version']} is newer than this gpfn's")
    return meta


def fingerprint(path: str | Path, meta: dict[str, Any] | None = None) -> str:
    """16 hex digits that change when the model's predictions can: a SHA-256 of the weights
    (the safetensors data and tensor layout, not its metadata) and of the stacking, the two
    things a prediction is made of.  Results recorded in the file carry the fingerprint
    they were measured with, so a refit or restack makes them stale rather than wrong
    (``gpfn models`` then says "not measured since the last change")."""
    import hashlib
    import struct

    path = Path(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        h.update(json.dumps(header, sort_keys=True).encode())
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    meta = read_metadata(path) if meta is None else meta
    h.update(json.dumps(meta.get("stack"), sort_keys=True).encode())
    return h.hexdigest()[:16]


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[PFN, BarDistribution, dict[str, Any]]:
    """Model, bar distribution and metadata from a model file (float32 on ``device``)."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    try:
        # files from before these options: plain attention, no kernel features
        arch = {"relationship_bias": False, "kernel_features": 0, **meta["architecture"]}
        model = PFN(ModelConfig(**arch))
        state = load_file(str(path), device="cpu")
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        bar = BarDistribution(meta["borders"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise GpfnError(f"{path}: damaged gpfn model file ({exc})") from None
    return model.to(device).eval(), bar.to(device), meta


def record_metadata(path: str | Path, update: dict[str, Any] | Any) -> None:
    """Rewrite the model file atomically with ``update`` merged into its metadata (a key whose
    new value is None is removed); weights unchanged.

    ``update`` may be a function of the current metadata returning the update; it runs
    under an exclusive lock on ``PATH.lock``, so concurrent recorders (two benchmark
    processes filling different matrix columns) do not lose each other's cells."""
    import fcntl

    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if callable(update):
                update = update(read_metadata(path))
            _rewrite(path, update)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _rewrite(path: str | Path, update: dict[str, Any]) -> None:
    from safetensors import safe_open

    model, bar, meta = load_model(path)
    with safe_open(str(path), framework="pt") as f:
        dtype = f.get_tensor(next(iter(f.keys()))).dtype
    info = {k: v for k, v in meta.items()
            if k not in ("format", "gpfn_version", "preprocessing_version", "architecture", "borders")}
    merged = {k: v for k, v in {**info, **update}.items() if v is not None}
    save_model(path, model, bar, merged, dtype=dtype)
