"""The four plugin contracts: BreedingScheme, Prior, FeatureSelector, GenotypeReader.

A plugin subclasses one of these, gives it a unique ``name`` and a one-line
``description``, and returns the class from the matching hook in
:mod:`gpfn_core.hookspecs`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from gpfn_core.errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from gpfn_core.types import Draw, GenotypeTable, Population

Number = int | float | bool
SCALES = ("uniform", "log", "log-complement")


@dataclass(frozen=True)
class HyperParam:
    """One hyperparameter of a prior: its valid bounds and the range draws sample from.

    ``low``/``high`` give the prior's sampling range (integers inclusive; booleans are
    True with probability one half when ``low != high``); equal values fix the
    parameter.  ``scale`` is how values spread over the range: ``uniform``; ``log``
    (log-uniform, ``low > 0``: as many panels of 1-2k markers as of 10-20k); or
    ``log-complement`` (``1 - value`` log-uniform, ``high < 1``: for a share that
    should often come close to 1, such as the polygenic share of the genetic
    variance).  ``minimum``/``maximum`` are the hard bounds any value or override must
    respect (``open_minimum`` excludes the minimum itself).
    """

    name: str
    low: Number
    high: Number
    kind: str = "float"  # "float" | "int" | "bool"
    help: str = ""
    minimum: float = -math.inf
    maximum: float = math.inf
    open_minimum: bool = False
    scale: str = "uniform"  # "uniform", "log" or "log-complement"

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int", "bool"):
            raise ValidationError(f"hyperparameter {self.name}: kind must be float, int or bool, got {self.kind!r}")
        self.check(self.low)
        self.check(self.high)
        if self.low > self.high:
            raise ValidationError(f"hyperparameter {self.name}: low {self.low} > high {self.high}")
        if self.scale not in SCALES:
            raise ValidationError(f"hyperparameter {self.name}: scale must be one of {', '.join(SCALES)}, "
                                  f"got {self.scale!r}")
        if self.scale != "uniform" and not self.fixed:
            bad = (self.kind == "bool" or (self.scale == "log" and not self.low > 0)
                   or (self.scale == "log-complement" and (self.kind != "float" or not self.high < 1)))
            if bad:
                need = "a range above 0" if self.scale == "log" else "a float range below 1"
                raise ValidationError(f"{self.name}: the {self.scale} scale needs {need}, got {self.low}:{self.high}; "
                                      f"give the range as {self.low}:{self.high}:uniform to sample it uniformly")

    @property
    def fixed(self) -> bool:
        return self.low == self.high

    def check(self, value: Any) -> Number:
        """Coerce ``value`` to this parameter's kind and check its bounds."""
        try:
            if self.kind == "bool":
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = value.lower() in ("true", "1", "yes")
                v: Number = bool(value)
            elif self.kind == "int":
                f = float(value)
                if f != int(f):
                    raise ValueError
                v = int(f)
            else:
                v = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{self.name} must be a {self.kind}, got {value!r}") from None
        if self.kind != "bool":
            below = v <= self.minimum if self.open_minimum else v < self.minimum
            if below or v > self.maximum or (isinstance(v, float) and math.isnan(v)):
                lo = "(" if self.open_minimum else "["
                raise ValidationError(f"{self.name} must be in {lo}{self.minimum}, {self.maximum}], got {value!r}")
        return v

    def sample(self, rng: np.random.Generator) -> Number:
        if self.fixed:
            return self.low
        if self.kind == "bool":
            return bool(rng.random() < 0.5)
        if self.scale == "log":  # one uniform number per draw whatever the scale: streams stay aligned
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
            return min(max(int(round(v)), int(self.low)), int(self.high)) if self.kind == "int" else float(v)
        if self.scale == "log-complement":
            return float(1.0 - math.exp(rng.uniform(math.log(1.0 - self.high), math.log(1.0 - self.low))))
        if self.kind == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return float(rng.uniform(self.low, self.high))

    def override(self, value: Any) -> HyperParam:
        """A copy fixed at ``value``, or over a new range given as ``"lo:hi"`` or ``(lo, hi)``
        (keeping this parameter's scale), or ``"lo:hi:SCALE"`` / ``(lo, hi, SCALE)``."""
        if isinstance(value, str) and ":" in value:
            value = tuple(value.split(":"))
        if isinstance(value, (tuple, list)):
            if len(value) not in (2, 3):
                raise ValidationError(f"{self.name}: a range is lo:hi or lo:hi:scale, got {value!r}")
            lo, hi = self.check(value[0]), self.check(value[1])
            if lo > hi:
                raise ValidationError(f"{self.name}: range {lo}:{hi} is empty")
            return replace(self, low=lo, high=hi, scale=str(value[2]) if len(value) == 3 else self.scale)
        v = self.check(value)
        return replace(self, low=v, high=v)

    def range(self) -> list:
        """``[low, high]``, plus the scale where it is not uniform (as model files record it)."""
        return [self.low, self.high] + ([self.scale] if self.scale != "uniform" and not self.fixed else [])

    def describe(self) -> str:
        rng = f"{self.low}" if self.fixed else f"{self.low}..{self.high}"
        if self.scale != "uniform" and not self.fixed:
            rng += f" {self.scale}"
        return f"{self.name} ({self.kind}, {rng})"


def resolve_hyperparameters(
    space: tuple[HyperParam, ...] | list[HyperParam], overrides: dict[str, Any] | None
) -> tuple[HyperParam, ...]:
    """Apply ``overrides`` (name -> value or range) to ``space``; unknown names are an error."""
    overrides = dict(overrides or {})
    by_name = {p.name: p for p in space}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise ValidationError(
            f"unknown hyperparameter(s) {', '.join(unknown)}; this prior has: {', '.join(sorted(by_name))}"
        )
    return tuple(p.override(overrides[p.name]) if p.name in overrides else p for p in space)


class TraitModel(Protocol):
    """What a :class:`BreedingScheme` may ask of the trait it is given (the simulator's
    :class:`~gpfn_core.sim.trait.Trait` is one): true genetic values, and phenotypes for
    selecting on.  Declared here so that the contract does not depend on the simulator."""

    qtl: np.ndarray  # int [q]: the causal loci (indices into the population's loci)

    def genetic_values(self, pop: Population) -> np.ndarray:
        """float64 ``[n]`` genetic values of ``pop``'s individuals."""

    def phenotypes(self, pop: Population, rng: np.random.Generator, g: np.ndarray | None = None) -> np.ndarray:
        """float64 ``[n]``: genetic value plus environmental noise."""


class _Named:
    """Shared by every plugin contract: a registry name and a one-line description."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""


class BreedingScheme(_Named, ABC):
    """A breeding program: turns founders into a training and an evaluation population.

    ``hyperparameters`` declares the scheme's own parameters (ranges and defaults) so
    the CLI can show and override them; the generic :class:`Prior` samples them and
    passes them to :meth:`n_founders` and :meth:`forward` as keyword arguments, along
    with the common ones (``pop_size`` and the trait parameters).
    """

    hyperparameters: ClassVar[tuple[HyperParam, ...]] = ()

    @abstractmethod
    def n_founders(self, **params: Any) -> int:
        """How many founder individuals :meth:`forward` needs for these parameters."""

    @abstractmethod
    def forward(
        self, founders: Population, trait: TraitModel, rng: np.random.Generator, **params: Any
    ) -> tuple[Population, Population]:
        """Run the program; return ``(train, eval)``, together at most ``pop_size`` individuals.

        ``trait`` gives genetic values and phenotypes for any selection the scheme does.
        """

    def genetic_values(self, pop: Population, trait: TraitModel, g: np.ndarray, n_train: int,
                       rng: np.random.Generator, **params: Any) -> np.ndarray | None:
        """Optional: the true genetic values of ``pop`` (``forward``'s training individuals
        first, then the evaluation ones) where the program makes them differ from the
        trait's additive and dominance values ``g``, e.g. effects that depend on the pool
        an allele came from in a hybrid (``trait.qtl``: the causal loci).  The prior then
        sets the environmental variance from ``h2`` on these values.  The default, None,
        keeps ``g`` and draws nothing from ``rng``."""
        return None


class Prior(_Named, ABC):
    """A distribution over breeding populations: ``draw(index)`` is deterministic in
    ``(seed, index)`` whatever process, worker or MPI rank calls it."""

    seed: int = 0

    @abstractmethod
    def draw(self, index: int, fixed: dict[str, Any] | None = None) -> Draw:
        """The raw draw ``index``: dosages, phenotypes, ``n_train`` and sampled hyperparameters.

        ``fixed`` (optional to honour beyond ``pop_size`` and ``train_fraction``) sets
        hyperparameters for this draw only; the trainer uses it for its split schedule.
        """

    @abstractmethod
    def hyperparameter_space(self) -> tuple[HyperParam, ...]:
        """The hyperparameters this prior samples, after any overrides."""


class FeatureSelector(_Named, ABC):
    """Reduces an ``[n, m]`` encoded genotype matrix to ``[n, n_features]`` features.

    Fitted on the training individuals only, then applied to training and target
    individuals alike.
    """

    def __init__(self, n_features: int, seed: int = 0) -> None:
        if int(n_features) < 1:
            raise ValidationError(f"n_features must be >= 1, got {n_features!r}")
        self.n_features = int(n_features)
        self.seed = int(seed)

    @abstractmethod
    def fit(self, x_train: np.ndarray, y_train: np.ndarray) -> FeatureSelector:
        """Learn the selection from training individuals; returns ``self``."""

    @abstractmethod
    def transform(self, x: np.ndarray) -> np.ndarray:
        """Features ``[n, n_features]`` of any individuals encoded like the training ones."""

    def fit_transform(self, x_train: np.ndarray, y_train: np.ndarray) -> np.ndarray:
        return self.fit(x_train, y_train).transform(x_train)

    def fit_kinship(self, x_train: np.ndarray, y_train: np.ndarray, kinship: Any) -> FeatureSelector:
        """:meth:`fit` when preprocessing has decomposed the training relationships
        ``x_train x_train^T`` already (a :class:`~gpfn_core.linear.kinship.Kinship`, for the
        ``gblup`` smoother).  A selector that needs that decomposition (``pca``) overrides
        this to reuse it; the default ignores it, so existing selectors need nothing."""
        return self.fit(x_train, y_train)

    def transform_kinship(self, kinship: Any, target_coordinates: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Optional, after :meth:`fit_kinship`: the training and target features
        ``([n_train, n_features], [n_target, n_features])`` from the decomposition and the
        targets' ``kinship.coordinates`` (``x_target x_train^T u``), equal to
        :meth:`transform` of both up to rounding, for a selector linear in the eigenvectors
        (``pca``: ``u s`` and ``coordinates / s``) that can skip the marker-sized products.
        The default returns None: preprocessing then calls :meth:`transform`."""
        return None


class GenotypeReader(_Named, ABC):
    """Reads one genotype file format into a :class:`GenotypeTable`."""

    extensions: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def can_read(self, path: Path) -> bool:
        """Whether ``path`` looks like this format (by name or by its first bytes)."""

    @abstractmethod
    def read(self, path: Path) -> GenotypeTable:
        """Parse ``path``; raise :class:`~gpfn_core.errors.GpfnError` naming file, line and field on bad input."""
