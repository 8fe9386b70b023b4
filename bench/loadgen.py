"""The load generator of ``bench/compare.py``: concurrent workers drive one OAuth scenario against one authorization
server, and one JSON line per scenario says what the server did.

It runs in ``bench/.venv`` (aiohttp, and uvloop when present), which ``bench/compare.py`` creates on first use, and is
pinned there to the core the servers do not use. By hand::

    bench/.venv/bin/python bench/loadgen.py --issuer http://127.0.0.1:8000 --scenarios cc,sso -c 32 -t 10
    bench/.venv/bin/python bench/loadgen.py --issuer http://127.0.0.1:8000 --get-token   # one flow: a smoke check

Scenarios, each a loop of one *operation* per worker:

``cc``
    a client_credentials grant by the confidential client (``client_secret_basic``).
``authcode``
    a first sign-in: a browser with an empty cookie jar runs authorize → login and consent → code → token exchange
    with the PKCE verifier. Login and consent are whatever the server shows: an HTML form is filled in and posted
    (user name, password, hidden fields, the approving button), a redirect is followed.
``sso``
    a returning browser: each worker keeps one cookie jar; its first flow signs in (not timed, not counted) and
    every later flow should be authorize → code → token with no page in between. A flow that was shown a form or
    sent to an ``/interaction/`` path again counts as a ``relogin``, neither an operation nor an error.
``refresh``
    a refresh_token grant by the public client; each worker keeps the newest refresh token (rotation).
``introspect``
    RFC 7662 introspection of a refresh token by the confidential client (the resource server's question).

An operation counts when it started after the warm-up and ended inside the measured window, and only when every
answer was right (200 and a token, or ``active: true``). ``server_cpu`` is the CPU time of ``--server-pid`` and all
its descendants over the window divided by its length (cores used), ``database_cpu`` the same of ``--database-pid``
(PostgreSQL's postmaster: every backend is its child); ``loadgen_cpu`` is this process's: near 1.0
means the load generator, not the server, set the pace.

What a server must offer (``bench/compare.py`` seeds Pixie so; the peers in ``bench/peers/`` are configured so):
RFC 8414 or OpenID metadata at the issuer; the confidential client ``bench-confidential`` / ``bench-secret`` and the
public client ``bench-public``, both with the redirect URI ``http://127.0.0.1:9999/cb`` (never contacted: the code is
read from the ``Location`` header) and the scope ``api:read``; the user ``bench-user`` / ``bench-password``; refresh
tokens for the public client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

CONFIDENTIAL = ("bench-confidential", "bench-secret")
PUBLIC = "bench-public"
REDIRECT = "http://127.0.0.1:9999/cb"
SCOPE = "api:read"
USER = ("bench-user", "bench-password")
SCENARIOS = ("cc", "authcode", "sso", "refresh", "introspect")
MAX_STEPS = 10  # requests of the authorize phase before a flow is given up
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BASIC = {"Authorization": "Basic " + base64.b64encode(":".join(CONFIDENTIAL).encode()).decode()}


class FlowFailed(Exception):
    """An answer that a correct server would not give."""


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every process below it (gunicorn's or uvicorn's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent_of: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parent_of[int(entry.name)] = int(fields[1])
                seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parent_of.items() if of == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(seconds.get(member, 0.0) for member in tree)


# ------------------------------------------------------------------------------------------------- the browser


class _Forms(HTMLParser):
    """Every ``<form>`` of a page: method, action, inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            method = attributes.get("method", "get").upper()
            self._open = {"method": method, "action": attributes.get("action", ""), "inputs": [], "buttons": []}
            self.forms.append(self._open)
        elif self._open is not None and tag == "input":
            kind = "buttons" if attributes.get("type", "text").lower() == "submit" else "inputs"
            self._open[kind].append(attributes)
        elif self._open is not None and tag == "button" and attributes.get("type", "submit").lower() == "submit":
            self._open["buttons"].append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def fill_in(html: str) -> tuple[str, str, list[tuple[str, str]]]:
    """Method, action and fields of the form a user would submit on a login or consent page: the form with a
    password field if there is one, else the first; the user's name and password typed in, every other input kept
    as sent (CSRF tokens, request ids), and the button that approves pressed."""
    parser = _Forms()
    parser.feed(html)
    if not parser.forms:
        raise FlowFailed("a page without a form")
    has_password = [f for f in parser.forms if any(i.get("type", "").lower() == "password" for i in f["inputs"])]
    form = (has_password or parser.forms)[0]
    fields: list[tuple[str, str]] = []
    for item in form["inputs"]:
        name, kind = item.get("name"), item.get("type", "text").lower()
        if not name:
            continue
        if kind == "password":
            fields.append((name, USER[1]))
        elif name.lower() in ("username", "login", "user", "email"):
            fields.append((name, USER[0]))
        elif kind == "radio" and "checked" not in item:
            continue
        else:
            fields.append((name, item.get("value") or ("on" if kind == "checkbox" else "")))
    named = [b for b in form["buttons"] if b.get("name")]
    approving = [
        b for b in named if any(w in b.get("value", "").lower() for w in ("approve", "allow", "accept", "yes"))
    ]
    if approving or named:
        button = (approving or named)[0]
        fields.append((button["name"], button.get("value", "")))
    return form["method"], form["action"], fields


@dataclass
class Browser:
    """A cookie jar (name → value and path); the one origin under test, so domains are not tracked."""

    cookies: dict[str, tuple[str, str]] = field(default_factory=dict)

    def header(self, url: str) -> dict[str, str]:
        path = urlsplit(url).path or "/"
        pairs = [f"{name}={value}" for name, (value, scope) in self.cookies.items() if path.startswith(scope)]
        return {"Cookie": "; ".join(pairs)} if pairs else {}

    def take(self, set_cookies: list[str]) -> None:
        for line in set_cookies:
            first, *attributes = (part.strip() for part in line.split(";"))
            name, equals, value = first.partition("=")
            if not equals:
                continue
            path, gone = "/", False
            for attribute in attributes:
                key, _, setting = attribute.partition("=")
                key = key.lower()
                if key == "path" and setting:
                    path = setting
                elif (key == "max-age" and setting.strip().lstrip("-").isdigit() and int(setting) <= 0) or (
                    key == "expires" and "1970" in setting
                ):
                    gone = True
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = (value, path)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    set_cookies: list[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One aiohttp session for every worker: no redirects followed, no cookies kept (each :class:`Browser` keeps
    its own), no default headers beyond what HTTP needs."""

    def __init__(self, issuer: str, connections: int) -> None:
        import aiohttp  # here, so that scripts in the project's venv can import this module for :func:`tree_cpu`

        self.issuer = issuer.rstrip("/")
        self.metadata: dict[str, Any] = {}
        self.requests = 0
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=60),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
        )

    async def close(self) -> None:
        await self.session.close()

    async def send(self, method: str, url: str, *, headers: dict[str, str] | None = None, form: Any = None) -> Answer:
        self.requests += 1
        data = urlencode(form) if form is not None else None
        async with self.session.request(
            method, url, headers={**(FORM if data else {}), **(headers or {})}, data=data, allow_redirects=False
        ) as response:
            body = await response.read()
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.headers.getall("Set-Cookie", []),
                body,
            )

    async def discover(self) -> None:
        for suffix in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            with contextlib.suppress(OSError, ValueError):
                answer = await self.send("GET", self.issuer + suffix)
                if answer.status == 200:
                    self.metadata = answer.json()
                    return
        raise SystemExit(f"loadgen: no authorization server metadata at {self.issuer}/.well-known/…")

    # ------------------------------------------------------------------------------------------ operations

    async def client_credentials(self) -> None:
        answer = await self.send(
            "POST",
            self.metadata["token_endpoint"],
            headers=BASIC,
            form={"grant_type": "client_credentials", "scope": SCOPE},
        )
        _tokens(answer, "client_credentials")

    async def sign_in(self, browser: Browser) -> tuple[dict[str, Any], bool]:
        """One authorization-code flow with PKCE in ``browser``: the token response, and whether a login or consent
        step was shown on the way."""
        verifier = _b64url(secrets.token_bytes(32))
        state = _b64url(secrets.token_bytes(12))
        query = {
            "response_type": "code",
            "client_id": PUBLIC,
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": state,
            "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        url = self.metadata["authorization_endpoint"] + "?" + urlencode(query)
        method, form, interactive = "GET", None, False
        for _ in range(MAX_STEPS):
            answer = await self.send(method, url, headers=browser.header(url), form=form)
            browser.take(answer.set_cookies)
            location = answer.headers.get("location")
            if answer.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                if url.startswith(REDIRECT):
                    break
                interactive = interactive or "/interaction/" in urlsplit(url).path
                if answer.status in (301, 302, 303):
                    method, form = "GET", None
            elif answer.status == 200 and b"<form" in answer.body.lower():
                interactive = True
                method, action, fields = fill_in(answer.body.decode("utf-8", "replace"))
                url = urljoin(url, action) if action else url
                if method == "GET":
                    url, form = f"{url}{'&' if '?' in url else '?'}{urlencode(fields)}", None
                else:
                    form = fields
            else:
                raise FlowFailed(f"authorize step: HTTP {answer.status}")
        else:
            raise FlowFailed(f"no redirect to the client after {MAX_STEPS} requests")
        params = parse_qs(urlsplit(url).query)
        if params.get("state") != [state]:
            raise FlowFailed("state not echoed")
        if "iss" in params and params["iss"][0].rstrip("/") != self.metadata["issuer"].rstrip("/"):
            raise FlowFailed("iss is not the issuer")
        if "code" not in params:
            raise FlowFailed("authorization error: " + ",".join(params.get("error", ["no code"])))
        exchange = {
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": REDIRECT,
            "client_id": PUBLIC,
            "code_verifier": verifier,
        }
        answer = await self.send("POST", self.metadata["token_endpoint"], form=exchange)
        return _tokens(answer, "code exchange", refresh=True), interactive

    async def refresh(self, held: list[str]) -> None:
        form = {"grant_type": "refresh_token", "refresh_token": held[0], "client_id": PUBLIC}
        tokens = _tokens(await self.send("POST", self.metadata["token_endpoint"], form=form), "refresh")
        held[0] = tokens.get("refresh_token") or held[0]

    async def introspect(self, token: str) -> None:
        form = {"token": token, "token_type_hint": "refresh_token"}
        answer = await self.send("POST", self.metadata["introspection_endpoint"], headers=BASIC, form=form)
        if answer.status != 200 or answer.json().get("active") is not True:
            raise FlowFailed(f"introspection: HTTP {answer.status}, not active")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tokens(answer: Answer, step: str, *, refresh: bool = False) -> dict[str, Any]:
    try:
        body = answer.json() if answer.status == 200 else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict) or not body.get("access_token") or (refresh and not body.get("refresh_token")):
        raise FlowFailed(f"{step}: HTTP {answer.status} {answer.body[:120]!r}")
    return body


# ---------------------------------------------------------------------------------------------------- a run


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    relogins: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def failed(self, reason: str) -> None:
        self.errors += 1
        self.reasons[reason[:120]] = self.reasons.get(reason[:120], 0) + 1


async def run(client: Client, scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    workers = args.workers
    browsers = [Browser() for _ in range(workers)]
    held: list[list[str]] = [[""] for _ in range(workers)]
    if scenario in ("sso", "refresh", "introspect"):  # set-up, not measured: every worker signs in once
        signed_in = await asyncio.gather(*(client.sign_in(browser) for browser in browsers), return_exceptions=True)
        for index, outcome in enumerate(signed_in):
            if isinstance(outcome, BaseException):
                raise SystemExit(f"loadgen: {scenario} set-up, signing in failed: {outcome}")
            held[index][0] = outcome[0]["refresh_token"]

    async def operation(index: int) -> bool:
        """One operation; False when it was a relogin (sso only)."""
        if scenario == "cc":
            await client.client_credentials()
        elif scenario == "authcode":
            await client.sign_in(Browser())
        elif scenario == "sso":
            _, interactive = await client.sign_in(browsers[index])
            return not interactive
        elif scenario == "refresh":
            await client.refresh(held[index])
        else:
            await client.introspect(held[index][0])
        return True

    tally = Tally()
    start = time.perf_counter() + args.warmup
    end = start + args.duration
    requests_before: list[int] = []

    async def worker(index: int) -> None:
        while (began := time.perf_counter()) < end:
            try:
                done, reason = await operation(index), ""
            except FlowFailed as exc:
                done, reason = False, str(exc)
            except Exception as exc:  # the connection failed, the server closed it, a timeout
                done, reason = False, type(exc).__name__
            finished = time.perf_counter()
            if began < start or finished > end:
                continue
            if reason:
                tally.failed(reason)
            elif done:
                tally.latencies.append(finished - began)
            else:
                tally.relogins += 1

    async def clock() -> dict[str, float]:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        marks = {
            "wall": time.perf_counter(),
            "own": time.process_time(),
            "server": _server_cpu(args.server_pid),
            "database": _server_cpu(args.database_pid),
        }
        requests_before.append(client.requests)
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        return {
            "wall": time.perf_counter() - marks["wall"],
            "own": time.process_time() - marks["own"],
            "server": _server_cpu(args.server_pid) - marks["server"],
            "database": _server_cpu(args.database_pid) - marks["database"],
            "requests": client.requests - requests_before[0],
        }

    marks, *_ = await asyncio.gather(clock(), *(worker(index) for index in range(workers)))
    latencies = sorted(tally.latencies)
    counted = len(latencies) + tally.errors + tally.relogins
    result: dict[str, Any] = {
        "label": args.label,
        "scenario": scenario,
        "workers": workers,
        "duration_s": args.duration,
        "ops": len(latencies),
        "ops_per_s": round(len(latencies) / args.duration, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1e3, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1e3, 2),
        "errors": tally.errors,
        "http_req_per_op": round(marks["requests"] / max(1, counted), 2),
        "loadgen_cpu": round(marks["own"] / marks["wall"], 3),
    }
    if args.server_pid:
        result["server_cpu"] = round(marks["server"] / marks["wall"], 3)
    if args.database_pid:
        result["database_cpu"] = round(marks["database"] / marks["wall"], 3)
    if scenario == "sso":
        result["relogins"] = tally.relogins
    if tally.reasons:
        result["error_reasons"] = dict(sorted(tally.reasons.items(), key=lambda item: -item[1])[:3])
    return result


def _server_cpu(pid: int) -> float:
    return tree_cpu(pid) if pid else 0.0


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0.0


async def main_async(args: argparse.Namespace) -> list[str]:
    """The JSON lines of the scenarios asked for (or, with ``--get-token`` / ``--refresh-tokens``, what to print)."""
    client = Client(args.issuer, max(args.workers, 1))
    try:
        await client.discover()
        if args.get_token or args.refresh_tokens:  # one browser: one sign-in, then SSO flows
            browser, tokens = Browser(), []
            for _ in range(max(1, args.refresh_tokens)):
                try:
                    tokens.append((await client.sign_in(browser))[0])
                except FlowFailed as exc:
                    raise SystemExit(f"loadgen: signing in failed: {exc}") from None
            return [json.dumps(tokens[0])] if args.get_token else [t["refresh_token"] for t in tokens]
        lines = []
        for scenario in args.scenarios:
            lines.append(json.dumps(await run(client, scenario, args)))
        return lines
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--scenarios", default="cc", help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("-c", "--workers", type=int, default=32, help="concurrent workers (connections)")
    parser.add_argument("-t", "--duration", type=float, default=10, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2, help="seconds run before the measured window")
    parser.add_argument("--server-pid", type=int, default=0, help="for server_cpu: the server's process")
    parser.add_argument(
        "--database-pid", type=int, default=0, help="for database_cpu: the database server's (PostgreSQL's postmaster)"
    )
    parser.add_argument("--label", default="", help="copied into each JSON line")
    parser.add_argument("--out", default="", help="also append each JSON line to this file")
    parser.add_argument("--get-token", action="store_true", help="print one flow's token response and exit")
    parser.add_argument("--refresh-tokens", type=int, default=0, metavar="N", help="print N refresh tokens and exit")
    args = parser.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    try:
        import uvloop
    except ImportError:
        lines = asyncio.run(main_async(args))
    else:
        lines = uvloop.run(main_async(args))
    print("\n".join(lines))
    if args.out and not (args.get_token or args.refresh_tokens):
        with Path(args.out).open("a") as out:
            out.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    main()
