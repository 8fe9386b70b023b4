"""The ``pixie`` command (see :mod:`pixie.cli.main`)."""

from pixie.cli.main import cli, main

__all__ = ["cli", "main"]
