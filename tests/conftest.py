import numpy as np
import pytest
from hypothesis import settings

from gpfn_core.net.config import FitConfig
from gpfn_core.net.train import fit
from gpfn_core.registry import get_registry

settings.register_profile("ci", max_examples=40, deadline=None)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Founder pools and other caches go to a temporary folder, never the user's home."""
    monkeypatch.setenv("GPFN_CACHE", str(tmp_path_factory.getbasetemp() / "gpfn-cache"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """One tiny model fitted on the ril prior (a few steps), shared by every test that predicts."""
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
