"""A request's access token, as a resource server receives it: ``Bearer`` (RFC 6750) or ``DPoP`` (RFC 9449) with
a proof — one code path for the middleware, the FastAPI dependency and ``pixie gateway``.

:func:`authenticate` reads the ``Authorization`` header, verifies the token with the resource server's
:class:`~pixie.resource.verifier.TokenVerifier` and applies the sender-constraint rules:

* a token bound to a DPoP key (``cnf.jkt``) is accepted only with the ``DPoP`` scheme and a proof from that key for
  this request (method, URL, the token's hash), seen once within the proof window — so a stolen token is useless
  without the key, and a captured proof cannot be replayed;
* a bound token presented as a ``Bearer`` token is refused (a downgrade);
* an unbound token under the ``DPoP`` scheme is refused too (the scheme promises a binding the token lacks);
* without a :class:`ResourceDPoP` policy, only ``Bearer`` is understood: such a resource server cannot check
  proofs, so it refuses bound tokens instead of accepting them as bearer tokens.

The replay window is a :class:`ReplayCache`: :class:`MemoryReplayCache` for one process; for several instances
behind a load balancer use one they share (:class:`pixie.resource.dpop_redis.RedisReplayCache`), so that a proof
replayed to another instance fails too.

Spec: RFC 6750 §2.1; RFC 9449 §7 (resource servers), §7.2 (downgrade), §11.1 (replay).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pixie.errors import InvalidDPoPProof, InvalidRequest, InvalidToken
from pixie.resource.dpop import ProofChecker
from pixie.resource.verifier import AccessToken, TokenVerifier
from pixie.security import constant_time_equals

__all__ = [
    "SCHEME_KEY",
    "Credentials",
    "MemoryReplayCache",
    "ReplayCache",
    "ResourceDPoP",
    "authenticate",
    "request_credentials",
    "request_url",
]

SCHEME_KEY = "pixie.auth_scheme"
"""Where :func:`authenticate` leaves the scheme the request used (``"Bearer"`` or ``"DPoP"``) in the ASGI scope,
so that an error answered later (a 403 for a missing scope) challenges with the same scheme."""

# RFC 6750 §2.1 / RFC 9449 §7.1: token68-like credentials after the scheme name.
_CREDENTIALS = re.compile(r"(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *", re.IGNORECASE)
_MAX_HEADER = 16 * 1024

Scheme = Literal["Bearer", "DPoP"]


@dataclass(frozen=True)
class Credentials:
    scheme: Scheme
    token: str


def request_credentials(headers: Iterable[tuple[bytes, bytes]]) -> Credentials | None:
    """The scheme and token of the request's one ``Authorization`` header; None when there is none (or another
    scheme); :class:`InvalidRequest` when the header repeats; :class:`InvalidToken` when it is malformed.

    Spec: RFC 6750 §2.1, §3.1; RFC 9449 §7.1.
    """
    values = [value for name, value in headers if name.lower() == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest("send one Authorization header")
    raw = values[0]
    if len(raw) > _MAX_HEADER:
        raise InvalidToken("the access token is malformed")
    text = raw.decode("latin-1")
    scheme = text.split(" ", 1)[0].lower()
    if scheme not in ("bearer", "dpop"):
        return None
    match = _CREDENTIALS.fullmatch(text)
    if match is None:
        raise InvalidToken("the access token is malformed")
    return Credentials("DPoP" if scheme == "dpop" else "Bearer", match.group(2))


class ReplayCache(Protocol):
    """Remembers DPoP proofs for their window; shared by every instance of a resource server."""

    async def first_use(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at``; True iff this call recorded it."""


class MemoryReplayCache:
    """The replay window of one process, bounded: expired entries are dropped as new ones come, and when
    ``capacity`` live proofs are remembered, further proofs are refused (answered as replays) rather than letting
    memory grow — at the proof rate that would take, a window shared through Redis is the right tool anyway.
    """

    def __init__(self, capacity: int = 100_000, *, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._seen: dict[str, float] = {}
        self._clock = clock
        self._swept_at = float("-inf")

    async def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        if key in self._seen and self._seen[key] > now:
            return False
        if len(self._seen) >= self.capacity:
            # Sweep the expired at most once a second: while the cache is full of live proofs, a request must not
            # pay a walk over all of them.
            if now - self._swept_at >= 1.0:
                self._swept_at = now
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            if len(self._seen) >= self.capacity:
                return False
        self._seen[key] = expires_at
        return True


@dataclass(frozen=True)
class ResourceDPoP:
    """A resource server's DPoP settings: the proof checker (algorithms, window), the replay cache and, behind a
    proxy that changes the address, the public ``origin`` (``https://api.example``) proofs are made for.

    Spec: RFC 9449 §7, §4.3 step 9 (``htu``).
    """

    checker: ProofChecker = field(default_factory=ProofChecker)
    replay: ReplayCache = field(default_factory=MemoryReplayCache)
    origin: str | None = None

    @property
    def algorithms(self) -> list[str]:
        return self.checker.advertised_algorithms


def request_url(scope: Mapping[str, Any], origin: str | None = None) -> str:
    """The URL a client addressed, as DPoP's ``htu`` names it: ``origin`` (if configured) or the request's scheme
    and ``Host`` header, then the path with the mount point (query and fragment play no part).

    Spec: RFC 9449 §4.3 step 9.
    """
    root, path = str(scope.get("root_path", "")), str(scope["path"])
    if not path.startswith(root):  # servers differ on whether path includes the mount point (root_path)
        path = root + path
    if origin is not None:
        return origin.rstrip("/") + path
    host = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{path}"


async def authenticate(
    scope: MutableMapping[str, Any], verifier: TokenVerifier, dpop: ResourceDPoP | None
) -> AccessToken:
    """The verified token of this request (an ASGI ``http`` or ``websocket`` scope), or the error to answer with.

    Spec: RFC 6750 §2.1; RFC 9449 §7.1–7.2.
    """
    credentials = request_credentials(scope["headers"])
    if credentials is None or (credentials.scheme == "DPoP" and dpop is None):
        raise InvalidToken("an access token is required")
    scope[SCHEME_KEY] = credentials.scheme
    token = await verifier.verify(credentials.token)
    bound_to = _bound_key(token)
    if credentials.scheme == "Bearer":
        if bound_to is not None:
            raise InvalidToken("this token is bound to a DPoP key: send it with the DPoP scheme and a proof")
        return token
    assert dpop is not None
    if bound_to is None:
        raise InvalidToken("this token is not bound to a DPoP key: send it as a Bearer token")
    proofs = [value for name, value in scope["headers"] if name.lower() == b"dpop"]
    if len(proofs) != 1:
        raise InvalidDPoPProof("send one DPoP header")
    method = scope.get("method", "GET")
    proof = dpop.checker.check(
        proofs[0].decode("latin-1"),
        method=method,
        url=request_url(scope, dpop.origin),
        access_token=credentials.token,
    )
    if not constant_time_equals(proof.jkt, bound_to):
        raise InvalidDPoPProof("the DPoP proof's key is not the one the token is bound to")
    if not await dpop.replay.first_use(proof.replay_key, proof.expires_at):
        raise InvalidDPoPProof("the DPoP proof was already used")
    return token


def _bound_key(token: AccessToken) -> str | None:
    cnf = token.claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if not isinstance(jkt, str) or not jkt:
        raise InvalidToken("the token's cnf claim is malformed")
    return jkt
