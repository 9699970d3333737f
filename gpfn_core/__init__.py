"""gpfn_core: the minimal core of gpfn.

This package's own modules are the contracts every other part builds on (errors,
threads, hook specifications, bit-packed haplotypes, data types, plugin interfaces) and
the plugin registry; its subpackages hold one concept each, importing only downward:
:mod:`~gpfn_core.sim` (the simulator and priors), :mod:`~gpfn_core.data` (users' files),
:mod:`~gpfn_core.linear` (GBLUP and the closed-form anchors), :mod:`~gpfn_core.net` (the
network, its inputs, training and stacking), :mod:`~gpfn_core.models` (shipped models)
and :mod:`~gpfn_core.tasks` (parse, generate, predict, cross, trainset, evaluate, the
estimator).  See
``docs/architecture.md``.

Contracts (the public API of every plugin): :class:`BreedingScheme`, :class:`Prior`,
:class:`FeatureSelector`, :class:`GenotypeReader`, and the data types they exchange:
:class:`GeneticMap`, :class:`Population`, :class:`Draw`, :class:`GenotypeTable`.
Plugins implement the hooks in :mod:`gpfn_core.hookspecs` with :data:`hookimpl`.
"""

from __future__ import annotations

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
from gpfn_core.version import __version__
from gpfn_core import _moved  # noqa: E402 (old module paths of the flat layout keep working)

_moved.install()

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
