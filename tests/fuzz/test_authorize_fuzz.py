"""A hypothesis-driven fuzzer over ``GET /authorize``, sent as raw bytes over a real socket (no client library to
normalise the query string), with and without a signed-in browser.

Requests start from a valid one for a real client and are then damaged: parameters dropped, repeated, replaced by
hostile values (64 KiB long, odd Unicode, NUL, CR/LF and other header-injection attempts, malformed percent-encoding,
markup), the redirect URI swapped for a registered one, a look-alike or garbage. Whatever the request, the response:

* is never a 5xx;
* redirects (3xx) only to a registered redirect URI of that client (exact, except any port on a loopback IP,
  RFC 8252 §7.3) or to Pixie's own ``/login`` or ``/consent``; a redirect to the client carries ``iss``, a valid
  RFC error when it is an error, and ``state`` exactly as sent (or none, for an oversized one);
* carries no header Pixie does not set (no injected ``Set-Cookie``, ``Location``…);
* when it is an error page, is HTML 400 that does not reflect the input unescaped.

Spec: RFC 6749 §3.1.2.4, §4.1.2.1, §10.14–10.15; RFC 9700 §4.1 (exact redirect URI matching); RFC 8252 §7.3;
RFC 9207 §2; RFC 9110 §5.5 (no CR/LF in field values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from fuzz.hostile import MALFORMED, MARKUP_CHARS, decode, encode, hostile_values
from fuzz.oracles import REGISTERED_ERRORS, allowed_redirect, check_headers, check_json_error, matches_registered
from fuzz.support import TALLY, FuzzServer, RawResponse, examples, raw_get, refused_head
from pixie.server.http_limits import HttpLimits
from spec.support import IPV6_CB, QUERY_CB, SPA_CB, WEB_CB, Pkce

CLIENTS = {"spa": SPA_CB, "withquery": QUERY_CB, "native6": IPV6_CB, "web": WEB_CB}
CHALLENGE = Pkce.new().challenge

LOOK_ALIKES = {
    WEB_CB: [
        "https://app.example/cb.evil.com",
        "https://app.example.evil.com/cb",
        "https://app.example@evil.com/cb",
        "https://evil.com@app.example/cb",
        "https://app.example%40evil.com/cb",
        "https://app.example\\@evil.com/cb",
        "HTTPS://APP.EXAMPLE/cb",
        "https://app.example/CB",
        "https://app.example/cb/",
        "https://app.example/cb#frag",
        "https://app.example/cb?extra=1",
        "https://app.example:443/cb",
        "https://app.example./cb",
        "https://app.example/cb/../evil",
        "https://app.example/cb%2F..%2Fevil",
        "http://app.example/cb",
        "//evil.com/cb",
        "/cb",
        "javascript:alert(1)//https://app.example/cb",
        " https://app.example/cb",
        "https://app.example/cb ",
        "https://app.example/cb\r\nSet-Cookie: injected=1",
    ],
    SPA_CB: [
        "http://127.0.0.1:1234/cb",  # allowed: loopback IP, any port
        "http://127.0.0.1/cb",  # allowed: loopback IP, default port
        "http://127.0.0.1:9999/cb/",
        "http://127.0.0.1:9999/cb?x=1",
        "http://127.0.0.1:9999/cb#x",
        "http://127.0.0.1.evil.com:9999/cb",
        "http://localhost:9999/cb",
        "http://127.0.0.2:9999/cb",
        "http://[::1]:9999/cb",
        "http://user@127.0.0.1:1234/cb",
        "http://127.0.0.1:9999@evil.com/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:-1/cb",
        "https://127.0.0.1:9999/cb",
        "http://0x7f.1:9999/cb",
        "http://2130706433:9999/cb",
    ],
    QUERY_CB: ["http://127.0.0.1:9999/cb", "http://127.0.0.1:9999/cb?app=1&x=2", "http://127.0.0.1:4321/cb?app=1"],
    IPV6_CB: ["http://[::1]:1234/cb", "http://[::1/cb", "http://[0:0:0:0:0:0:0:1]:8888/cb", "http://[::1]:8888/cb/"],
}
ALL_LOOK_ALIKES = sorted({uri for uris in LOOK_ALIKES.values() for uri in uris})
_OWN_PAGE = re.compile(r"/(login|consent)\?request=[A-Za-z0-9_-]{1,64}")
# The server refuses a longer request target (the request line's bound less "GET " and " HTTP/1.1\r\n") before
# Pixie sees it (see test_request_bounds.py).
MAX_URL = HttpLimits().max_line_bytes - len("GET  HTTP/1.1\r\n")


@dataclass(frozen=True, repr=False)
class Sent:
    """One fuzzed request: the client it starts from, its encoded pairs, and the exact target sent."""

    client_id: str
    pairs: tuple[tuple[str, str], ...]
    target: str
    cookie: str  # "none", "alice" (her live SSO session), or a hostile session cookie value

    def __repr__(self) -> str:
        return f"Sent({self.client_id!r}, cookie={_shorten(self.cookie, 80)!r}, target={_shorten(self.target)!r})"

    def decoded(self, name: str) -> list[str | None]:
        """The values of ``name`` as a strict server reads the target (a raw ``&`` inside a value splits it)."""
        query = self.target.partition("?")[2]
        fields = (part.partition("=") for part in query.split("&") if part)
        return [decode(value) for key, _, value in fields if decode(key) == name]


def _shorten(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} characters)"


@st.composite
def authorize_requests(draw: st.DrawFn) -> Sent:
    client_id = draw(st.sampled_from(sorted(CLIENTS)))
    registered = CLIENTS[client_id]
    # Mostly the registered URI, so the damage below is judged past the redirect-URI check too.
    redirect = draw(
        st.sampled_from(["registered"] * 4 + ["look-alike", "other"]).flatmap(
            lambda pick: (
                st.just(registered)
                if pick == "registered"
                else st.sampled_from(LOOK_ALIKES[registered] if pick == "look-alike" else ALL_LOOK_ALIKES)
            )
        )
    )
    base = {
        "client_id": client_id,
        "redirect_uri": redirect,
        "response_type": "code",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": draw(st.sampled_from(["st-123", "a b+c/d?e=f&g", "\u00e9\u202e\U0001f600"])),
        "scope": draw(st.sampled_from(["properties:read", "properties:read tenants:read", ""])),
    }
    pairs = [(encode(name), encode(value)) for name, value in base.items()]
    names = [*base, "prompt", "nonce", "response_mode", "request", "resource", "\x00", "client_id\r\nX: y"]
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3, 4]))):
        action = draw(st.sampled_from(["drop", "repeat", "replace", "replace", "add", "add", "raw"]))
        name = encode(draw(st.sampled_from(names)))
        if action == "drop":
            pairs = [pair for pair in pairs if pair[0] != name]
        elif action == "repeat":
            same = [value for key, value in pairs if key == name]
            value = same[0] if same and draw(st.booleans()) else draw(hostile_values())
            pairs.insert(draw(st.integers(0, len(pairs))), (name, value))
        elif action == "replace":
            value = draw(hostile_values())
            pairs = [(key, value if key == name else old) for key, old in pairs]
        elif action == "add":
            pairs.append((name, draw(hostile_values())))
        else:
            pairs.append((draw(st.sampled_from(MALFORMED)), draw(st.sampled_from(["", *MALFORMED]))))
    separator = draw(st.sampled_from(["&", "&", "&", "&&", ";"]))
    query = separator.join(f"{key}={value}" if value or draw(st.booleans()) else key for key, value in pairs)
    # Now and then another tenant's path: unknown, or a hostile name.
    path = draw(
        st.sampled_from(["/authorize"] * 8 + ["/authorize/", "/t/default/authorize", "/t/nope/authorize", "tenant"])
    )
    if path == "tenant":
        path = f"/t/{draw(hostile_values())}/authorize"
    cookie = draw(st.sampled_from(["none", "alice", "alice", "hostile"]))
    if cookie == "hostile":
        cookie = draw(hostile_values())
    return Sent(client_id, tuple(pairs), f"{path}?{query}", cookie)


def check_redirect(sent: Sent, response: RawResponse, issuer: str) -> None:
    location = response.header("location")
    assert location, response
    if location.startswith("/") and not location.startswith("//"):
        assert _OWN_PAGE.fullmatch(location), location
        return
    registered = CLIENTS[sent.client_id]
    assert allowed_redirect(location, registered), f"redirect to {location!r} for {sent.client_id}"
    params = parse_qsl(urlsplit(location).query, keep_blank_values=True)
    added = dict(params[len(parse_qsl(urlsplit(registered).query)) :])
    assert added.get("iss") == issuer, location  # RFC 9207 §2
    assert ("code" in added) != ("error" in added), location
    if "error" in added:
        assert added["error"] in REGISTERED_ERRORS, location
        assert re.fullmatch(r"[\x20\x21\x23-\x5b\x5d-\x7e]+", added["error_description"]), location
    states = sent.decoded("state")
    if "state" in added:
        # RFC 6749 §4.1.2: the exact value received. A value that did not decode cannot have been echoed exactly.
        assert added["state"] in states, (added["state"], states)
    elif states and all(s is not None and len(s) <= 2048 for s in states):
        raise AssertionError(f"state was sent but not echoed: {location}")


def check_page(sent: Sent, response: RawResponse) -> None:
    if response.status == 404:
        assert not sent.target.startswith("/authorize?"), sent
        if response.body != b"Not Found":  # the router's own answer when a "/" in the name leaves no route
            check_json_error(response.status, httpx.Headers(response.headers), response.body)  # unknown tenant
        return
    content_type = response.header("content-type") or ""
    if refused_head(response.status, content_type):
        # The HTTP server's refusal of a head past its bounds: a request line (414) or cookie line (431) too long.
        if response.status == 414:
            assert len(sent.target) > MAX_URL, sent.target[:200]
        else:
            assert len(sent.cookie or "") > MAX_URL - 64, (len(sent.cookie or ""), sent.target[:200])
        return
    assert response.status == 400, response
    assert content_type.startswith("text/html"), content_type
    assert response.header("cache-control") is None or "no-store" in (response.header("cache-control") or "")
    body = response.body.decode("utf-8")
    for _, value in sent.pairs:
        decoded = decode(value)
        if decoded and len(decoded) >= 4 and MARKUP_CHARS & set(decoded):
            assert decoded not in body, f"reflected unescaped: {decoded[:80]!r}"


def check_authorize(sent: Sent, response: RawResponse, issuer: str) -> None:
    assert response.status < 500, (response.status, sent.target[:300])
    check_headers(response)
    if 300 <= response.status < 400:
        assert response.status == 303, response.status
        check_redirect(sent, response, issuer)
    else:
        check_page(sent, response)


def explicit(client_id: str, cookie: str = "alice", **values: str) -> Sent:
    """A request built by hand: a valid one for ``client_id`` with ``values`` replacing (already encoded) values."""
    base = {
        "client_id": client_id,
        "redirect_uri": CLIENTS[client_id],
        "response_type": "code",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "s",
    }
    pairs = tuple((encode(k), values.get(k, encode(v))) for k, v in base.items())
    return Sent(client_id, pairs, "/authorize?" + "&".join(f"{k}={v}" for k, v in pairs), cookie)


# Run in every CI run whatever hypothesis draws: header injection through state (signed in, so the code is issued
# and state goes into Location) and through redirect_uri, a 60 KB state, a surrogate escape, an RTL override.
@example(explicit("spa", state=encode("x\r\nSet-Cookie: injected=1\r\nLocation: https://evil.example/")))
@example(explicit("web", state="%0d%0aSet-Cookie:%20injected=1"))
@example(explicit("spa", redirect_uri=encode("http://127.0.0.1:9999/cb\r\nSet-Cookie: injected=1")))
@example(explicit("spa", redirect_uri="http://127.0.0.1:9999/cb%0d%0aSet-Cookie:%20injected=1"))
@example(explicit("spa", state="a" * 60_000))  # past the 2,048 Pixie echoes, within the URL limit
@example(explicit("spa", state="%ED%A0%80"))
@example(explicit("native6", state="&"))  # a raw & inside a value: the state the server reads is empty
@example(explicit("native6", cookie="none", state=encode("\u202egnp.exe")))
@settings(
    max_examples=examples(1000),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(sent=authorize_requests())
def test_authorize_never_fails_open(fuzz_server: FuzzServer, sent: Sent) -> None:
    value = {"none": None, "alice": fuzz_server.alice_cookie}.get(sent.cookie, sent.cookie)
    cookies = {"Cookie": f"pixie-session={value}"} if value is not None else None
    TALLY.examples["authorize"] += 1
    response = raw_get(fuzz_server.base, sent.target, cookies)
    check_authorize(sent, response, fuzz_server.pixie.issuer)
    event(_outcome(response))


def _outcome(response: RawResponse) -> str:
    """A label for hypothesis' statistics (``--hypothesis-show-statistics``): how far requests got."""
    location = response.header("location") or ""
    if location.startswith("/"):
        return "to login/consent"
    if location:
        return "to client with error" if "error=" in location else "to client with code"
    kind = "uvicorn" if (response.header("content-type") or "").startswith("text/plain") else "error page"
    return f"{response.status} {kind}"


@pytest.mark.parametrize("registered", sorted(LOOK_ALIKES))
def test_every_look_alike_is_refused_on_our_page(fuzz_server: FuzzServer, registered: str) -> None:
    """RFC 9700 §4.1.3: anything but the registered string (or a loopback IP's other port) is an error shown on
    Pixie's page — never a redirect. Run once each, signed in, so a match would hand out a code."""
    client_id = next(c for c, uri in CLIENTS.items() if uri == registered)
    cookies = {"Cookie": f"pixie-session={fuzz_server.alice_cookie}"}
    for look_alike in LOOK_ALIKES[registered]:
        pairs = {
            "client_id": client_id,
            "redirect_uri": look_alike,
            "response_type": "code",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
            "state": "s",
        }
        target = "/authorize?" + "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs.items())
        response = raw_get(fuzz_server.base, target, cookies)
        sent = Sent(client_id, tuple((encode(k), encode(v)) for k, v in pairs.items()), target, "alice")
        check_authorize(sent, response, fuzz_server.pixie.issuer)
        loopback_port = matches_registered(look_alike, registered)
        assert (response.status == 303) == loopback_port, (look_alike, response.status, response.header("location"))
