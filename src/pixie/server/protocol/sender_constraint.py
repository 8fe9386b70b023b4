"""DPoP at the token endpoint: which key, if any, the tokens of this request are bound to.

A request with one ``DPoP`` header carries a proof for ``POST {issuer}/token``; :func:`proof_key` checks it
(:class:`~pixie.resource.dpop.ProofChecker`), records it in the replay window every instance shares (a proof seen
before fails here even if another instance saw it), and returns the key's thumbprint for the grant to bind its tokens
to. Without the header the tokens are bearer tokens.

The grants then apply the bindings: the access token carries ``cnf.jkt`` and ``token_type`` is ``DPoP``; a public
client's refresh tokens are bound to the key (:func:`check_refresh_binding` refuses a refresh with another key or
without a proof, before the token is spent).

Spec: RFC 9449 §4.3 (one header, the checks), §5 (token endpoint), §11.1 (replay).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from pixie.errors import InvalidDPoPProof
from pixie.resource.dpop import ProofChecker
from pixie.security import constant_time_equals, derive_key
from pixie.storage.interfaces import ProofReplayStore
from pixie.types import TenantId

__all__ = ["NONCE_PERIOD", "DPoPNonces", "check_binding", "proof_key", "token_type"]

NONCE_PERIOD = 300
"""Seconds a server nonce is current; the previous one is still accepted, so a nonce lives 5 to 10 minutes."""
_NONCE_PURPOSE = "pixie dpop nonce v1"


class DPoPNonces:
    """Server nonces that every instance computes alike, without storage: the HMAC of the tenant and the current
    period under a key derived from the master key. The current and the previous period's nonce are accepted.

    Spec: RFC 9449 §8 (nonces at the authorization server), §8.2 (a new nonce in any response).
    """

    def __init__(self, master_key: bytes, *, period: int = NONCE_PERIOD) -> None:
        self._key = derive_key(master_key, _NONCE_PURPOSE)
        self.period = period

    def _nonce(self, tenant_id: TenantId, index: int) -> str:
        mac = hmac.new(self._key, f"{tenant_id}|{index}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode("ascii")

    def accepted(self, tenant_id: TenantId, now: float) -> list[str]:
        """The current nonce first (the one to send), then the previous period's."""
        index = int(now // self.period)
        return [self._nonce(tenant_id, index), self._nonce(tenant_id, index - 1)]


async def proof_key(
    headers: Sequence[str],
    *,
    url: str,
    checker: ProofChecker,
    proofs: ProofReplayStore,
    tenant_id: TenantId,
    nonces: Sequence[str] = (),
) -> str | None:
    """The thumbprint of the key whose proof came with this token request, or None without a ``DPoP`` header.
    With ``nonces``, the proof must carry one of them (:class:`~pixie.errors.UseDPoPNonce` otherwise).

    Spec: RFC 9449 §4.3 (steps 1–12), §8, §11.1.
    """
    if not headers:
        return None
    if len(headers) > 1:
        raise InvalidDPoPProof("send one DPoP header")
    proof = checker.check(headers[0], method="POST", url=url, nonces=nonces)
    if not await proofs.first_use(tenant_id, proof.replay_key, proof.expires_at):
        raise InvalidDPoPProof("the DPoP proof was already used")
    return proof.jkt


def check_binding(bound_to: str | None, presented: str | None, what: str) -> None:
    """A grant (``what``: "code", "refresh token") bound to a key is used only with a proof from that key.

    Spec: RFC 9449 §5 (refresh tokens of public clients are bound to the key), §10 (a code to ``dpop_jkt``).
    """
    if bound_to is None:
        return
    if presented is None:
        raise InvalidDPoPProof(f"this {what} is bound to a DPoP key: send a DPoP proof")
    if not constant_time_equals(bound_to, presented):
        raise InvalidDPoPProof(f"the DPoP proof's key is not the one this {what} is bound to")


def token_type(dpop_jkt: str | None) -> str:
    """``DPoP`` for a bound access token, ``Bearer`` otherwise (RFC 9449 §5, RFC 6749 §7.1)."""
    return "DPoP" if dpop_jkt is not None else "Bearer"
