"""The documented Dask recipe (docs/scale.md): GBLUP's matrix products run blockwise on a
local Dask cluster from Zarr Datasets and give what the in-memory path gives."""

import dask.array as da
import distributed
import numpy as np
import pytest

from gpfn_core.data.dataset import Dataset, open_genotypes, read_dataset, write_dataset
from gpfn_core.data.encoding import Encoding
from gpfn_core.errors import GpfnError
from gpfn_core.linear.gblup import gblup
from gpfn_core.linear.kinship import relationship
from gpfn_core.types import GenotypeTable


def _table(rng, n, m, prefix):
    d = rng.integers(0, 3, (n, m)).astype(np.int8)
    d[rng.random((n, m)) < 0.02] = -1  # missing calls: imputed with the training mean on both paths
    d[:, 5] = 2  # a monomorphic marker
    return GenotypeTable(np.array([f"{prefix}{i}" for i in range(n)]), np.array([f"1:{i * 10}" for i in range(m)]),
                         np.array(["1"] * m), np.arange(m) * 10, np.array(["A"] * m), np.array(["G"] * m), d,
                         source="x")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        yield client


def test_gblup_on_a_local_dask_cluster_equals_the_in_memory_path(tmp_path, cluster):
    rng = np.random.default_rng(5)
    train, target = _table(rng, 150, 700, "t"), _table(rng, 40, 700, "v")
    y = train.dosage[:, :30].clip(0).sum(1) + rng.normal(0, 3, 150)
    write_dataset(tmp_path / "train.gpfn", Dataset(train, y.reshape(-1, 1), ["y"]))
    write_dataset(tmp_path / "target.gpfn", Dataset(target))
    # chunks far smaller than the arrays, so every product is a sum over many blocks
    xt = da.from_zarr(open_genotypes(tmp_path / "train.gpfn")).rechunk((64, 128))
    xv = da.from_zarr(open_genotypes(tmp_path / "target.gpfn")).rechunk((64, 128))
    assert xt.npartitions > 10
    y_read = read_dataset(tmp_path / "train.gpfn").phenotype()
    lazy = gblup(xt, y_read, xv)
    eager = gblup(train.dosage, y, target.dosage)
    np.testing.assert_allclose(lazy.prediction, eager.prediction, rtol=1e-6)  # sums in another order
    assert lazy.delta == pytest.approx(eager.delta, rel=1e-5)
    # the encoding and the relationships themselves, not only the prediction
    enc_lazy, enc = Encoding.fit(xt), Encoding.fit(train.dosage)
    np.testing.assert_array_equal(enc_lazy.flip, enc.flip)
    np.testing.assert_allclose(enc_lazy.mean, enc.mean, rtol=1e-6)
    k_lazy = relationship(enc_lazy.transform(xt), enc_lazy.transform(xv))
    k = relationship(enc.transform(train.dosage), enc.transform(target.dosage))
    assert all(isinstance(a, np.ndarray) for a in k_lazy)
    for a, b in zip(k_lazy, k):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_open_genotypes_refuses_what_dask_cannot_read(tmp_path):
    rng = np.random.default_rng(1)
    ds = Dataset(_table(rng, 10, 20, "t"))
    write_dataset(tmp_path / "a.zip", ds)
    with pytest.raises(GpfnError, match="zipped Dataset"):
        open_genotypes(tmp_path / "a.zip")
    (tmp_path / "plain").mkdir()
    with pytest.raises(GpfnError, match="not a gpfn dataset"):
        open_genotypes(tmp_path / "plain")
    arr = open_genotypes(write_dataset(tmp_path / "b.gpfn", ds))
    assert arr.shape == (10, 20) and arr.dtype == np.int8
