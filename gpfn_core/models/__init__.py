"""Shipped models: lookup by population type, and their cards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gpfn_core.errors import GpfnError

# population type (as breeders say it) -> prior the model was fitted on
POPULATION_TYPES = {"nam": "nam", "diverse": "wild", "wild": "wild", "silva": "silva", "ril": "ril",
                    "recurrent": "recurrent"}


def model_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("GPFN_MODELS", "").split(os.pathsep) if p]
    return dirs + [Path(__file__).parent]


def list_models() -> list[tuple[Path, dict[str, Any]]]:
    """Every readable model file in the model folders, with its metadata."""
    from gpfn_core.modelfile import read_metadata

    out = []
    for d in model_dirs():
        for p in sorted(d.glob("*.gpfn")) if d.is_dir() else []:
            try:
                out.append((p, read_metadata(p)))
            except GpfnError:
                continue
    return out


def find_model(population_type: str) -> Path:
    """The shipped model for ``population_type`` (nam, diverse, silva, ...)."""
    prior = POPULATION_TYPES.get(population_type)
    if prior is None:
        raise GpfnError(f"unknown population type {population_type!r}; known: {', '.join(POPULATION_TYPES)}")
    for path, meta in list_models():
        if meta.get("prior") == prior:
            return path
    raise GpfnError(f"no shipped model for population type '{population_type}' (prior '{prior}') in "
                    f"{', '.join(map(str, model_dirs()))}; give --model FILE (see `gpfn models`)")
