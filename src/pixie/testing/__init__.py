"""``pixie.testing``: a real Pixie authorization server for your own test suite.

With ``pixie-oauth[server]`` installed, pytest finds the plugin (:mod:`pixie.testing.plugin`); a test asks for the
``pixie_server`` fixture by name and gets a running :class:`PixieTestServer`::

    def test_reader_can_list(pixie_server):
        pixie_server.add_user("alice")
        tokens = pixie_server.token_for("alice", scope="items:read")
        ...

Outside pytest, use :class:`PixieTestServer` as a context manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixie.lazy import lazy_exports as _lazy_exports

__all__ = ["PixieTestServer", "RegisteredClient", "RegisteredUser"]

if TYPE_CHECKING:
    from pixie.testing.server import PixieTestServer, RegisteredClient, RegisteredUser
else:
    # Imported on first use (PEP 562): pytest loads this package's plugin in every run of an environment where Pixie
    # is installed, and the plugin must not load the server unless a test asks for it.
    _SOURCES = dict.fromkeys(__all__, "pixie.testing.server")
    __getattr__, __dir__ = _lazy_exports(__name__, _SOURCES, globals(), __all__)
