"""``import gpfn``: the names a Python user reaches for (installed as the ``gpfn`` package;
the code lives in :mod:`gpfn_core`)."""

from gpfn_core.version import __version__
from gpfn_core.tasks.estimator import GPFNRegressor

__all__ = ["GPFNRegressor", "__version__"]
