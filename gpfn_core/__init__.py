"""gpfn_core: the minimal core of gpfn.

Contracts (the public API of every plugin): :class:`BreedingScheme`, :class:`Prior`,
:class:`FeatureSelector`, :class:`GenotypeReader`, and the data types they exchange:
:class:`GeneticMap`, :class:`Population`, :class:`Draw`, :class:`GenotypeTable`.
Plugins implement the hooks in :mod:`gpfn_core.hookspecs` with :data:`hookimpl`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gpfn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from gpfn_core.errors import GpfnError, PluginError, UnknownPluginError, ValidationError
from gpfn_core.hookspecs import hookimpl
from gpfn_core.interfaces import (
    BreedingScheme,
    FeatureSelector,
    GenotypeReader,
    HyperParam,
    Prior,
)
from gpfn_core.types import Draw, GeneticMap, GenotypeTable, Population

__all__ = [
    "__version__",
    "BreedingScheme",
    "Draw",
    "FeatureSelector",
    "GeneticMap",
    "GenotypeReader",
    "GenotypeTable",
    "GpfnError",
    "HyperParam",
    "PluginError",
    "Population",
    "Prior",
    "UnknownPluginError",
    "ValidationError",
    "hookimpl",
]
