"""Hostile input for the fuzzers, as hypothesis strategies.

Values are produced *already encoded* — the exact characters that go on the wire — because the interesting ones
(``%``, ``%zz``, a lone ``%c3``, a percent-encoded surrogate) have no decoded form. :func:`decode` gives what a
strict server should see, or ``None`` when the bytes are not valid UTF-8 percent-encoding.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

from hypothesis import strategies as st

# Header injection: raw CR/LF (percent-encoded on the wire), double-encoded, and Unicode line breaks.
INJECTIONS = [
    "\r\nSet-Cookie: injected=1",
    "\nSet-Cookie: injected=1",
    "\rLocation: https://evil.example/",
    "x\r\n\r\n<html>injected</html>",
    "%0d%0aSet-Cookie:%20injected=1",
    "\u2028Set-Cookie: injected=1",
    "\u0085Set-Cookie: injected=1",
]
# Markup and template syntax: must never come back unescaped on a page.
MARKUP = [
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "'><svg/onload=alert(1)>",
    "{{7*7}}{% raw %}",
    "javascript:alert(1)",
]
# Unicode that confuses humans or parsers: RTL override, bidi marks, BOM, NUL, emoji, combining, fullwidth.
UNICODE = ["\u202egnp.exe", "\u200f\u200e", "\ufeff", "a\x00b", "\x00", "\U0001f600", "e\u0301", "\uff41\uff50\uff50"]
# Raw, already-encoded fragments a conforming client would never send.
MALFORMED = ["%", "%zz", "%c3", "%ED%A0%80", "%ff%fe", "%%", "%0", "%c3%28", "%F0%9F%98", "%00", "%E2%80%AE"]
# What the fuzzers count as markup worth looking for in a page (escaping must have changed it).
MARKUP_CHARS = frozenset("<>\"'")


def encode(value: str) -> str:
    """Percent-encode every reserved character (UTF-8), so the server decodes exactly ``value``."""
    return quote(value, safe="")


def decode(encoded: str) -> str | None:
    """What a strict server decodes from a query value (``+`` is a space), or None for bytes that are not UTF-8."""
    try:
        return unquote_to_bytes(encoded.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def long_values(max_size: int = 64 * 1024) -> st.SearchStrategy[str]:
    """Long values up to ``max_size`` characters (decoded), of a character that encodes to one, two or three
    bytes, or to a three-character escape."""
    return st.builds(
        lambda ch, n: encode(ch * n),
        st.sampled_from(["a", "é", "<", "\u202e", "%"]),
        st.integers(min_value=1, max_value=max_size).map(lambda n: n if n < 256 else n - n % 64),
    )


def hostile_values() -> st.SearchStrategy[str]:
    """One encoded value: injection, markup, odd Unicode, malformed encoding, long, or arbitrary text."""
    return st.one_of(
        st.sampled_from(INJECTIONS).map(encode),
        st.sampled_from(MARKUP).map(encode),
        st.sampled_from(UNICODE).map(encode),
        st.sampled_from(MALFORMED),
        long_values(),
        st.text(max_size=40).map(encode),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=20).map(lambda s: quote(s, safe="=&;+%/?:@")),
    )
