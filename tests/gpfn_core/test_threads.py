import json
import os
import subprocess
import sys

import numpy as np
from helpers import needs
import torch

from gpfn_core.threads import cores_owned, threads_for

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "SLURM_CPUS_PER_TASK")


def test_threads_follow_the_cores_unless_the_user_says():
    assert threads_for(2, environ={}, cores=16) == (8, "16 cores / 2 processes")
    assert threads_for(64, environ={}, cores=16)[0] == 1  # never 0
    assert threads_for(4, environ={"SLURM_CPUS_PER_TASK": "3"}, cores=64)[0] == 3
    assert threads_for(4, environ={"OMP_NUM_THREADS": "5", "SLURM_CPUS_PER_TASK": "3"}, cores=64)[0] == 5
    assert threads_for(4, environ={"OMP_NUM_THREADS": "junk"}, cores=8)[0] == 2  # unusable: ignored
    assert cores_owned() >= 1


class _Pools(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        from threadpoolctl import threadpool_info

        np.ones((64, 64)) @ np.ones((64, 64))  # BLAS loaded and used
        return max(p["num_threads"] for p in threadpool_info()), torch.get_num_threads()


def test_fit_workers_start_with_their_share_of_the_cores(monkeypatch):
    from gpfn_core.net.batches import _worker_init

    for v in THREAD_VARS:
        monkeypatch.delenv(v, raising=False)
    loader = torch.utils.data.DataLoader(_Pools(), batch_size=None, num_workers=2, worker_init_fn=_worker_init)
    share = max(1, cores_owned() // 2)
    for blas, torch_threads in loader:
        assert blas <= share and torch_threads == share


@needs("mpiexec", modules=("mpi4py",))
def test_mpi_ranks_share_the_cores_with_no_thread_variables(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    args = ["mpiexec", "-n", "2", sys.executable, "-m", "gpfn_cli.main", "generate", "--prior", "ril", "--founders",
            "random", "--set", "n_markers=300", "--store", str(tmp_path / "s"), "--num-draws", "8", "--shard-size",
            "4", "--feature-max-size", "8", "--pop-max-size", "60", "--batch-size", "4", "--mpi"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout)
    share = max(1, cores_owned() // 2)
    assert rep["ranks"] == 2 and rep["threads_per_rank"] == share and rep["blas_threads"] <= share
    assert rep["threads_from"] == f"{cores_owned()} cores / 2 processes"


def test_a_cgroup_cpu_quota_caps_the_cores(tmp_path, monkeypatch):
    from gpfn_core import threads

    (tmp_path / "cpu.max").write_text("150000 100000\n")  # cgroup v2: 1.5 cores
    assert threads.cgroup_quota(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_quota(str(tmp_path)) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")  # cgroup v1: 3 cores
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_quota(str(tmp_path)) == 3.0
    monkeypatch.setattr(threads, "cgroup_quota", lambda: 1.0)
    assert threads.cores_owned() == 1


def test_memory_available_is_the_smaller_of_the_kernels_and_the_cgroups(tmp_path):
    from gpfn_core.threads import memory_available

    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       24000000 kB\nMemAvailable:    8388608 kB\n")
    cg = tmp_path / "cg"
    cg.mkdir()
    assert memory_available(str(cg), str(info)) == 8 * 2**30  # no cgroup limit
    (cg / "memory.max").write_text(f"{2**30}\n")
    (cg / "memory.current").write_text(f"{2**28}\n")
    assert memory_available(str(cg), str(info)) == 2**30 - 2**28  # the cgroup leaves less
    (cg / "memory.max").write_text("max\n")
    assert memory_available(str(cg), str(info)) == 8 * 2**30
    assert memory_available(str(tmp_path / "none"), str(tmp_path / "none")) is None
