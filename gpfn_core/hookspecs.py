"""The hook specifications of gpfn: the whole plugin API in one module.

A plugin is a module (or object) named by an entry point in the ``gpfn`` group that
implements any of these hooks with :data:`hookimpl`::

    # pyproject.toml of gpfn-myprior
    [project.entry-points.gpfn]
    myprior = "gpfn_myprior.plugin"

    # gpfn_myprior/plugin.py
    from gpfn_core import hookimpl

    @hookimpl
    def gpfn_breeding_schemes():
        return [MyScheme]

Each hook returns a list of classes implementing the matching contract in
:mod:`gpfn_core.interfaces`; each class carries a unique ``name``.  gpfn's own
built-ins (the package ``gpfn_plugins``) are registered exactly this way.
"""

from __future__ import annotations

import pluggy

PROJECT = "gpfn"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gpfn_breeding_schemes() -> list[type]:
    """Return :class:`~gpfn_core.interfaces.BreedingScheme` subclasses.

    Each scheme also becomes a prior of the same name (the generic prior samples its
    hyperparameters) unless a plugin registers a :class:`Prior` of that name.
    """


@hookspec
def gpfn_priors() -> list[type]:
    """Return :class:`~gpfn_core.interfaces.Prior` subclasses with a prior of their own.

    A registered prior class is built as ``cls(seed=..., overrides=..., founders=...)``.
    """


@hookspec
def gpfn_feature_selectors() -> list[type]:
    """Return :class:`~gpfn_core.interfaces.FeatureSelector` subclasses."""


@hookspec
def gpfn_genotype_readers() -> list[type]:
    """Return :class:`~gpfn_core.interfaces.GenotypeReader` subclasses."""
