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

from collections.abc import Sequence

from pixie.errors import InvalidDPoPProof
from pixie.resource.dpop import ProofChecker
from pixie.security import constant_time_equals
from pixie.storage.interfaces import ProofReplayStore
from pixie.types import TenantId

__all__ = ["check_refresh_binding", "proof_key", "token_type"]


async def proof_key(
    headers: Sequence[str],
    *,
    url: str,
    checker: ProofChecker,
    proofs: ProofReplayStore,
    tenant_id: TenantId,
) -> str | None:
    """The thumbprint of the key whose proof came with this token request, or None without a ``DPoP`` header.

    Spec: RFC 9449 §4.3 (steps 1–12), §11.1.
    """
    if not headers:
        return None
    if len(headers) > 1:
        raise InvalidDPoPProof("send one DPoP header")
    proof = checker.check(headers[0], method="POST", url=url)
    if not await proofs.first_use(tenant_id, proof.replay_key, proof.expires_at):
        raise InvalidDPoPProof("the DPoP proof was already used")
    return proof.jkt


def check_refresh_binding(bound_to: str | None, presented: str | None) -> None:
    """A refresh token bound to a key is used only with a proof from that key.

    Spec: RFC 9449 §5 (refresh tokens of public clients are bound to the key).
    """
    if bound_to is None:
        return
    if presented is None:
        raise InvalidDPoPProof("this refresh token is bound to a DPoP key: send a DPoP proof")
    if not constant_time_equals(bound_to, presented):
        raise InvalidDPoPProof("the DPoP proof's key is not the one this refresh token is bound to")


def token_type(dpop_jkt: str | None) -> str:
    """``DPoP`` for a bound access token, ``Bearer`` otherwise (RFC 9449 §5, RFC 6749 §7.1)."""
    return "DPoP" if dpop_jkt is not None else "Bearer"
