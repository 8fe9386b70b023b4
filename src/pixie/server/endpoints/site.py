"""The pages around the protocol: ``GET /favicon.ico`` and each tenant's start page ``GET /`` (``/t/{tenant}/``).

Browsers ask every origin for ``/favicon.ico``; answering it keeps a 404 out of every page's console and log. The
start page is where "Signed out" pages link back to: a person who lands on the authorization server by itself
learns what it is and where to go, instead of meeting a 404.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from pixie.server.context import tenant_of
from pixie.tenancy import DEFAULT_TENANT

__all__ = ["favicon", "home"]

_ICON = (Path(__file__).resolve().parents[1] / "static" / "favicon.ico").read_bytes()


async def favicon(request: Request) -> Response:
    """The icon (16, 32 and 48 px), cacheable for a day."""
    return Response(_ICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})


async def home(request: Request) -> Response:
    """What this server is, for a person who opens it directly; administrators get a link to the dashboard."""
    ctx, tenant = await tenant_of(request)
    links = [("/admin", "Open the dashboard (administrators)")] if tenant.id == DEFAULT_TENANT else []
    return ctx.page(
        "message.html",
        tenant,
        title="Sign-in service",
        message="Apps send you here to sign in and come back to them afterwards. There is nothing else to do here.",
        links=links,
    )
