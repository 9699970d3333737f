"""Built-in priors beyond the one-scheme generic ones: ``universal``, a mixture of schemes.

A breeder who does not know which population type a set is (or has a population that
is none of them exactly) needs a model fitted on all of them.  ``universal`` draws each
population from one of the built-in priors (nam, wild, ril, silva, recurrent, outbred,
hybrid), chosen
uniformly and deterministically from ``(seed, index)``; everything else is the chosen
scheme's own generic prior, with the same seed, so draw ``index`` of ``universal`` is
draw ``index`` of that scheme's prior.

Overrides (``--set``): a plain name (``h2=0.3:0.6``) applies to every component that
has the parameter; ``SCHEME:NAME`` (``nam:n_families=4:20``) to that scheme only.  The
hyperparameter space lists the common parameters once and each scheme's own as
``SCHEME:NAME``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core import hookimpl
from gpfn_core.errors import ValidationError
from gpfn_core.interfaces import HyperParam, Prior
from gpfn_core.types import Draw


class Universal(Prior):
    """One of the built-in schemes per draw, uniformly."""

    name = "universal"
    description = "mixture of the nam, wild, ril, silva, recurrent, outbred and hybrid priors, one per draw (uniform)"
    components: tuple[str, ...] = ("nam", "wild", "ril", "silva", "recurrent", "outbred", "hybrid")

    def __init__(self, seed: int = 0, overrides: dict[str, Any] | None = None, founders: Any = None) -> None:
        from dataclasses import replace

        from gpfn_core.sim.prior import COMMON_HYPERPARAMETERS
        from gpfn_core.registry import get_registry

        reg = get_registry()
        self.seed = int(seed)
        common = {p.name for p in COMMON_HYPERPARAMETERS}
        own = {c: {p.name for p in reg.get("scheme", c).hyperparameters} for c in self.components}
        overrides = dict(overrides or {})
        per: dict[str, dict[str, Any]] = {c: {} for c in self.components}
        for key, value in overrides.items():
            scheme, _, name = key.rpartition(":")
            if scheme:
                if scheme not in per or name not in own[scheme] | common:
                    raise ValidationError(f"universal: unknown hyperparameter {key!r} (SCHEME:NAME with SCHEME among "
                                          f"{', '.join(self.components)} and NAME one of its parameters)")
                per[scheme][name] = value
                continue
            takers = [c for c in self.components if name in own[c] | common]
            if not takers:
                raise ValidationError(f"universal: unknown hyperparameter {name!r}; see `gpfn prior show universal`")
            for c in takers:
                per[c].setdefault(name, value)
        self._priors = [reg.make_prior(c, seed=self.seed, overrides=per[c], founders=founders)
                        for c in self.components]
        self.founders = self._priors[0].founders
        first = self._priors[0].hyperparameter_space()
        self._space = tuple(p for p in first if p.name in common) + tuple(
            replace(p, name=f"{c}:{p.name}") for c, pr in zip(self.components, self._priors)
            for p in pr.hyperparameter_space() if p.name not in common)

    def component(self, index: int) -> int:
        """Which scheme draw ``index`` comes from (position in :attr:`components`)."""
        if int(index) < 0:
            raise ValidationError(f"draw index must be >= 0, got {index}")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(index), 0x0C0A]))
        return int(rng.integers(len(self.components)))

    def draw(self, index: int, fixed: dict[str, Any] | None = None) -> Draw:
        prior = self._priors[self.component(index)]
        names = {p.name for p in prior.hyperparameter_space()}
        return prior.draw(index, fixed={k: v for k, v in (fixed or {}).items() if k in names} or None)

    def hyperparameter_space(self) -> tuple[HyperParam, ...]:
        return self._space


@hookimpl
def gpfn_priors():
    return [Universal]
