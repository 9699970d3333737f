"""Founder populations: where every prior draw starts.

* :class:`MsprimeFounders` (the default): coalescent populations simulated with
  msprime (realistic LD and allele-frequency spectrum; a domestication-like
  bottleneck; optional structure through population splits with migration).  A
  coalescent simulation of 1,000 diploids costs tens of seconds, far too much per
  draw, so the source keeps a *pool* of ``pool_size`` founder populations, each
  simulated once from a fixed seed and cached on disk (``$GPFN_CACHE`` or
  ``~/.cache/gpfn``), and each draw picks one pool member at random and samples the
  founders it needs from it without replacement.  Draws from one pool are therefore
  independent breeding programs started from related germplasm, much as real
  programs draw on a shared gene pool.
* :class:`RandomFounders`: independent loci with Beta-distributed allele frequencies;
  instant, for tests and quick experiments.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.types import GeneticMap, Population

FOUNDERS_FORMAT = 1
log = logging.getLogger("gpfn.founders")


def cache_dir() -> Path:
    return Path(os.environ.get("GPFN_CACHE", Path.home() / ".cache" / "gpfn"))


class FounderSource(ABC):
    """Supplies founder individuals over all simulated loci on a base genetic map."""

    name: str = ""

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> Population:
        """``n`` founder individuals (over all loci; the prior picks the panel and QTL)."""

    def describe(self) -> dict[str, Any]:
        return {"source": self.name}


@dataclass(frozen=True)
class RandomFounders(FounderSource):
    """Unlinked-by-construction random founders: fast, for tests."""

    n_loci: int = 2000
    n_chromosomes: int = 5
    chromosome_length: float = 1.0
    name: str = "random"

    def sample(self, n: int, rng: np.random.Generator) -> Population:
        if n < 1:
            raise ValidationError(f"number of founders must be >= 1, got {n}")
        gm = GeneticMap.uniform(self.n_loci, self.n_chromosomes, self.chromosome_length, rng)
        freq = np.clip(rng.beta(0.5, 0.5, self.n_loci), 0.05, 0.95)
        haps = (rng.random((n, 2, self.n_loci)) < freq).astype(np.uint8)
        return Population.from_haplotypes(haps, gm)

    def describe(self) -> dict[str, Any]:
        return {"source": self.name, **{k: v for k, v in asdict(self).items() if k != "name"}}


@dataclass(frozen=True)
class MsprimeConfig:
    """Parameters of each coalescent founder population in the pool.

    Each chromosome is simulated separately over ``sequence_length`` bp with a
    recombination rate giving ``map_length`` Morgans, so founder LD matches the
    breeding map.  Population history: ``ne_ancient`` until ``bottleneck_time``
    generations ago, ``ne_recent`` since.  Every other pool member is structured: its
    individuals come from 2-4 subpopulations that split ``split_time`` generations
    ago and exchange ``migration_rate`` migrants per generation.
    """

    n_individuals: int = 1000
    n_chromosomes: int = 10
    sequence_length: float = 1e8
    map_length: float = 1.0
    ne_recent: int = 300
    ne_ancient: int = 2000
    bottleneck_time: int = 300
    mutation_rate: float = 2.5e-9
    split_time: int = 100
    migration_rate: float = 1e-3
    min_maf: float = 0.01


class MsprimeFounders(FounderSource):
    """A pool of msprime founder populations (see the module docstring)."""

    name = "msprime"

    def __init__(
        self, pool_size: int = 4, seed: int = 20240501, config: MsprimeConfig | None = None, cache: Path | None = None
    ) -> None:
        if pool_size < 1:
            raise ValidationError(f"pool_size must be >= 1, got {pool_size}")
        self.pool_size = int(pool_size)
        self.seed = int(seed)
        self.config = config or MsprimeConfig()
        self.cache = Path(cache) if cache is not None else cache_dir() / "founders"
        self._members: dict[int, Population] = {}

    def describe(self) -> dict[str, Any]:
        return {"source": self.name, "pool_size": self.pool_size, "seed": self.seed, **asdict(self.config)}

    def _key(self, member: int) -> str:
        from importlib.metadata import version  # msprime's version without importing it (0.2 s per process)

        spec = {"format": FOUNDERS_FORMAT, "msprime": version("msprime").split(".")[0], "seed": self.seed,
                "member": member, **asdict(self.config)}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    def member(self, j: int) -> Population:
        """Pool member ``j``, from memory, the disk cache, or simulated now (and cached)."""
        if j in self._members:
            return self._members[j]
        path = self.cache / f"founders-{self._key(j)}.npz"
        pop = None
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    gm = GeneticMap(z["chrom"], z["pos"], z["lengths"])
                    pop = Population(z["packed"], gm)
            except Exception:  # a damaged cache file is simulated again
                pop = None
        if pop is None:
            log.info("simulating founder population %d of %d with msprime (once; cached in %s)",
                     j + 1, self.pool_size, self.cache)
            t0 = time.perf_counter()
            pop = simulate_msprime(self.config, seed=self.seed * 1000 + j, structured=bool(j % 2))
            log.info("founder population %d: %d individuals x %d loci in %.1f s",
                     j + 1, len(pop), pop.n_loci, time.perf_counter() - t0)
            self.cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
            gm = pop.genetic_map
            np.savez(tmp, packed=pop.packed, chrom=gm.chrom, pos=gm.pos, lengths=gm.lengths)
            os.replace(tmp, path)
        self._members[j] = pop
        return pop

    def sample(self, n: int, rng: np.random.Generator) -> Population:
        pop = self.member(int(rng.integers(self.pool_size)))
        if not 1 <= n <= len(pop):
            raise ValidationError(
                f"number of founders must be in [1, {len(pop)}] (the founder pool's size), got {n}"
            )
        return pop.take(np.sort(rng.choice(len(pop), n, replace=False)))


def simulate_msprime(config: MsprimeConfig, seed: int, structured: bool = False) -> Population:
    """One coalescent founder population (all chromosomes), biallelic sites with MAF >= min_maf."""
    try:
        import msprime
    except ImportError as exc:  # pragma: no cover - msprime is a dependency
        raise GpfnError("msprime founders need the msprime package: pip install msprime") from exc
    c = config
    rng = np.random.default_rng(seed)
    demography = msprime.Demography()
    if structured:
        k = int(rng.integers(2, 5))
        names = [f"p{i}" for i in range(k)]
        for nm in names:
            demography.add_population(name=nm, initial_size=c.ne_recent)
        demography.add_population(name="anc", initial_size=c.ne_recent)
        demography.set_symmetric_migration_rate(names, c.migration_rate)
        demography.add_population_split(time=c.split_time, derived=names, ancestral="anc")
        demography.add_population_parameters_change(time=c.bottleneck_time, initial_size=c.ne_ancient, population="anc")
        sizes = np.diff(np.linspace(0, c.n_individuals, k + 1).round().astype(int))
        samples = {nm: int(s) for nm, s in zip(names, sizes)}
    else:
        demography.add_population(name="pop", initial_size=c.ne_recent)
        demography.add_population_parameters_change(time=c.bottleneck_time, initial_size=c.ne_ancient)
        samples = {"pop": c.n_individuals}
    rec_rate = c.map_length / c.sequence_length
    haps, chrom, pos = [], [], []
    for ci in range(c.n_chromosomes):
        s = int(rng.integers(1, 2**31 - 1))
        ts = msprime.sim_ancestry(
            samples=samples, ploidy=2, demography=demography, sequence_length=c.sequence_length,
            recombination_rate=rec_rate, random_seed=s,
        )
        ts = msprime.sim_mutations(ts, rate=c.mutation_rate, random_seed=s, discrete_genome=False,
                                   model=msprime.BinaryMutationModel())
        g = ts.genotype_matrix().astype(np.uint8)  # [sites, 2n], biallelic (infinite sites)
        p = g.mean(axis=1)
        keep = np.minimum(p, 1 - p) >= c.min_maf
        haps.append(g[keep])
        chrom.append(np.full(int(keep.sum()), ci, np.int32))
        pos.append(ts.tables.sites.position[keep] / c.sequence_length * c.map_length)
    g = np.concatenate(haps)  # [M, 2n]
    gm = GeneticMap(np.concatenate(chrom), np.concatenate(pos), np.full(c.n_chromosomes, c.map_length))
    h = g.T.reshape(c.n_individuals, 2, -1)
    return Population.from_haplotypes(h, gm)
