"""Shipped models and everything about them: the model files of this folder, lookup by
population type (:mod:`~gpfn_core.models.lookup`), scoring on held-out prior draws
(:mod:`~gpfn_core.models.scoring`) and model cards (:mod:`~gpfn_core.models.cards`).

May import :mod:`gpfn_core.net` and everything below it; the tasks (``predict``,
``evaluate``, the estimator) and the CLI import it.
"""

from gpfn_core.models.cards import architecture_thirds, card, matrix_table
from gpfn_core.models.lookup import (
    FALLBACK_POPULATION_TYPE,
    POPULATION_TYPES,
    default_population_type,
    find_model,
    list_models,
    model_dirs,
    population_types,
    shipped_model,
)
from gpfn_core.models.scoring import MATRIX_PRIORS, heldout, matrix, record_benchmark, record_heldout, record_matrix

__all__ = ["FALLBACK_POPULATION_TYPE", "MATRIX_PRIORS", "POPULATION_TYPES", "architecture_thirds", "card",
           "default_population_type", "find_model", "heldout", "list_models", "matrix", "matrix_table",
           "model_dirs", "population_types", "record_benchmark", "record_heldout", "record_matrix", "shipped_model"]
