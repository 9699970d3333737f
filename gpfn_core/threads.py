"""Threads per process that follow the cores the process owns.

Every process that computes draws (``generate --workers``, ``generate --mpi`` ranks,
``fit``'s DataLoader workers) would otherwise start BLAS/OpenMP thread pools as wide as
the node, and several such processes on one node spin against each other: two MPI
ranks on this 2-core machine ran 47x slower than with one thread each.

:func:`threads_for` decides (first match wins):

1. the user's explicit ``OMP_NUM_THREADS`` (then ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``);
2. ``SLURM_CPUS_PER_TASK`` (Slurm's cores per task);
3. the cores this process may run on (``os.sched_getaffinity``, capped by a cgroup CPU
   quota) divided by the number of processes sharing them (local MPI ranks, or worker
   processes).

:func:`limit_threads` applies it with threadpoolctl (the BLAS and OpenMP libraries
already loaded), the environment (libraries loaded later) and torch's own pool.
"""

from __future__ import annotations

import os
import sys

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cores_owned() -> int:
    """Cores this process may use: its affinity mask (the CPU count where there is none),
    capped by a cgroup CPU quota (containers, Slurm, systemd limits), at least one."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = max(1, os.cpu_count() or 1)
    quota = cgroup_quota()
    return max(1, min(cores, int(quota))) if quota else cores


def cgroup_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in cores (cgroup v2 ``cpu.max``, or v1's
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), or None where there is none."""
    for path, parse in ((f"{root}/cpu.max", _v2), (f"{root}/cpu/cpu.cfs_quota_us", _v1),
                        (f"{root}/cpu,cpuacct/cpu.cfs_quota_us", _v1)):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        return parse(text, path)
    return None


def memory_available(root: str = "/sys/fs/cgroup", meminfo: str = "/proc/meminfo") -> int | None:
    """Bytes this process can still allocate: the kernel's ``MemAvailable``, capped by what
    its cgroup's memory limit leaves (v2 ``memory.max`` - ``memory.current``, or v1's
    ``memory.limit_in_bytes`` - ``memory.usage_in_bytes``); None where neither is known."""
    out = None
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    out = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in ((f"{root}/memory.max", f"{root}/memory.current"),
                         (f"{root}/memory/memory.limit_in_bytes", f"{root}/memory/memory.usage_in_bytes")):
        try:
            with open(limit) as f:
                text = f.read().strip()
            with open(usage) as f:
                used = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if text != "max" and int(text) < 2**60:  # v1 writes a huge number for "no limit"
            left = max(int(text) - used, 0)
            out = left if out is None else min(out, left)
        break
    return out


def _v2(text: str, path: str) -> float | None:
    quota, _, period = text.strip().partition(" ")
    return None if quota == "max" or not period else int(quota) / int(period)


def _v1(text: str, path: str) -> float | None:
    quota = int(text.strip())
    if quota <= 0:
        return None
    with open(path.replace("cfs_quota_us", "cfs_period_us")) as f:
        return quota / int(f.read().strip())


def _positive_int(value: str | None) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if n >= 1 else None


def threads_for(processes: int = 1, environ: dict[str, str] | None = None, cores: int | None = None) -> tuple[int, str]:
    """``(threads, why)`` for one of ``processes`` processes sharing this process's cores."""
    env = os.environ if environ is None else environ
    for var in _THREAD_VARS:
        n = _positive_int(env.get(var))
        if n:
            return n, f"{var}={n}"
    n = _positive_int(env.get("SLURM_CPUS_PER_TASK"))
    if n:
        return n, f"SLURM_CPUS_PER_TASK={n}"
    cores = cores_owned() if cores is None else cores
    processes = max(1, int(processes))
    return max(1, cores // processes), f"{cores} cores / {processes} processes"


def limit_threads(n: int) -> None:
    """Cap this process's BLAS/OpenMP pools (loaded and to be loaded) and torch's at ``n`` threads."""
    from threadpoolctl import threadpool_limits

    for var in _THREAD_VARS:
        os.environ.setdefault(var, str(n))
    threadpool_limits(n)
    torch = sys.modules.get("torch")  # not imported (gpfn generate): it reads OMP_NUM_THREADS, set above, when it is
    if torch is not None:
        torch.set_num_threads(n)


def local_ranks(comm) -> int:
    """Ranks of ``comm`` on this node (MPI shared-memory split)."""
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return node.Get_size()
    finally:
        node.Free()
