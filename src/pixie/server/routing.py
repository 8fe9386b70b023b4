"""Routing by one dictionary lookup for the paths that have no parameters, to endpoints called directly.

Starlette's :class:`~starlette.routing.Router` tries its routes in order, a regular expression and a scope dict
each; ``/token`` sat far down Pixie's list, so every token request paid for a failed match against each route
before it, a sizeable share of the request. :class:`IndexedRouter` finds a route whose path
is a constant with one ``dict`` lookup and hands everything else (parameters, mounts, 404, 405) to Starlette's own
loop, so it routes exactly as Starlette would:

- a constant path is indexed only when no route before it in the list could match that path (first match wins in
  Starlette, so an earlier pattern keeps precedence);
- only a full match (path *and* method) is taken from the index; a method that the route does not accept falls
  through to Starlette's loop, which answers 405 or finds another route, as before.

Every route of the server is an :class:`Endpoint`: an async function called with the request, its response sent,
and nothing in between. Starlette's own wrapping of a function route looks up exception handlers on every request
and wraps ``send`` once more to track whether the response started; the server registers no exception handlers
(its one error guard is :class:`~pixie.server.edge.Edge`), so that wrapping did nothing but cost time.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Endpoint", "Handler", "IndexedRouter"]

Handler = Callable[[Request], Awaitable[Response]]
"""An endpoint: the request in, the response out."""


class Endpoint(Route):
    """A :class:`~starlette.routing.Route` to an async function ``handler(request) -> response``, called directly
    (see the module's docstring). An exception it raises propagates to the error guard as it is."""

    def __init__(self, path: str, handler: Handler, *, methods: Sequence[str], name: str | None = None) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"{path}: an endpoint must be an async function")
        super().__init__(path, handler, methods=list(methods), name=name)
        self.app = _direct(handler)


def _direct(handler: Handler) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], **options: Any) -> None:
        super().__init__(list(routes), **options)
        self.index: dict[str, Route] = {}
        for position, route in enumerate(self.routes):
            if not isinstance(route, Route) or route.param_convertors or route.path in self.index:
                continue
            if not any(_could_match(earlier, route.path) for earlier in self.routes[:position]):
                self.index[route.path] = route

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):  # behind a root path: Starlette's loop
            route = self.index.get(scope["path"])
            # The path matched exactly and the method is the route's: what Route.matches would call a full match,
            # and the scope it would set (a constant path has no parameters).
            if route is not None and (not route.methods or scope["method"] in route.methods):
                scope.setdefault("router", self)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {**scope.get("path_params", {})}
                await route.app(scope, receive, send)
                return
        await super().app(scope, receive, send)


def _could_match(route: BaseRoute, path: str) -> bool:
    """Whether ``route`` might claim ``path``: by its pattern when it has one; any other kind of route is assumed
    to (and then the path is simply left to Starlette's loop)."""
    if isinstance(route, Route | Mount):
        return route.path_regex.match(path) is not None
    return True
