"""Cookies of the browser flow: the SSO session, the per-request CSRF binding, and the dashboard's cookies.

Session cookies are opaque (the server stores only their SHA-256), HttpOnly, SameSite=Lax, and on an https issuer
Secure with the ``__Host-`` prefix (so no subdomain can set or shadow them). Tenants other than the default get
their own cookie name, so one tenant's session is never even sent as another's.

Spec: RFC 6265bis §4.1.3.2 (the ``__Host-`` prefix: Secure, Path=/, no Domain).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pixie.storage.records import Tenant
from pixie.tenancy import DEFAULT_TENANT

__all__ = [
    "admin_cookie_name",
    "clear_cookie",
    "csrf_cookie_name",
    "device_cookie_name",
    "read_cookie",
    "session_cookie_name",
    "set_cookie",
]


def _secure(issuer: str) -> bool:
    return issuer.startswith("https://")


def session_cookie_name(tenant: Tenant, issuer: str) -> str:
    suffix = "" if tenant.id == DEFAULT_TENANT else f"-{tenant.id}"
    return ("__Host-" if _secure(issuer) else "") + "pixie-session" + suffix


def csrf_cookie_name(tenant: Tenant, issuer: str, request_id: str) -> str:
    suffix = "" if tenant.id == DEFAULT_TENANT else f"-{tenant.id}"
    return ("__Host-" if _secure(issuer) else "") + f"pixie-rq{suffix}-{request_id}"


def device_cookie_name(tenant: Tenant, issuer: str, tag: str) -> str:
    """The device cookie of one user (``tag`` names the user without revealing it; see ``device_cookies``)."""
    suffix = "" if tenant.id == DEFAULT_TENANT else f"-{tenant.id}"
    return ("__Host-" if _secure(issuer) else "") + f"pixie-device{suffix}-{tag}"


def admin_cookie_name(name: str, issuer: str) -> str:
    """The name of a dashboard cookie (``/admin`` lives on the default tenant only): ``__Host-`` prefixed on an
    https issuer, as the SSO session's is."""
    return ("__Host-" if _secure(issuer) else "") + name


def set_cookie(response: Response, *, name: str, value: str, max_age: int, issuer: str) -> None:
    response.set_cookie(
        name, value, max_age=max(max_age, 0), path="/", secure=_secure(issuer), httponly=True, samesite="lax"
    )


def clear_cookie(response: Response, *, name: str, issuer: str) -> None:
    response.delete_cookie(name, path="/", secure=_secure(issuer), httponly=True, samesite="lax")


def read_cookie(request: Request, name: str) -> str | None:
    return request.cookies.get(name)
