"""gpfn_cli: the ``gpfn`` command line (click)."""
