"""The data types exchanged through the plugin contracts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpfn_core import bits
from gpfn_core.errors import ValidationError


@dataclass(frozen=True, eq=False)
class GeneticMap:
    """Marker positions on a genetic map.

    ``chrom``: int32 ``[m]``, chromosome index 0..C-1, non-decreasing.
    ``pos``: float64 ``[m]``, position in Morgans (cM / 100), non-decreasing within a
    chromosome.  ``lengths``: float64 ``[C]``, chromosome lengths in Morgans.
    """

    chrom: np.ndarray
    pos: np.ndarray
    lengths: np.ndarray

    def __post_init__(self) -> None:
        chrom = np.asarray(self.chrom, dtype=np.int32)
        pos = np.asarray(self.pos, dtype=np.float64)
        lengths = np.asarray(self.lengths, dtype=np.float64)
        object.__setattr__(self, "chrom", chrom)
        object.__setattr__(self, "pos", pos)
        object.__setattr__(self, "lengths", lengths)
        if chrom.ndim != 1 or pos.shape != chrom.shape:
            raise ValidationError(f"chrom and pos must be 1-D of equal length, got {chrom.shape} and {pos.shape}")
        if lengths.ndim != 1 or np.any(lengths <= 0):
            raise ValidationError(f"lengths must be positive, got {lengths}")
        if chrom.size:
            if np.any(np.diff(chrom) < 0) or chrom[0] < 0 or chrom[-1] >= lengths.size:
                raise ValidationError("chrom must be non-decreasing indices into lengths")
            same = np.diff(chrom) == 0
            if np.any(np.diff(pos)[same] < 0):
                raise ValidationError("pos must be sorted within each chromosome")
            if np.any(pos < 0) or np.any(pos > lengths[chrom]):
                raise ValidationError("pos must lie within [0, chromosome length]")

    @property
    def n_markers(self) -> int:
        return int(self.chrom.size)

    @property
    def n_chromosomes(self) -> int:
        return int(self.lengths.size)

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``[C + 1]``: markers of chromosome c are ``offsets[c]:offsets[c+1]``."""
        return np.searchsorted(self.chrom, np.arange(self.n_chromosomes + 1), side="left").astype(np.int64)

    @property
    def total_length(self) -> float:
        return float(self.lengths.sum())

    def subset(self, loci: np.ndarray) -> GeneticMap:
        """The map of the markers ``loci`` (sorted ascending)."""
        loci = np.asarray(loci, dtype=np.int64)
        return GeneticMap(self.chrom[loci], self.pos[loci], self.lengths)

    def scaled(self, factor: float) -> GeneticMap:
        """The same markers on a map ``factor`` times as long (more recombination)."""
        if not factor > 0:
            raise ValidationError(f"map scale factor must be > 0, got {factor!r}")
        return GeneticMap(self.chrom, self.pos * factor, self.lengths * factor)

    @classmethod
    def uniform(cls, n_markers: int, n_chromosomes: int, length: float, rng: np.random.Generator) -> GeneticMap:
        """Markers at uniform random positions on ``n_chromosomes`` chromosomes of ``length`` Morgans."""
        chrom = np.sort(rng.integers(0, n_chromosomes, n_markers))
        pos = rng.uniform(0, length, n_markers)
        order = np.lexsort((pos, chrom))
        return cls(chrom[order], pos[order], np.full(n_chromosomes, float(length)))


class Population:
    """Diploid individuals over the loci of a :class:`GeneticMap`.

    Haplotypes are held bit-packed (``packed``: uint64 ``[n, 2, ceil(m/64)]``, see
    :mod:`gpfn_core.bits`); :attr:`haplotypes` gives the ``uint8 [n, 2, m]`` view.
    Pedigree arrays (int32 ``[n]``): ``mother`` and ``father`` index the parent
    population of the cross that made the individual (-1 for founders), ``family``
    groups full or half sibs (-1 when none), ``generation`` counts meioses since the
    founders.
    """

    __slots__ = ("packed", "genetic_map", "mother", "father", "family", "generation")

    def __init__(
        self,
        packed: np.ndarray,
        genetic_map: GeneticMap,
        mother: np.ndarray | None = None,
        father: np.ndarray | None = None,
        family: np.ndarray | None = None,
        generation: np.ndarray | None = None,
    ) -> None:
        packed = np.asarray(packed, dtype=np.uint64)
        if packed.ndim != 3 or packed.shape[1] != 2 or packed.shape[2] != bits.n_words(genetic_map.n_markers):
            raise ValidationError(
                f"packed haplotypes must be uint64 [n, 2, {bits.n_words(genetic_map.n_markers)}], got {packed.shape}"
            )
        n = packed.shape[0]

        def ped(a: np.ndarray | None, fill: int) -> np.ndarray:
            out = np.full(n, fill, np.int32) if a is None else np.asarray(a, dtype=np.int32)
            if out.shape != (n,):
                raise ValidationError(f"pedigree arrays must have shape ({n},), got {out.shape}")
            return out

        self.packed = packed
        self.genetic_map = genetic_map
        self.mother = ped(mother, -1)
        self.father = ped(father, -1)
        self.family = ped(family, -1)
        self.generation = ped(generation, 0)

    @classmethod
    def from_haplotypes(cls, haplotypes: np.ndarray, genetic_map: GeneticMap, **pedigree: Any) -> Population:
        h = np.asarray(haplotypes)
        if h.ndim != 3 or h.shape[1] != 2 or h.shape[2] != genetic_map.n_markers:
            raise ValidationError(f"haplotypes must be [n, 2, {genetic_map.n_markers}], got {h.shape}")
        if h.size and h.max() > 1:
            raise ValidationError("haplotypes must hold 0/1 alleles")
        return cls(bits.pack(h), genetic_map, **pedigree)

    def __len__(self) -> int:
        return int(self.packed.shape[0])

    @property
    def n_individuals(self) -> int:
        return len(self)

    @property
    def n_loci(self) -> int:
        return self.genetic_map.n_markers

    @property
    def haplotypes(self) -> np.ndarray:
        """uint8 ``[n, 2, m]`` alleles (0/1)."""
        return bits.unpack(self.packed, self.n_loci)

    def dosage(self, loci: np.ndarray | None = None) -> np.ndarray:
        """int8 ``[n, m]`` (or ``[n, len(loci)]``): count of allele 1, 0/1/2."""
        if loci is not None:
            return bits.dosage(self.packed, loci)
        h = self.haplotypes
        return np.ascontiguousarray(h[:, 0] + h[:, 1], dtype=np.int8)

    def heterozygous(self, loci: np.ndarray | None = None) -> np.ndarray:
        """bool ``[n, m]``: the two haplotypes differ."""
        h = self.haplotypes if loci is None else bits.gather(self.packed, loci)
        return h[:, 0] != h[:, 1]

    def take(self, idx: np.ndarray) -> Population:
        """The individuals ``idx`` (pedigree arrays carried along)."""
        idx = np.asarray(idx, dtype=np.int64)
        return Population(
            self.packed[idx], self.genetic_map, self.mother[idx], self.father[idx], self.family[idx], self.generation[idx]
        )

    def select_loci(self, loci: np.ndarray) -> Population:
        """The same individuals over the loci ``loci`` (sorted ascending)."""
        loci = np.asarray(loci, dtype=np.int64)
        return Population(
            bits.pack(bits.gather(self.packed, loci)),
            self.genetic_map.subset(loci),
            self.mother,
            self.father,
            self.family,
            self.generation,
        )

    def with_map(self, genetic_map: GeneticMap) -> Population:
        """The same haplotypes on another map of the same markers (e.g. a scaled one)."""
        if genetic_map.n_markers != self.n_loci:
            raise ValidationError("the new map must have the same number of markers")
        return Population(self.packed, genetic_map, self.mother, self.father, self.family, self.generation)

    @staticmethod
    def concat(pops: list[Population]) -> Population:
        """Individuals of several populations over the same map, in order."""
        if not pops:
            raise ValidationError("concat needs at least one population")
        gm = pops[0].genetic_map
        if any(p.genetic_map.n_markers != gm.n_markers for p in pops):
            raise ValidationError("populations to concatenate must share their loci")
        cat = lambda name: np.concatenate([getattr(p, name) for p in pops])  # noqa: E731
        return Population(cat("packed"), gm, cat("mother"), cat("father"), cat("family"), cat("generation"))


@dataclass
class Draw:
    """One sample of a prior: a population with ``n_train`` phenotyped individuals.

    ``x``: individuals by markers.  A *raw* draw (as :meth:`Prior.draw` returns it)
    holds dosages int8 ``[n, m]`` (0/1/2, -1 missing); after preprocessing it holds
    float features ``[n, F]``.  Rows ``[:n_train]`` are the training (phenotyped)
    individuals, rows ``[n_train:]`` the evaluation (target) individuals.
    ``y``: float ``[n]`` phenotypes; ``g``: float ``[n]`` true genetic values
    (the breeding values a model should predict); ``params``: the sampled
    hyperparameters (JSON-serialisable); ``index``/``seed`` identify the draw.
    """

    x: np.ndarray
    y: np.ndarray
    n_train: int
    params: dict[str, Any] = field(default_factory=dict)
    g: np.ndarray | None = None
    index: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.y.shape != (n,):
            raise ValidationError(f"y must have shape ({n},), got {self.y.shape}")
        if self.g is not None and self.g.shape != (n,):
            raise ValidationError(f"g must have shape ({n},), got {self.g.shape}")
        if not 0 < self.n_train < n:
            raise ValidationError(f"n_train must be in (0, {n}), got {self.n_train}")

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_eval(self) -> int:
        return self.n - self.n_train


@dataclass
class GenotypeTable:
    """Genotypes as a reader returns them.

    ``taxa``: str ``[n]``; ``marker``: str ``[m]`` ids; ``chrom``: str ``[m]``;
    ``pos``: int64 ``[m]`` base-pair positions; ``ref``/``alt``: str ``[m]`` alleles;
    ``dosage``: int8 ``[n, m]``, count of ``alt`` alleles 0/1/2, -1 for missing.
    ``source``: the file read; ``info``: counts the reader reports (e.g. skipped sites).
    """

    taxa: np.ndarray
    marker: np.ndarray
    chrom: np.ndarray
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    dosage: np.ndarray
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, m = len(self.taxa), len(self.marker)
        if self.dosage.shape != (n, m):
            raise ValidationError(f"dosage must have shape ({n}, {m}), got {self.dosage.shape}")
        for name in ("chrom", "pos", "ref", "alt"):
            if len(getattr(self, name)) != m:
                raise ValidationError(f"{name} must have {m} entries, got {len(getattr(self, name))}")

    @property
    def n_taxa(self) -> int:
        return len(self.taxa)

    @property
    def n_markers(self) -> int:
        return len(self.marker)
