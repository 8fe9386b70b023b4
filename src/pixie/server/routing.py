"""Routing by one dictionary lookup for the paths that have no parameters.

Starlette's :class:`~starlette.routing.Router` tries its routes in order, a regular expression and a scope dict
each; ``/token`` sat far down Pixie's list, so every token request paid for a failed match against each route
before it, a sizeable share of the request. :class:`IndexedRouter` finds a route whose path
is a constant with one ``dict`` lookup and hands everything else (parameters, mounts, 404, 405) to Starlette's own
loop, so it routes exactly as Starlette would:

- a constant path is indexed only when no route before it in the list could match that path (first match wins in
  Starlette, so an earlier pattern keeps precedence);
- only a full match (path *and* method) is taken from the index; a method that the route does not accept falls
  through to Starlette's loop, which answers 405 or finds another route, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

__all__ = ["IndexedRouter"]


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
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def _could_match(route: BaseRoute, path: str) -> bool:
    """Whether ``route`` might claim ``path``: by its pattern when it has one; any other kind of route is assumed
    to (and then the path is simply left to Starlette's loop)."""
    if isinstance(route, Route | Mount):
        return route.path_regex.match(path) is not None
    return True
