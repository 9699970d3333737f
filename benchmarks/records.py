"""Benchmark records: every number README and the model cards quote comes from one of these.

A record is one JSON file under ``benchmarks/results/``, written atomically by a benchmark
run with ``--record``: the command as typed, the commit it ran on (``-dirty`` when tracked
files differed from it), the date, the machine, each model file's fingerprint (its weights
and stacking, :func:`gpfn_core.net.modelfile.fingerprint`), the draws or data it read, and
the results.  Records are never rewritten: a rerun writes a new one, and readers take the
latest record that still matches each model file (:func:`latest`).

    from records import write, latest
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]


def commit() -> str:
    """The checkout's commit (``unknown`` outside git), ``-dirty`` when tracked files other than the
    shipped models' and the benchmark caches (both written by recording runs) differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        # the model files' metadata and cards are what recording runs write (their weights and
        # stacking are in each record's fingerprints), and so are the caches of classical fits (keyed
        # by the code that fitted them, bench_real.py), so changes there alone are not "dirty"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)gpfn_core/models", ":(exclude)benchmarks/results/cache"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def machine() -> dict[str, Any]:
    import numpy
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "python": platform.python_version(), "numpy": numpy.__version__, "torch": torch.__version__}


def model_entry(path: str | Path) -> dict[str, Any]:
    from gpfn_core.net.modelfile import fingerprint, read_metadata

    meta = read_metadata(path)
    return {"fingerprint": fingerprint(path, meta), "prior": meta.get("prior")}


def write(name: str, results: dict[str, Any], models: list[str | Path] = (), data: dict[str, Any] | None = None,
          folder: Path = RESULTS) -> Path:
    """Write ``results`` as a new record ``NAME-YYYYMMDD-HHMMSS.json``; returns its path
    (relative to the repository, as model files store it)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = folder / f"{name}-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{stamp}-{n}.json"
    rec = {"name": name, "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
           "commit": commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
           "models": {Path(p).name: model_entry(p) for p in models}, "data": data or {}, "results": results}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(rec, indent=1, default=_plain) + "\n")
    os.replace(tmp, path)
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


def _plain(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON: {type(v).__name__}")


def records(name: str, folder: Path = RESULTS) -> list[dict[str, Any]]:
    """Every record called ``name``, oldest first, each with its ``path``."""
    out = []
    for p in sorted(folder.glob(f"{name}-*.json")):
        rec = json.loads(p.read_text())
        if rec.get("name") == name:
            rec["path"] = str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
            out.append(rec)
    return sorted(out, key=lambda r: (r["date"], r["path"]))


def latest(name: str, fingerprints: dict[str, str] | None = None, folder: Path = RESULTS) -> dict[str, Any] | None:
    """The newest record ``name`` whose models all still have the given fingerprints
    (``{model file name: fingerprint}``; None: the newest, whatever it measured)."""
    for rec in reversed(records(name, folder)):
        if fingerprints is None or all(fingerprints.get(m) == e.get("fingerprint") for m, e in rec["models"].items()):
            return rec
    return None
