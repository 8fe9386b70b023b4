"""Server-rendered HTML pages (Jinja2 with autoescape). Every page carries the strict headers from
:mod:`pixie.server.security_headers`; none has inline script or third-party resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from pixie.errors import OAuthError

__all__ = ["Pages"]

_TEMPLATES = Path(__file__).with_name("templates")


class Pages:
    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(default=True), auto_reload=False
        )

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        html = self._env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def error(self, error: OAuthError, *, tenant_name: str, static_base: str, status: int = 400) -> HTMLResponse:
        """Our own error page: used whenever the redirect URI cannot be trusted (never a redirect)."""
        return self.render(
            "error.html",
            status=status,
            title="This request cannot be completed",
            description=error.description,
            error=error.error,
            tenant_name=tenant_name,
            static_base=static_base,
        )
