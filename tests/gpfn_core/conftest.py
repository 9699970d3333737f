"""Fixtures of the core's tests: one tiny fitted model and one prior draw, made once per session."""

import pytest

from gpfn_core.net.config import FitConfig
from gpfn_core.net.train import fit
from gpfn_core.registry import get_registry


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.gpfn"
    cfg = FitConfig(prior="ril", founders="random", overrides={"n_markers": 300}, feature_max_size=8,
                    num_samples=10_000, pop_max_size=60, emb_size=16, num_layers=1, num_heads=2, hidden_dim=16,
                    num_buckets=20, batch_size=2, max_steps=3, border_draws=5, val_draws=0, log_steps=0,
                    stack_draws=6, stack_sizes=(10, 30), save_path=str(path))
    fit(cfg, progress=False, log=lambda m: None)
    return path


@pytest.fixture(scope="session")
def draw():
    return get_registry().make_prior("ril", seed=5, founders="random",
                                     overrides={"pop_size": 160, "n_markers": 300, "train_fraction": 0.75}).draw(0)
