"""How a prediction runs within the memory it has: the peak memory of the dense path
(:func:`predict_memory`) and of the iterative one (:func:`iterative_memory`), the targets a pass
(:func:`targets_per_pass`), and which path runs (:func:`plan`; ``gpfn predict --solver``,
``--max-memory``)."""

from __future__ import annotations

from gpfn_core.errors import GpfnError
from gpfn_core.linear.family import GAUSSIAN_MAX_N
from gpfn_core.threads import memory_available

# training individuals (a random subset, seeded) whose dense preprocessing gives the network its features on
# the iterative path: what the network sees of a larger set anyway is subsets of its context (a few hundred
# tokens), and from a few thousand lines on the stacking weighs its mean 0-0.10 (the model cards)
NETWORK_SUBSET = 2000


# peak memory of a prediction, measured (peak RSS above the process's start, nam.gpfn, 500-4,000 training and
# 500-20,000 targets x 10,000-50,000 markers): bytes per individual x marker in a pass (the dosages, their
# encoding, the target products), per pair of training individuals (the relationships, their decompositions,
# the family kernels), per target x training pair in a pass (the targets' relationships, family-kernel rows
# and their rotations; targets never pair with each other), and a floor (the model, torch)
MEMORY_PER_CELL, MEMORY_PER_PAIR, MEMORY_PER_TARGET_PAIR, MEMORY_FLOOR = 7, 56, 72, 100 * 2**20
MIN_TARGETS_PER_PASS = 500  # below this the training side's repeated per-trait fits outweigh what a pass saves


def plan_passes(n_train: int, n_target: int, n_markers: int, max_memory: float | None, log=None) -> tuple[int, int]:
    """The targets per pass (:func:`targets_per_pass`) and the peak memory estimate in bytes
    (:func:`predict_memory`) of a prediction, with ``max_memory`` bytes allowed (default: what
    the machine has available); ``log`` hears the estimate.  A job that would not fit even
    with :data:`MIN_TARGETS_PER_PASS` targets a pass is refused, naming the sizes."""
    limit = max_memory if max_memory is not None else memory_available()
    per_pass = targets_per_pass(n_train, n_target, n_markers, limit)
    need = predict_memory(n_train, n_target, n_markers, per_pass)
    if log:
        log(f"memory: about {need / 2**30:.2f} GiB at the peak"
            + (f" ({limit / 2**30:.1f} GiB {'allowed' if max_memory is not None else 'available'})" if limit else "")
            + (f"; targets in passes of {per_pass:,}" if per_pass < n_target else ""))
    if limit is not None and need > limit:
        raise GpfnError(f"predicting {n_train:,} training + {n_target:,} target "
                        f"individuals x {n_markers:,} markers needs about {need / 2**30:.1f} GiB"
                        + (f" with targets in passes of {per_pass:,}" if per_pass < n_target else "")
                        + "; " + (f"--max-memory is {limit / 2**30:.1f} GiB" if max_memory is not None else
                                  f"{limit / 2**30:.1f} GiB is available")
                        + ": take the iterative path (--solver iterative or auto), thin the markers (gpfn parse "
                          "--min-maf), phenotype fewer training individuals, or give --max-memory to run anyway")
    return per_pass, need


SOLVERS = ("auto", "dense", "iterative")
ITERATIVE_FROM = 1000  # below this the randomised-trace REML moves delta by up to 10% (linear.iterative)


def plan(n_train: int, n_target: int, n_markers: int, max_memory: float | None, solver: str = "auto",
         log=None) -> tuple[str, int, int]:
    """``(solver, targets per pass, peak memory estimate in bytes)`` of a prediction with
    ``max_memory`` bytes allowed (default: what the machine has available): ``dense`` as
    :func:`plan_passes` plans it; ``iterative`` as :func:`iterative_memory` estimates it; ``auto``
    the dense path where it fits, else the iterative one.  A job that fits neither way is
    refused, naming the sizes; ``log`` hears the choice and the estimate."""
    if solver not in SOLVERS:
        raise GpfnError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    limit = max_memory if max_memory is not None else memory_available()
    per_pass = targets_per_pass(min(n_train, NETWORK_SUBSET), n_target, n_markers,
                                None if limit is None else limit - iterative_memory(n_train, 0, n_markers))
    need = iterative_memory(n_train, n_target, n_markers, per_pass)
    if solver != "iterative":
        dense = predict_memory(n_train, n_target, n_markers, targets_per_pass(n_train, n_target, n_markers, limit))
        # the dense path where it fits, or where the iterative one would need as much (a small training set)
        if solver == "dense" or limit is None or dense <= limit or need >= dense:
            return ("dense", *plan_passes(n_train, n_target, n_markers, max_memory, log))
        if log:
            log(f"the dense path needs about {dense / 2**30:.1f} GiB for {n_train:,} training individuals; "
                f"taking the iterative path (no n x n matrix)")
    if log and n_train < ITERATIVE_FROM:
        log(f"note: below {ITERATIVE_FROM:,} training individuals the iterative path's REML (random trace probes) "
            f"is noisier than the dense path's, which fits here")
    if log:
        log(f"memory: about {need / 2**30:.2f} GiB at the peak on the iterative path"
            + (f" ({limit / 2**30:.1f} GiB {'allowed' if max_memory is not None else 'available'})" if limit else ""))
    if limit is not None and need > limit:
        raise GpfnError(f"predicting {n_train:,} training + {n_target:,} target individuals x {n_markers:,} markers "
                        f"on the iterative path needs about {need / 2**30:.1f} GiB; "
                        + (f"--max-memory is {limit / 2**30:.1f} GiB" if max_memory is not None else
                           f"{limit / 2**30:.1f} GiB is available")
                        + ": thin the markers (gpfn parse --min-maf) or phenotype fewer training individuals")
    return "iterative", per_pass, need


def iterative_memory(n_train: int, n_target: int, n_markers: int, targets_per_pass: int | None = None) -> int:
    """Bytes :func:`predict_arrays_iterative` takes at its peak, about: the training genotypes
    (int8 dosages, their float32 encoding) and the solver's columns
    (:func:`gpfn_core.linear.iterative.iterative_memory`), the QTL candidates' float64
    columns, the targets' dosages, and the dense preprocessing of the network's
    :data:`NETWORK_SUBSET` training individuals with ``targets_per_pass`` targets at once
    (:func:`predict_memory`)."""
    from gpfn_core.linear.iterative import iterative_memory as solver_memory
    from gpfn_core.linear.qtl import QTL_CANDIDATES

    n, m = int(n_train), int(n_markers)
    return int(solver_memory(n, 0, m) + 8 * n * QTL_CANDIDATES + n_target * m
               + predict_memory(min(n, NETWORK_SUBSET), n_target, m, targets_per_pass))


def predict_memory(n_train: int, n_target: int, n_markers: int, targets_per_pass: int | None = None) -> int:
    """Bytes a prediction of ``n_target`` targets from ``n_train`` training individuals on
    ``n_markers`` markers takes at its peak, about, with at most ``targets_per_pass`` targets
    preprocessed at once (default: all; the others' dosages, one byte a marker, wait in
    memory).  It overstates rather than understates: by 3-14% on the seven measurements its
    constants come from (2,000 + 1,000 x 10,000: 651 MiB for a measured 584; 2,000 + 8,000:
    2.03 GiB for 1.82), by 22% at 16,000 + 1,000 x 50,000 (20.1 GiB for 16.5)."""
    c = n_target if targets_per_pass is None else max(min(int(targets_per_pass), n_target), 0)
    # family GBLUP's Gaussian kernels: the float32 distances and one float32 kernel at a time in its reduction,
    # and the targets' float64 distances to the training individuals, kept for every bandwidth
    gaussian = 8 * n_train * (n_train + c) if n_train <= GAUSSIAN_MAX_N else 0
    return int(MEMORY_PER_CELL * (n_train + c) * n_markers + (n_target - c) * n_markers
               + MEMORY_PER_PAIR * n_train * n_train + gaussian + MEMORY_PER_TARGET_PAIR * n_train * c + MEMORY_FLOOR)


def targets_per_pass(n_train: int, n_target: int, n_markers: int, limit: float | None) -> int:
    """How many targets go through preprocessing at once: all of them where they fit in ``limit``
    bytes (or the limit is unknown), else the most that fit (:func:`predict_memory`), at least
    :data:`MIN_TARGETS_PER_PASS` (the caller refuses what does not fit even then)."""
    if limit is None or predict_memory(n_train, n_target, n_markers) <= limit:
        return max(n_target, 1)
    lo, hi = min(MIN_TARGETS_PER_PASS, n_target), n_target  # the largest c in [lo, hi] that fits, or lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if predict_memory(n_train, n_target, n_markers, mid) <= limit else (lo, mid - 1)
    return max(lo, 1)
