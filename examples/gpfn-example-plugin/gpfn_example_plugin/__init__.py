"""An example gpfn plugin: backcross breeding followed by doubled haploids."""

from __future__ import annotations

import numpy as np

from gpfn_core import BreedingScheme, HyperParam, hookimpl
from gpfn_core import engine as E


class Backcross(BreedingScheme):
    """Donor x recurrent parent, backcrossed to the recurrent parent, then doubled haploids."""

    name = "example"
    description = "example plugin: backcrosses to a recurrent parent, then doubled-haploid lines"
    hyperparameters = (
        HyperParam("backcrosses", 1, 3, "int", "generations of backcrossing to the recurrent parent", minimum=0),
    )

    def n_founders(self, **params):
        return 2

    def forward(self, founders, trait, rng, **p):
        n = p["pop_size"]
        parents = E.doubled_haploids(founders, None, rng)  # inbred donor (0) and recurrent (1)
        pop = E.cross(parents, np.zeros(n, np.int64), np.ones(n, np.int64), rng)
        for _ in range(int(p["backcrosses"])):
            # Cross each line with the recurrent parent: put it beside the lines, then pair.
            both = type(pop).concat([pop, parents.take([1])])
            pop = E.cross(both, np.arange(n), np.full(n, n), rng)
        lines = E.doubled_haploids(pop, None, rng)
        n_train = int(np.clip(round(n * p["train_fraction"]), 1, n - 1))
        return E.split_random(lines, n_train, rng)


@hookimpl
def gpfn_breeding_schemes():
    return [Backcross]
