"""The demo's records — properties and the people renting them — and the validation of what clients send.

The API calls the people renting a property *tenants* (the housing kind); in code they are :class:`Renter`, so they
are never confused with Pixie's tenants (separate issuers).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "KINDS",
    "LIMITS",
    "STATUSES",
    "TEXT_PATTERN",
    "InvalidInput",
    "Property",
    "PropertyFields",
    "Renter",
    "iso_time",
    "parse_property",
]

KINDS: Final = ("apartment", "house", "studio", "townhouse", "commercial")
STATUSES: Final = ("available", "let", "maintenance")
LIMITS: Final = {"name": 120, "address": 200, "city": 80, "bedrooms": 20, "monthly_rent": 1_000_000}
"""Upper bounds: text fields in characters, numbers inclusive. The OpenAPI document states the same."""

_TEXT = ("name", "address", "city")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TEXT_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
"""What a text field must match (JSON Schema ``pattern``): no C0/C1 control character, and not only whitespace."""
_REQUIRED = ("name", "address", "city", "kind", "bedrooms", "monthly_rent")


class InvalidInput(ValueError):
    """A request body the API refuses; the message names the field and is safe to show."""


def iso_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass(frozen=True)
class PropertyFields:
    """What a client may set on a property."""

    name: str
    address: str
    city: str
    kind: str
    bedrooms: int
    monthly_rent: int
    status: str = "available"


@dataclass(frozen=True)
class Property:
    id: int
    fields: PropertyFields
    created_at: float
    updated_at: float
    created_by: str | None

    def as_json(self) -> dict[str, Any]:
        f = self.fields
        return {
            "id": self.id,
            "name": f.name,
            "address": f.address,
            "city": f.city,
            "kind": f.kind,
            "bedrooms": f.bedrooms,
            "monthly_rent": f.monthly_rent,
            "currency": "EUR",
            "status": f.status,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class Renter:
    """A person renting a property (a *tenant* in the API)."""

    id: int
    name: str
    email: str
    property_id: int
    property_name: str
    lease_start: str
    lease_end: str | None
    monthly_rent: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "property_id": self.property_id,
            "property_name": self.property_name,
            "lease_start": self.lease_start,
            "lease_end": self.lease_end,
            "monthly_rent": self.monthly_rent,
            "currency": "EUR",
        }


def _text(name: str, value: object) -> str:
    """One line of text, checked as sent (so :data:`TEXT_PATTERN` and ``maxLength`` describe it exactly), then
    trimmed with inner runs of spaces folded into one."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    if len(value) > LIMITS[name]:
        raise InvalidInput(f"{name} must be at most {LIMITS[name]} characters")
    if _CONTROL.search(value):
        raise InvalidInput(f"{name} must not contain control characters (line breaks, tabs, NUL)")
    text = " ".join(value.split())
    if not text:
        raise InvalidInput(f"{name} must not be empty")
    return text


def _whole_number(name: str, value: object) -> int:
    # bool is an int in Python; JSON true is not a number of bedrooms. 2.0 is the JSON number 2 (and a JSON Schema
    # "integer"), so it is accepted.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number")
    if not 0 <= value <= LIMITS[name]:
        raise InvalidInput(f"{name} must be between 0 and {LIMITS[name]}")
    return value


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInput(f"{name} must be one of: {', '.join(choices)}")
    return value


def parse_property(body: object, *, current: PropertyFields | None = None) -> PropertyFields:
    """Validate a JSON body. Without ``current`` (create, replace) every field but ``status`` is required; with it
    (a partial update) only the given fields change. Unknown fields are refused, so a typo never passes silently."""
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(str(key) for key in body if key not in (*_REQUIRED, "status"))
    if unknown:
        raise InvalidInput(f"unknown field: {unknown[0][:40]}")
    if current is None:
        missing = [name for name in _REQUIRED if name not in body]
        if missing:
            raise InvalidInput(f"{missing[0]} is required")
    elif not body:
        raise InvalidInput("the body must change at least one field")
    values: dict[str, Any] = {} if current is None else dict(current.__dict__)
    for name in _TEXT:
        if name in body:
            values[name] = _text(name, body[name])
    if "kind" in body:
        values["kind"] = _choice("kind", body["kind"], KINDS)
    if "status" in body:
        values["status"] = _choice("status", body["status"], STATUSES)
    for name in ("bedrooms", "monthly_rent"):
        if name in body:
            values[name] = _whole_number(name, body[name])
    return PropertyFields(**values)
