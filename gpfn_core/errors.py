"""Exceptions raised by gpfn.

Every error a user can cause derives from :class:`GpfnError`; the CLI turns it into a
one-line message and a non-zero exit instead of a traceback.
"""

from __future__ import annotations


class GpfnError(Exception):
    """An error caused by the user's input or environment (file, option, plugin)."""


class ValidationError(GpfnError, ValueError):
    """An argument or hyperparameter is out of its valid range.

    The message always names the argument and the offending value.
    """


class UnknownPluginError(GpfnError, KeyError):
    """A plugin name was looked up that no installed plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(GpfnError):
    """A plugin failed to load or registered something invalid."""
