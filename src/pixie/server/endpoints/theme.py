"""``GET /theme.css`` (and ``/t/{tenant}/theme.css``): a tenant's brand colour as a tiny stylesheet.

The pages' Content-Security-Policy is ``style-src 'self'`` — no inline styles — so a tenant's look cannot be written
into the page; it is a stylesheet of its own that ``base.html`` links after ``pixie.css``. Only a validated
``#rrggbb`` ever reaches it (:func:`pixie.tenancy.normalize_brand_color`), plus two colours derived from it so text
stays readable on any brand colour (WCAG 2.2 contrast). Pages link it as ``theme.css?v=<colour>``, so it can be
cached for a day: a new colour is a new URL.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pixie.server.context import tenant_of
from pixie.storage.records import TenantSettings
from pixie.tenancy import normalize_brand_color

__all__ = ["contrast_ratio", "theme_css", "theme_stylesheet"]

_INK = "#111827"
_WHITE = "#ffffff"
_FALLBACK = TenantSettings().brand_color


def _luminance(color: str) -> float:
    """Relative luminance of ``#rrggbb`` (WCAG 2.2, "relative luminance")."""
    channels = []
    for start in (1, 3, 5):
        value = int(color[start : start + 2], 16) / 255
        channels.append(value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.2 contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def theme_stylesheet(brand_color: str) -> str:
    """The stylesheet for one brand colour: ``--brand``, ``--on-brand`` (text on brand-filled buttons) and
    ``--brand-text`` (brand-coloured text on the white card, darkened to ink when the colour is too light)."""
    try:
        color = normalize_brand_color(brand_color)
    except ValueError:  # stored before validation existed: never let it into CSS
        color = _FALLBACK
    on_brand = _WHITE if contrast_ratio(color, _WHITE) >= contrast_ratio(color, _INK) else _INK
    brand_text = color if contrast_ratio(color, _WHITE) >= 3 else _INK
    return f":root {{ --brand: {color}; --on-brand: {on_brand}; --brand-text: {brand_text}; }}\n"


async def theme_css(request: Request) -> Response:
    _, tenant = await tenant_of(request)
    return Response(
        theme_stylesheet(tenant.settings.brand_color),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400"},
    )
