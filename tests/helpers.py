"""Helpers the tests share: small Datasets written from prior draws."""

import csv

import numpy as np

from gpfn_core import GenotypeTable
from gpfn_core.data.dataset import Dataset, write_dataset


def dataset(path, dosage, taxa, y=None, swap=False, markers=None, chrom="1"):
    m = dosage.shape[1]
    ref, alt = np.array(["A"] * m), np.array(["G"] * m)
    if swap:
        ref, alt = alt, ref
        dosage = np.where(dosage < 0, dosage, 2 - dosage)
    t = GenotypeTable(np.array(taxa), np.array(markers or [f"m{j}" for j in range(m)]), np.array([chrom] * m),
                      np.arange(m) * 100, ref, alt, dosage.astype(np.int8))
    write_dataset(path, Dataset(t, None if y is None else np.asarray(y, float)[:, None], [] if y is None else ["y"]))
    return path


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def setup(tmp_path, draw, swap=False, n_train=None):
    nt = n_train or draw.n_train
    taxa = [f"t{i}" for i in range(draw.n)]
    tr = dataset(tmp_path / "train.gpfn", draw.x[:nt], taxa[:nt], draw.y[:nt])
    tg = dataset(tmp_path / "target.gpfn", draw.x[nt:], taxa[nt:], swap=swap)
    return tr, tg, nt


def needs(*tools: str, modules: tuple[str, ...] = ()):
    """A mark for a test that runs external tools (``bcftools``, ``plink1.9``, ``mpiexec``...).
    Where one is missing the test is skipped, naming it, except under ``GPFN_REQUIRE_TOOLS=1``
    (``.ci/run`` sets it after installing them all), where it runs and fails: CI never skips."""
    import importlib.util
    import os
    import shutil

    import pytest

    missing = [t for t in tools if not shutil.which(t)] + [m for m in modules if not importlib.util.find_spec(m)]
    if missing and not os.environ.get("GPFN_REQUIRE_TOOLS"):
        return pytest.mark.skip(reason=f"needs {', '.join(missing)} (.ci/run installs them, and there a missing one "
                                       f"is a failure)")
    return lambda test: test
