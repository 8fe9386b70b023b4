"""Which JOSE library verifies the tokens Pixie receives: joserfc or PyJWT (ARCHITECTURE §7).

Run on purpose (not part of the test suite), one core:  taskset -c 1 .venv/bin/python bench/jose_pick.py
Needs PyJWT next to joserfc:  .venv/bin/pip install pyjwt
Prints operations per second for ES256 sign and verify of an RFC 9068-shaped token, and the ratio joserfc/PyJWT.
Verification is what the pick is for: every token from outside goes through the JOSE library
(:mod:`pixie.resource.jws`). Signing is shown for reference only; Pixie signs its own tokens on ``cryptography``
directly (:mod:`pixie.tokens.signing`). Both libraries verify with the public key, as a resource server would.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt as jjwt
from joserfc.jwk import ECKey


def rate(func: Callable[[], object], seconds: float = 2.0) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            func()
        count += 100
    return count / elapsed


def main() -> None:
    now = int(time.time())
    claims = {
        "iss": "https://as.example",
        "sub": "user-1",
        "aud": "https://api.example",
        "client_id": "spa",
        "scope": "properties:read properties:write",
        "exp": now + 300,
        "iat": now,
        "jti": "k9vYb1dVhV0tEnyG3nPZ2w",
    }
    header = {"alg": "ES256", "kid": "k1", "typ": "at+jwt"}
    private = ec.generate_private_key(ec.SECP256R1())
    jkey = ECKey.import_key(private)
    py_token = pyjwt.encode(claims, private, algorithm="ES256", headers={"kid": "k1", "typ": "at+jwt"})
    j_token = jjwt.encode(header, claims, jkey)
    public = private.public_key()
    jpublic = ECKey.import_key(public)
    results = {
        "pyjwt sign": rate(lambda: pyjwt.encode(claims, private, algorithm="ES256", headers={"kid": "k1"})),
        "joserfc sign": rate(lambda: jjwt.encode(header, claims, jkey)),
        "pyjwt verify": rate(lambda: pyjwt.decode(py_token, public, algorithms=["ES256"], audience=claims["aud"])),
        "joserfc verify": rate(lambda: jjwt.decode(j_token, jpublic, algorithms=["ES256"])),
    }
    for name, value in results.items():
        print(f"{name:16s} {value:10.0f}/s")
    print(f"sign ratio joserfc/pyjwt   {results['joserfc sign'] / results['pyjwt sign']:.2f}")
    print(f"verify ratio joserfc/pyjwt {results['joserfc verify'] / results['pyjwt verify']:.2f}")


if __name__ == "__main__":
    main()
