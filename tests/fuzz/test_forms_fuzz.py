"""Hostile login and consent form posts against a real server, each on a real pending authorization request.

Every field (``request``, ``csrf_token``, ``username``, ``password``, ``decision``) is kept, dropped, repeated or
replaced by a hostile value (64 KiB, NUL, CR/LF, odd Unicode, malformed percent-encoding, markup); stray fields are
added; the body comes urlencoded, as multipart (with a file part), or with a content type that does not match. The
browser's CSRF cookie is kept or tampered with. Whatever arrives, the answer:

* is never a 5xx;
* redirects (303) only to Pixie's ``/consent`` or to the client's registered redirect URI;
* sets no cookie and header Pixie does not set;
* is an HTML page (the form again, or the error page: 400 expired, 403 CSRF) that never reflects a field unescaped,
  or, for a body past 64 KiB, the JSON 413 error object.

Spec: RFC 6749 §10.12 (CSRF), §10.14 (injection); RFC 9700 §4.4.1.8 (login CSRF); RFC 9110 §5.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fuzz.hostile import MARKUP_CHARS, decode, encode, hostile_values
from fuzz.oracles import allowed_redirect, check_headers, check_json_error
from fuzz.support import TALLY, FuzzServer, Pending, RawResponse, examples, refused_head
from spec.support import PASSWORDS, SPA_CB


@dataclass(frozen=True, repr=False)
class Post:
    fields: tuple[tuple[str, str], ...]  # encoded name, encoded value
    body_kind: str
    csrf_cookie: str  # "valid", "missing", or a hostile value
    sent_values: tuple[str, ...]  # decoded values, to look for in the page

    def __repr__(self) -> str:
        fields = [(k[:60], v if len(v) <= 60 else f"{v[:60]}...({len(v)})") for k, v in self.fields]
        return f"Post({self.body_kind!r}, csrf_cookie={self.csrf_cookie[:60]!r}, fields={fields!r})"


@st.composite
def _damaged(draw: st.DrawFn, name: str, valid: str) -> list[tuple[str, str]]:
    """A field dropped, repeated or made hostile."""
    how = draw(st.sampled_from(["drop", "hostile", "repeat"]))
    if how == "drop":
        return []
    value = draw(hostile_values())
    return [(encode(name), value)] if how == "hostile" else [(encode(name), encode(valid)), (encode(name), value)]


@st.composite
def form_posts(draw: st.DrawFn, valid: dict[str, str]) -> Post:
    """A form post with at most two fields damaged, mostly in a well-formed body with the right CSRF cookie, so
    that most examples get past the CSRF check to the code behind it."""
    damaged = draw(st.sets(st.sampled_from(sorted(valid)), max_size=2))
    fields: list[tuple[str, str]] = []
    for name, value in valid.items():
        fields += draw(_damaged(name, value)) if name in damaged else [(encode(name), encode(value))]
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 1, 3, 25]))):  # 25 extra: past the 20 a form may have
        fields.append((draw(hostile_values()), draw(hostile_values())))
    kinds = ["urlencoded"] * 4 + ["multipart"] * 2 + ["multipart with file", "multipart utf-7", "text/plain"]
    body_kind = draw(st.sampled_from(kinds))
    cookie_kind = draw(st.sampled_from(["valid"] * 6 + ["missing", "hostile"]))
    csrf_cookie = draw(hostile_values()) if cookie_kind == "hostile" else cookie_kind
    sent = tuple(v for _, value in fields if (v := decode(value)))
    return Post(tuple(fields), body_kind, csrf_cookie, sent)


def _body(post: Post) -> tuple[bytes, str]:
    if post.body_kind in ("urlencoded", "text/plain"):
        body = "&".join(f"{k}={v}" for k, v in post.fields).encode("ascii")
        kind = "application/x-www-form-urlencoded" if post.body_kind == "urlencoded" else "text/plain"
        return body, kind
    boundary = "fuzzboundary7MA4YWxkTrZu0gW"
    charset = "utf-7" if post.body_kind == "multipart utf-7" else "utf-8"
    parts = []
    for name, value in post.fields:
        # Multipart carries raw bytes: send what the encoded form decodes to (or the encoding itself if it does not).
        raw_name = (decode(name) or name).replace('"', "%22").replace("\r", "").replace("\n", "")
        raw = (decode(value) or value).encode(charset)
        if charset == "utf-7":
            raw += b"+2AA-"  # UTF-7 for a lone surrogate (U+D800): no UTF-8 text can carry it
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{raw_name}"\r\n\r\n'.encode() + raw + b"\r\n"
        )
    if post.body_kind == "multipart with file":
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="../../x.sh"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + b"\x00" * 4096
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}; charset={charset}"


def _send(server: FuzzServer, path: str, pending: Pending, post: Post, *, signed_in: bool) -> RawResponse:
    body, content_type = _body(post)
    cookies = [f"pixie-session={server.alice_cookie}"] if signed_in else []
    if post.csrf_cookie == "valid":
        cookies.append(f"pixie-rq-{pending.request_id}={pending.csrf}")
    elif post.csrf_cookie != "missing":
        cookies.append(f"pixie-rq-{pending.request_id}={post.csrf_cookie}")
    headers = {"content-type": content_type}
    if cookies:
        headers["cookie"] = "; ".join(cookies)
    TALLY.examples[path] += 1
    with httpx.Client(base_url=server.base, timeout=30) as http:
        response = http.post(path, content=body, headers=headers)
    return RawResponse(response.status_code, list(response.headers.multi_items()), response.content)


def check_form_answer(post: Post, response: RawResponse, *, to: str) -> str:
    """Check the answer; return a label for hypothesis' statistics."""
    assert response.status < 500, (response.status, response.body[:300])
    check_headers(response)
    content_type = response.header("content-type") or ""
    if response.status == 303:
        location = response.header("location") or ""
        own = location.startswith(f"{to}?request=")
        assert own or allowed_redirect(location, SPA_CB), location
        return f"303 to {'pixie' if own else 'client'}"
    if refused_head(response.status, content_type):
        return f"{response.status} head"  # a cookie past the head's bound (the generated CSRF cookie can be 16 KiB)
    if response.status == 413:
        check_json_error(response.status, httpx.Headers(response.headers), response.body)
        return "413"
    assert response.status in (200, 400, 403), (response.status, response.body[:300])
    assert content_type.startswith("text/html"), (response.status, content_type, response.body[:200])
    page = response.body.decode("utf-8")
    for value in post.sent_values:
        if len(value) >= 4 and MARKUP_CHARS & set(value):
            assert value not in page, f"reflected unescaped: {value[:80]!r}"
    return f"{response.status} page"


_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# A post that reaches the password check costs one Argon2id hash (~0.2 s on this machine): fewer examples.
@settings(_SETTINGS, max_examples=examples(40))
@given(data=st.data())
def test_hostile_login_posts(fuzz_server: FuzzServer, data: st.DataObject) -> None:
    pending = fuzz_server.start_request(signed_in=False)
    password = data.draw(st.sampled_from([PASSWORDS["alice"], "wrong-password"]), label="password")
    valid = {"request": pending.request_id, "csrf_token": pending.csrf, "username": "alice", "password": password}
    post = data.draw(form_posts(valid), label="post")
    response = _send(fuzz_server, "/login", pending, post, signed_in=False)
    event(check_form_answer(post, response, to="/consent"))


@settings(_SETTINGS, max_examples=examples(100))
@given(data=st.data())
def test_hostile_consent_posts(fuzz_server: FuzzServer, data: st.DataObject) -> None:
    pending = fuzz_server.start_request(signed_in=True)
    decision = data.draw(st.sampled_from(["approve", "deny"]), label="decision")
    valid = {"request": pending.request_id, "csrf_token": pending.csrf, "decision": decision}
    post = data.draw(form_posts(valid), label="post")
    response = _send(fuzz_server, "/consent", pending, post, signed_in=True)
    event(check_form_answer(post, response, to="/consent"))


def test_the_fuzzers_reach_past_the_csrf_check(fuzz_server: FuzzServer) -> None:
    """Guard against a fuzzer that only ever hits the front door: a valid post signs in (303), a post with the
    username made of markup shows the form again with the markup escaped."""
    pending = fuzz_server.start_request(signed_in=False)
    valid = {"request": pending.request_id, "csrf_token": pending.csrf, "username": "alice", "password": "nope"}
    markup = '"><script>alert(1)</script>'
    post = Post(
        tuple((encode(k), encode(markup if k == "username" else v)) for k, v in valid.items()),
        "urlencoded",
        "valid",
        (markup,),
    )
    response = _send(fuzz_server, "/login", pending, post, signed_in=False)
    check_form_answer(post, response, to="/consent")
    assert response.status == 200 and b"&#34;&gt;&lt;script&gt;" in response.body, response.body[:500]
    good = {**valid, "password": PASSWORDS["alice"]}
    post = Post(tuple((encode(k), encode(v)) for k, v in good.items()), "urlencoded", "valid", ())
    response = _send(fuzz_server, "/login", pending, post, signed_in=False)
    check_form_answer(post, response, to="/consent")
    assert response.status == 303, response.body[:300]
    assert urlsplit(response.header("location") or "").path in ("/consent", urlsplit(SPA_CB).path)
