"""Import paths of gpfn 0.1's flat layout, kept working after the move to subpackages.

gpfn_core was one folder of modules until it was laid out by concept (``sim``, ``data``,
``linear``, ``net``, ``models``, ``tasks``; see ``docs/architecture.md``).  Plugins and
notebooks written against the old paths (``from gpfn_core import engine``,
``from gpfn_core.gblup import gblup``) keep working: the finder below serves each old
module name with a module that forwards every attribute to the new modules that hold
it, and warns once (``DeprecationWarning``) naming the new path.  New code imports the
new paths; nothing in gpfn itself uses these.

The finder imports nothing until an old name is asked for, so it adds nothing to the
import graph and costs nothing at start-up.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

# old module -> the new modules that hold its names (searched in this order)
MOVED: dict[str, tuple[str, ...]] = {
    "gpfn_core.engine": ("gpfn_core.sim.engine",),
    "gpfn_core.founders": ("gpfn_core.sim.founders",),
    "gpfn_core.trait": ("gpfn_core.sim.trait",),
    "gpfn_core.prior": ("gpfn_core.sim.prior",),
    "gpfn_core.store": ("gpfn_core.sim.store",),
    "gpfn_core.textio": ("gpfn_core.data.textio",),
    "gpfn_core.phenotypes": ("gpfn_core.data.phenotypes",),
    "gpfn_core.dataset": ("gpfn_core.data.dataset",),
    "gpfn_core.gblup": ("gpfn_core.linear.kinship", "gpfn_core.linear.gblup", "gpfn_core.linear.smoothers",
                        "gpfn_core.linear.sparse", "gpfn_core.linear.family", "gpfn_core.linear.qtl"),
    "gpfn_core.bayes": ("gpfn_core.linear.bayes",),
    "gpfn_core.preprocess": ("gpfn_core.data.encoding", "gpfn_core.net.preprocess"),
    "gpfn_core.architecture": ("gpfn_core.net.architecture",),
    "gpfn_core.bar": ("gpfn_core.net.bar",),
    "gpfn_core.model": ("gpfn_core.net.model",),
    "gpfn_core.inference": ("gpfn_core.net.inference",),
    "gpfn_core.modelfile": ("gpfn_core.net.modelfile",),
    "gpfn_core.draws": ("gpfn_core.net.config", "gpfn_core.net.draws"),
    "gpfn_core.stacking": ("gpfn_core.net.stacking", "gpfn_core.net.stackfit", "gpfn_core.net.config"),
    "gpfn_core.train": ("gpfn_core.net.train", "gpfn_core.net.validation", "gpfn_core.net.batches",
                        "gpfn_core.net.config", "gpfn_core.net.draws"),
    "gpfn_core.parse": ("gpfn_core.tasks.parse",),
    "gpfn_core.generate": ("gpfn_core.tasks.generate",),
    "gpfn_core.predict": ("gpfn_core.tasks.predict",),
    "gpfn_core.evaluate": ("gpfn_core.tasks.evaluate", "gpfn_core.linear.baselines"),
    "gpfn_core.estimator": ("gpfn_core.tasks.estimator",),
}


class _Forward(types.ModuleType):
    """An old module name whose attributes are read from the new modules, first hit wins."""

    def __init__(self, name: str, sources: tuple[str, ...]) -> None:
        super().__init__(name, f"Moved: see {', '.join(sources)}.")
        self.__sources = sources

    def __getattr__(self, attr: str):
        for src in self.__sources:
            module = importlib.import_module(src)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r} "
                             f"(it moved to {', '.join(self.__sources)})")

    def __dir__(self):
        return sorted({n for src in self.__sources for n in dir(importlib.import_module(src))})


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        sources = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {' / '.join(sources)}; the old path keeps working but new code "
                      f"should import the new one", DeprecationWarning, stacklevel=2)
        return _Forward(spec.name, sources)  # never the new module itself: import would overwrite its __spec__

    def exec_module(self, module) -> None:
        pass


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
