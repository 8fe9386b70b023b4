"""The ``pixie`` command (see :mod:`pixie.cli.main`)."""

from pixie.cli.main import main

__all__ = ["main"]
