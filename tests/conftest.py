import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=40, deadline=None)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Founder pools and other caches go to a temporary folder, never the user's home."""
    monkeypatch.setenv("GPFN_CACHE", str(tmp_path_factory.getbasetemp() / "gpfn-cache"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
