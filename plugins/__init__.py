"""gpfn's built-in plugins.

Each module here is registered through an entry point in the ``gpfn`` group of gpfn's
own pyproject.toml, exactly as a third-party plugin is.
"""
