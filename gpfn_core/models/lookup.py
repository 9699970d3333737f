"""Finding shipped models: by population type, in the model folders (this package and
``$GPFN_MODELS``), and which type ``gpfn predict`` uses by default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gpfn_core.errors import GpfnError
from gpfn_core.net.modelfile import read_metadata

# population type (as breeders say it) -> prior the model was fitted on
POPULATION_TYPES = {"nam": "nam", "diverse": "wild", "wild": "wild", "silva": "silva", "ril": "ril",
                    "recurrent": "recurrent", "outbred": "outbred", "hybrid": "hybrid", "universal": "universal"}
FALLBACK_POPULATION_TYPE = "nam"


def default_population_type(found: list[tuple[Path, dict[str, Any]]] | None = None) -> tuple[str, str]:
    """The population type ``gpfn predict`` uses without ``--population-type``, and why.

    ``universal`` when a universal model is installed and, on the matrix recorded on the
    *selection* draws for the files as they are now (:func:`~gpfn_core.models.scoring.current`),
    it is at least as accurate on every prior as that prior's own model is; otherwise
    ``nam``.  The final draws never decide it.  ``found``: :func:`list_models` when the
    caller has it.
    """
    from gpfn_core.models.scoring import current

    found = list_models() if found is None else found
    uni = next(((p, m) for p, m in found if m.get("prior") == "universal"), None)
    if uni is None:
        return FALLBACK_POPULATION_TYPE, "no universal model is installed"
    row = current(*uni)["matrix"].get("selection", {})
    if not row:
        return FALLBACK_POPULATION_TYPE, "the universal model is not measured since its last change"
    worse = []
    for path, meta in found:
        own = meta.get("prior")
        if own == "universal":
            continue
        cell = current(path, meta)["matrix"].get("selection", {}).get(own)
        if cell is None:
            continue
        if own not in row or row[own].get("model_r", float("-inf")) < cell.get("model_r", float("inf")):
            # five decimals: at three, a gap of 0.0002 reads as "0.524 < 0.524"
            worse.append(f"{own} ({_fmt(row.get(own, {}).get('model_r'), '.5f')} < {_fmt(cell.get('model_r'), '.5f')})")
    if worse:
        return FALLBACK_POPULATION_TYPE, f"the universal model is behind the specific models on {', '.join(worse)}"
    return "universal", "the universal model is at least as accurate as each specific model on its own prior"


def population_types(prior: str | None) -> list[str]:
    """The population types (``--population-type``) served by a model of ``prior``."""
    return [t for t, p in POPULATION_TYPES.items() if p == prior]


def model_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("GPFN_MODELS", "").split(os.pathsep) if p]
    return dirs + [Path(__file__).parent]


def list_models() -> list[tuple[Path, dict[str, Any]]]:
    """Every readable model file in the model folders, with its metadata."""
    out = []
    for d in model_dirs():
        for p in sorted(d.glob("*.gpfn")) if d.is_dir() else []:
            try:
                out.append((p, read_metadata(p)))
            except GpfnError:
                continue
    return out


def shipped_model(population_type: str | None) -> tuple[Path, str]:
    """The shipped model for ``population_type`` (None: :func:`default_population_type`) and
    a line saying which it is and why."""
    found, why = list_models(), ""
    if population_type is None:
        population_type, why = default_population_type(found)
        why = f", the default: {why}"
    path = find_model(population_type, found)
    return path, f"model: {path} (shipped, population type {population_type}{why})"


def model_file(spec: str | Path | None, default: str = "nam") -> Path:
    """A model file named by a benchmark's ``--model``: a path to one, or a population type
    whose shipped model it is (``outbred``); None: ``default``'s shipped model."""
    if spec is None:
        return find_model(default)
    if Path(spec).is_file():
        return Path(spec)
    if str(spec) in POPULATION_TYPES:
        return find_model(str(spec))
    raise GpfnError(f"no model file {str(spec)!r}, and it names no population type ({', '.join(POPULATION_TYPES)})")


def find_model(population_type: str, found: list[tuple[Path, dict[str, Any]]] | None = None) -> Path:
    """The shipped model for ``population_type`` (nam, diverse, silva, ...); ``found``:
    :func:`list_models` when the caller has it."""
    prior = POPULATION_TYPES.get(population_type)
    if prior is None:
        raise GpfnError(f"unknown population type {population_type!r}; known: {', '.join(POPULATION_TYPES)}")
    for path, meta in list_models() if found is None else found:
        if meta.get("prior") == prior:
            return path
    raise GpfnError(f"no shipped model for population type '{population_type}' (prior '{prior}') in "
                    f"{', '.join(map(str, model_dirs()))}; give --model FILE (see `gpfn models`)")


def _fmt(v: Any, spec: str = ".3f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "?"
