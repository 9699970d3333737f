"""The plugin registry: entry points in the ``gpfn`` group, hooks from :mod:`gpfn_core.hookspecs`.

Every plugin, built-in or third-party, is an entry point in the ``gpfn`` group naming
a module that implements some hooks.  A plugin that fails to import, raises in a hook,
returns something that is not a contract class, or registers a name that is already
taken is recorded as a :class:`Problem` (and warned about by name); everything else
keeps working.

The registry sits above the simulator (:mod:`gpfn_core.sim`): a breeding scheme with no
prior of its own becomes a prior through :class:`~gpfn_core.sim.prior.GenericPrior`
(:meth:`Registry.make_prior`).  Everything that looks a plugin up by name (the network's
draws, the tasks, the CLI) sits above it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from gpfn_core import hookspecs
from gpfn_core.errors import UnknownPluginError
from gpfn_core.interfaces import BreedingScheme, FeatureSelector, GenotypeReader, Prior
from gpfn_core.sim.prior import GenericPrior

ENTRY_POINT_GROUP = "gpfn"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True)
class Kind:
    key: str
    hook: str
    base: type
    label: str


KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind("scheme", "gpfn_breeding_schemes", BreedingScheme, "breeding scheme"),
        Kind("prior", "gpfn_priors", Prior, "prior"),
        Kind("selector", "gpfn_feature_selectors", FeatureSelector, "feature selector"),
        Kind("reader", "gpfn_genotype_readers", GenotypeReader, "genotype reader"),
    )
}


class GpfnPluginWarning(UserWarning):
    """A plugin failed to load or registered something invalid; the others still work."""


@dataclass(frozen=True)
class Entry:
    """One registered name: which plugin (entry point) of which distribution provides it."""

    kind: str
    name: str
    obj: type
    plugin: str
    distribution: str
    version: str

    @property
    def description(self) -> str:
        doc = getattr(self.obj, "description", "") or (self.obj.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


@dataclass(frozen=True)
class Problem:
    """A plugin that failed, or something it registered that was refused."""

    plugin: str
    distribution: str
    message: str

    def __str__(self) -> str:
        return f"plugin '{self.plugin}' ({self.distribution or 'unknown distribution'}): {self.message}"


class Registry:
    """Names of schemes, priors, selectors and readers, and where each came from."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.problems: list[Problem] = []
        self._plugins: list[tuple[str, str, str]] = []  # (plugin name, distribution, version)
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._collected = False

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP, warn: bool = True) -> Registry:
        """A registry of every plugin installed in ``group``, gpfn's own first."""
        reg = cls()
        eps = sorted(
            entry_points(group=group),
            key=lambda ep: (_dist_name(ep) != "gpfn", _dist_name(ep), ep.name),
        )
        for ep in eps:
            dist, version = _dist_name(ep), _dist_version(ep)
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                reg._problem(ep.name, dist, f"failed to load {ep.value!r}: {type(exc).__name__}: {exc}")
                continue
            reg.add_plugin(module, ep.name, dist, version)
        reg.collect()
        if warn:
            for p in reg.problems:
                warnings.warn(str(p), GpfnPluginWarning, stacklevel=2)
        return reg

    def add_plugin(self, plugin: Any, name: str, distribution: str = "", version: str = "") -> None:
        """Register one plugin object (a module implementing hooks)."""
        if any(p[0] == name for p in self._plugins):
            self._problem(name, distribution, "another plugin already uses this plugin name; ignored")
            return
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._problem(name, distribution, f"invalid plugin: {type(exc).__name__}: {exc}")
            return
        self._plugins.append((name, distribution, version))
        self._collected = False

    def collect(self) -> None:
        """Call every plugin's hooks and index what they return, in registration order."""
        self._entries = {k: {} for k in KINDS}
        for plugin_name, dist, version in self._plugins:
            for kind in KINDS.values():
                for impl in getattr(self.pm.hook, kind.hook).get_hookimpls():
                    if impl.plugin_name != plugin_name:
                        continue
                    try:
                        returned = impl.function()
                    except Exception as exc:
                        self._problem(plugin_name, dist, f"hook {kind.hook} raised {type(exc).__name__}: {exc}")
                        continue
                    for obj in _as_list(returned):
                        self._add(kind, obj, plugin_name, dist, version)
        self._collected = True

    def _add(self, kind: Kind, obj: Any, plugin: str, dist: str, version: str) -> None:
        if not (isinstance(obj, type) and issubclass(obj, kind.base)):
            self._problem(plugin, dist, f"{kind.hook} returned {obj!r}, not a {kind.base.__name__} subclass; ignored")
            return
        name = getattr(obj, "name", "")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            self._problem(
                plugin, dist, f"{kind.label} {obj.__name__} has invalid name {name!r} (lowercase, digits, '_' or '-')"
            )
            return
        taken = self._entries[kind.key].get(name)
        if taken is not None:
            self._problem(
                plugin,
                dist,
                f"{kind.label} '{name}' is already provided by plugin '{taken.plugin}' "
                f"({taken.distribution}); this one is ignored",
            )
            return
        self._entries[kind.key][name] = Entry(kind.key, name, obj, plugin, dist, version)

    def _problem(self, plugin: str, dist: str, message: str) -> None:
        self.problems.append(Problem(plugin, dist, message))

    # -- lookup ----------------------------------------------------------------------
    def entries(self, kind: str | None = None) -> list[Entry]:
        if not self._collected:
            self.collect()
        kinds = [kind] if kind else list(KINDS)
        return [e for k in kinds for e in sorted(self._entries[_kind(k).key].values(), key=lambda e: e.name)]

    def names(self, kind: str) -> list[str]:
        return [e.name for e in self.entries(kind)]

    def entry(self, kind: str, name: str) -> Entry:
        k = _kind(kind)
        for e in self.entries(k.key):
            if e.name == name:
                return e
        available = self.names(k.key)
        msg = f"unknown {k.label} '{name}'; available: {', '.join(available) if available else '(none installed)'}"
        if self.problems:
            msg += f" (note: {len(self.problems)} plugin problem(s), see `gpfn plugins`)"
        raise UnknownPluginError(msg)

    def get(self, kind: str, name: str) -> type:
        return self.entry(kind, name).obj

    def prior_names(self) -> list[str]:
        """Every name ``make_prior`` accepts: registered priors and breeding schemes."""
        return sorted(set(self.names("prior")) | set(self.names("scheme")))

    def make_prior(self, name: str, **options: Any) -> Prior:
        """The prior ``name``: a registered Prior class, else the generic prior over the scheme ``name``."""
        if name in self.names("prior"):
            return self.get("prior", name)(**options)
        if name in self.names("scheme"):
            return GenericPrior(self.get("scheme", name)(), **options)
        available = self.prior_names()
        raise UnknownPluginError(
            f"unknown prior '{name}'; available: {', '.join(available) if available else '(none installed)'}"
        )


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise UnknownPluginError(f"unknown plugin kind '{kind}'; available: {', '.join(KINDS)}")
    return KINDS[kind]


def _as_list(returned: Any) -> Iterable[Any]:
    if returned is None:
        return []
    if isinstance(returned, (list, tuple)):
        return returned
    return [returned]


def _dist_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else ""


def _dist_version(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else ""


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry of installed plugins (discovered once)."""
    return Registry.discover()
