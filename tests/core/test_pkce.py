"""PKCE core: RFC 7636 §4.1–§4.6 and Appendix B."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixie import pkce

UNRESERVED = string.ascii_letters + string.digits + "-._~"
BASE64URL = string.ascii_letters + string.digits + "-_"
verifiers = st.text(alphabet=UNRESERVED, min_size=43, max_size=128)


def test_rfc7636_appendix_b_vector() -> None:
    """RFC 7636 Appendix B: the worked S256 example."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = pkce.create_challenge(verifier, "S256")
    assert challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce.verify(verifier, challenge, "S256")


def test_generated_verifier_meets_syntax() -> None:
    """RFC 7636 §4.1: 43–128 characters of the unreserved set; two calls never repeat."""
    first, second = pkce.generate_verifier(), pkce.generate_verifier()
    for verifier in (first, second):
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set(UNRESERVED)
        pkce.validate_verifier(verifier)
    assert first != second
    assert len(pkce.generate_verifier(43)) == 43
    assert len(pkce.generate_verifier(128)) == 128


@pytest.mark.parametrize("length", [0, 42, 129])
def test_generate_verifier_refuses_out_of_range_lengths(length: int) -> None:
    with pytest.raises(pkce.PKCEError, match="43 to 128"):
        pkce.generate_verifier(length)


@pytest.mark.parametrize("method", ["plain", "s256", "S512", ""])
def test_only_s256_is_supported(method: str) -> None:
    """OAuth 2.1 §4.1.1 / RFC 9700 §2.1.1: `plain` (and anything else) is refused."""
    verifier = pkce.generate_verifier()
    with pytest.raises(pkce.PKCEError, match="not supported"):
        pkce.create_challenge(verifier, method)
    with pytest.raises(pkce.PKCEError, match="not supported"):
        pkce.verify(verifier, verifier, method)
    with pytest.raises(pkce.PKCEError, match="not supported"):
        pkce.validate_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", method)


@given(verifiers)
def test_round_trip(verifier: str) -> None:
    """RFC 7636 §4.6: the verifier that made a challenge verifies against it."""
    challenge = pkce.create_challenge(verifier)
    pkce.validate_challenge(challenge)
    assert pkce.verify(verifier, challenge, "S256")


@given(verifiers, st.data())
def test_any_one_character_change_fails(verifier: str, data: st.DataObject) -> None:
    """RFC 7636 §4.6: a verifier differing in one position does not match."""
    challenge = pkce.create_challenge(verifier)
    index = data.draw(st.integers(0, len(verifier) - 1))
    replacement = data.draw(st.sampled_from(UNRESERVED).filter(lambda c: c != verifier[index]))
    tampered = verifier[:index] + replacement + verifier[index + 1 :]
    assert not pkce.verify(tampered, challenge, "S256")


@given(verifiers, st.data())
def test_one_character_change_in_challenge_fails(verifier: str, data: st.DataObject) -> None:
    challenge = pkce.create_challenge(verifier)
    index = data.draw(st.integers(0, len(challenge) - 1))
    replacement = data.draw(
        st.sampled_from(string.ascii_letters + string.digits + "-_").filter(lambda c: c != challenge[index])
    )
    tampered = challenge[:index] + replacement + challenge[index + 1 :]
    assert not pkce.verify(verifier, tampered, "S256")


@given(st.text(min_size=43, max_size=128).filter(lambda s: not set(s) <= set(UNRESERVED)))
def test_out_of_alphabet_verifier_rejected(verifier: str) -> None:
    """RFC 7636 §4.1: characters outside the unreserved set are refused, and such a verifier never verifies."""
    with pytest.raises(pkce.PKCEError, match="may contain only"):
        pkce.validate_verifier(verifier)
    with pytest.raises(pkce.PKCEError):
        pkce.create_challenge(verifier)
    assert not pkce.verify(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256")


@given(st.one_of(st.text(alphabet=UNRESERVED, max_size=42), st.text(alphabet=UNRESERVED, min_size=129, max_size=300)))
def test_wrong_length_verifier_rejected(verifier: str) -> None:
    """RFC 7636 §4.1: fewer than 43 or more than 128 characters is refused."""
    with pytest.raises(pkce.PKCEError, match="43 to 128"):
        pkce.validate_verifier(verifier)


@given(
    st.one_of(
        st.text(alphabet=string.ascii_letters, min_size=0, max_size=42),
        st.text(alphabet=string.ascii_letters, min_size=44, max_size=100),
        st.text(min_size=43, max_size=43).filter(
            lambda s: not set(s) <= set(string.ascii_letters + string.digits + "-_")
        ),
    )
)
def test_malformed_challenge_rejected(challenge: str) -> None:
    """RFC 7636 §4.2: an S256 challenge is 43 base64url characters without padding."""
    with pytest.raises(pkce.PKCEError, match="43 base64url"):
        pkce.validate_challenge(challenge)


def test_padded_challenge_rejected() -> None:
    with pytest.raises(pkce.PKCEError):
        pkce.validate_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=")
