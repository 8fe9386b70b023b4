"""Memory soak of one Pixie worker: resident memory after 100,000 flows, and its growth over the next.

One command (run on purpose, never from ``make test``)::

    .venv/bin/python bench/memory.py                                  # 2 rounds x 100,000 flows, 16 at a time
    .venv/bin/python bench/memory.py --flows 3000 --sample-every 500  # a smoke run

It starts ``pixie serve`` (one process, no ``--workers``) on a fresh SQLite file in a temporary directory, seeded
with the ``pixie`` CLI as ``bench/compare.py`` does, the audit log going to a file and the rate limits raised so one
IP and one client are not throttled. The server is pinned to core 0 and this load generator to core 1 when the
machine has two cores.

A *flow* is the browser flow of a public client over real HTTP on loopback, then what its tokens are used for:

1. ``GET /authorize`` (PKCE S256, fresh ``state``) → the code on the redirect. Each of the ``--concurrency``
   workers is one browser with its own cookie jar: its first flow signs in through the login form (Argon2id) and
   approves the consent page; every later flow rides the SSO session and the remembered consent (one request).
2. ``POST /token`` ``authorization_code`` with the ``code_verifier``.
3. ``POST /token`` ``refresh_token`` (the public client's refresh token rotates).
4. ``POST /introspect`` of the new access token by a confidential client (the resource server's view).

(``--mix sso`` keeps only steps 1-2.) Every response is checked; any failure is counted, reported, and makes the
command exit 1.

The server's resident memory (``VmRSS`` of its process, with ``RssAnon``/``RssFile`` beside it) is sampled every
``--sample-every`` flows and at the end of each round, when no flow is in flight. Output: a progress line per
sample, a summary with pass/fail against the targets, ``bench/out/memory-<stamp>.json`` (samples and summary)
and ``bench/out/memory-<stamp>.svg`` (RSS against flows).

Targets: under 150 MiB after the first round; over the second round RSS grows by at most 2 % or 3 MiB, whichever
is larger (see :func:`verdict` for why that is "does not grow").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pygal

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PIXIE = ROOT / ".venv" / "bin" / "pixie"
REDIRECT = "http://127.0.0.1:9999/cb"
PUBLIC_CLIENT = "bench-public"
RS_CLIENT, RS_SECRET = "bench-rs", "bench-rs-secret-0123456789abcdef"
USERNAME, PASSWORD = "bench-user", "bench-password"
SCOPE = "api:read"
TWO_CORES = (os.cpu_count() or 1) >= 2
MIB = 1024 * 1024
RSS_LIMIT_MIB = 150.0
GROWTH_LIMIT_PCT, GROWTH_LIMIT_MIB = 2.0, 3.0


class FlowError(Exception):
    """One step of a flow got an answer it should not have."""


class TooManyErrors(Exception):
    """More flows failed than ``--max-errors``: the run stops."""


# ---------------------------------------------------------------------------------------------------------- server


def _pin(cores: str) -> list[str]:
    return ["taskset", "-c", cores] if TWO_CORES and shutil.which("taskset") else []


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXIE_")}
    env.update(
        {
            "PIXIE_DATABASE_URL": f"sqlite:///{workdir / 'memory.db'}",
            "PIXIE_SECRET_FILE": str(workdir / "pixie.secret"),
            "PIXIE_AUDIT_LOG": str(workdir / "audit.jsonl"),
            # One IP and one client carry all the load: limits sized for real traffic would throttle it.
            "PIXIE_RATE_LIMIT_TOKEN_CLIENT": "100000000/minute",
            "PIXIE_RATE_LIMIT_TOKEN_IP": "100000000/minute",
            "PIXIE_RATE_LIMIT_AUTHORIZE_IP": "100000000/minute",
            "PIXIE_RATE_LIMIT_AUTHORIZE_PENDING_IP": "100000000/minute",
            "PIXIE_RATE_LIMIT_LOGIN_IP": "100000/minute",
        }
    )
    return env


def _seed(env: dict[str, str]) -> None:
    grants = ["--grant-type", "authorization_code", "--grant-type", "refresh_token"]
    commands = [
        # Its tokens are addressed to the resource server, which may then introspect them (RFC 7662 §4).
        [
            "clients",
            "create",
            PUBLIC_CLIENT,
            "--public",
            "--redirect-uri",
            REDIRECT,
            *grants,
            "--scope",
            SCOPE,
            "--audience",
            RS_CLIENT,
        ],
        # The resource server: a confidential client that only introspects.
        [
            "clients",
            "create",
            RS_CLIENT,
            "--secret",
            RS_SECRET,
            "--redirect-uri",
            REDIRECT,
            "--grant-type",
            "client_credentials",
            "--scope",
            SCOPE,
        ],
    ]
    for command in commands:
        subprocess.run([str(PIXIE), *command], env=env, capture_output=True, check=True)
    subprocess.run(
        [str(PIXIE), "users", "create", USERNAME, "--password-stdin"],
        env=env,
        input=f"{PASSWORD}\n".encode(),
        capture_output=True,
        check=True,
    )


def _wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"pixie serve exited with {process.returncode} before it was up")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.2)
    raise SystemExit(f"not up: {url}")


@contextlib.contextmanager
def server(port: int, keep: Path | None) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A seeded ``pixie serve`` on a fresh SQLite file; yields its issuer, process and working directory."""
    with tempfile.TemporaryDirectory(prefix="pixie-memory-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        env = _env(workdir)
        _seed(env)
        log = (workdir / "server.log").open("wb")
        # exec: the pid we sample is the server itself, not a taskset wrapper.
        process = subprocess.Popen(
            [*_pin("0"), str(PIXIE), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        issuer = f"http://127.0.0.1:{port}"
        try:
            _wait_up(issuer + "/.well-known/oauth-authorization-server", process)
            yield issuer, process, workdir
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


def read_memory(pid: int) -> dict[str, float]:
    """``VmRSS``, ``RssAnon``, ``RssFile``, ``RssShmem``, ``VmHWM`` of ``pid`` in MiB, from ``/proc/<pid>/status``."""
    wanted = {"VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"}
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in wanted:
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values


# ----------------------------------------------------------------------------------------------------------- flows


class _FormParser:
    """The hidden inputs and action of the first ``<form>`` on a login or consent page (our own templates)."""

    _input = re.compile(r"<input\b[^>]*>", re.I)
    _attr = re.compile(r'(\w[\w-]*)="([^"]*)"')
    _action = re.compile(r'<form\b[^>]*\baction="([^"]*)"', re.I)

    @classmethod
    def parse(cls, html: str) -> tuple[str, dict[str, str]]:
        action = cls._action.search(html)
        if action is None:
            raise FlowError("an interaction page without a form")
        fields: dict[str, str] = {}
        for tag in cls._input.findall(html):
            attrs = dict(cls._attr.findall(tag))
            if attrs.get("type") == "hidden" and "name" in attrs:
                fields[attrs["name"]] = _unescape(attrs.get("value", ""))
        return _unescape(action.group(1)), fields


def _unescape(value: str) -> str:
    return value.replace("&amp;", "&").replace("&#34;", '"').replace("&#39;", "'").replace("&lt;", "<")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Counters:
    flows: int = 0
    errors: int = 0
    logins: int = 0
    consents: int = 0
    requests: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.errors += 1
        key = reason[:160]
        self.reasons[key] = self.reasons.get(key, 0) + 1


class Browser:
    """One user agent: a cookie jar (the SSO session) and one connection, running flows one after another."""

    def __init__(self, issuer: str, counters: Counters, mix: str) -> None:
        self.issuer = issuer
        self.counters = counters
        self.mix = mix
        self.http = httpx.AsyncClient(
            base_url=issuer, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), timeout=60
        )
        self.rs_auth = httpx.BasicAuth(RS_CLIENT, RS_SECRET)

    async def close(self) -> None:
        await self.http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.counters.requests += 1
        return await self.http.request(method, url, **kwargs)

    async def flow(self) -> None:
        verifier = _b64url(secrets.token_bytes(32))
        challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(12)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": PUBLIC_CLIENT,
                "redirect_uri": REDIRECT,
                "scope": SCOPE,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        response = await self._send("GET", f"/authorize?{query}")
        for _ in range(6):  # login, consent, and the redirects between them
            location = self._redirect(response, f"{response.request.method} {response.request.url.path}")
            if location.startswith(REDIRECT):
                break
            response = await self._interact(urljoin(self.issuer + "/", location))
        else:
            raise FlowError("no redirect to the client after 6 steps")
        params = parse_qs(urlsplit(location).query)
        if params.get("state") != [state] or params.get("iss") != [self.issuer] or "code" not in params:
            raise FlowError(f"bad authorization response: {location[:200]}")
        tokens = await self._token(
            {
                "grant_type": "authorization_code",
                "code": params["code"][0],
                "redirect_uri": REDIRECT,
                "client_id": PUBLIC_CLIENT,
                "code_verifier": verifier,
            },
            "code",
        )
        if self.mix == "full":
            tokens = await self._token(
                {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT},
                "refresh",
            )
            response = await self._send(
                "POST", "/introspect", data={"token": tokens["access_token"]}, auth=self.rs_auth
            )
            if response.status_code != 200 or response.json().get("active") is not True:
                raise FlowError(f"introspect: {response.status_code} {response.text[:200]}")

    def _redirect(self, response: httpx.Response, step: str) -> str:
        if response.status_code not in (302, 303) or "location" not in response.headers:
            raise FlowError(f"{step}: {response.status_code} {response.text[:200]}")
        return response.headers["location"]

    async def _interact(self, url: str) -> httpx.Response:
        """A login or consent page: fill and post its form (sign in / approve), return the answer to the post."""
        page = await self._send("GET", url)
        if page.status_code != 200:
            raise FlowError(f"GET {urlsplit(url).path}: {page.status_code} {page.text[:200]}")
        action, fields = _FormParser.parse(page.text)
        if 'name="password"' in page.text:
            fields |= {"username": USERNAME, "password": PASSWORD}
            self.counters.logins += 1
        else:
            fields["decision"] = "approve"
            self.counters.consents += 1
        return await self._send("POST", urljoin(url, action), data=fields)

    async def _token(self, form: dict[str, str], step: str) -> dict[str, Any]:
        response = await self._send("POST", "/token", data=form)
        body: dict[str, Any] = (
            response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        )
        if response.status_code != 200 or not body.get("access_token") or not body.get("refresh_token"):
            raise FlowError(f"token ({step}): {response.status_code} {response.text[:200]}")
        if response.headers.get("cache-control") != "no-store":
            raise FlowError(f"token ({step}): no Cache-Control: no-store")
        return body


# ------------------------------------------------------------------------------------------------------- the soak


@dataclass
class Sample:
    flows: int
    seconds: float
    rss_mib: float
    anon_mib: float
    file_mib: float
    shmem_mib: float
    hwm_mib: float
    errors: int
    db_mib: float
    wal_mib: float


class Soak:
    def __init__(self, issuer: str, pid: int, workdir: Path, args: argparse.Namespace) -> None:
        self.issuer, self.pid, self.workdir, self.args = issuer, pid, workdir, args
        self.counters = Counters()
        self.samples: list[Sample] = []
        self.started = time.monotonic()
        self.browsers: list[Browser] = []

    def sample(self) -> Sample:
        memory = read_memory(self.pid)
        db, wal = (self.workdir / "memory.db", self.workdir / "memory.db-wal")
        sample = Sample(
            flows=self.counters.flows,
            seconds=round(time.monotonic() - self.started, 2),
            rss_mib=round(memory["VmRSS"], 2),
            anon_mib=round(memory.get("RssAnon", 0.0), 2),
            file_mib=round(memory.get("RssFile", 0.0), 2),
            shmem_mib=round(memory.get("RssShmem", 0.0), 2),
            hwm_mib=round(memory["VmHWM"], 2),
            errors=self.counters.errors,
            db_mib=round(db.stat().st_size / MIB if db.exists() else 0.0, 1),
            wal_mib=round(wal.stat().st_size / MIB if wal.exists() else 0.0, 1),
        )
        self.samples.append(sample)
        rate = sample.flows / sample.seconds if sample.seconds else 0.0
        print(
            f"{sample.flows:>9,} flows  {sample.seconds:>7.1f} s  {rate:>6.0f} flows/s  RSS {sample.rss_mib:7.2f} MiB"
            f" (anon {sample.anon_mib:.1f}, file {sample.file_mib:.1f}, shmem {sample.shmem_mib:.1f})"
            f"  db {sample.db_mib:.0f} + wal {sample.wal_mib:.0f} MiB"
            f"  errors {sample.errors}",
            flush=True,
        )
        return sample

    async def _worker(self, browser: Browser, goal: int, claimed: list[int]) -> None:
        while claimed[0] < goal:
            claimed[0] += 1
            try:
                await browser.flow()
            except (FlowError, httpx.HTTPError, ValueError, KeyError) as exc:
                self.counters.fail(f"{type(exc).__name__}: {exc}")
            self.counters.flows += 1
            if self.counters.flows % self.args.sample_every == 0 and self.counters.flows < goal:
                self.sample()
            if self.counters.errors > self.args.max_errors:
                raise TooManyErrors(f"stopping: {self.counters.errors} flow errors: {self.counters.reasons}")

    async def run(self) -> None:
        self.browsers = [Browser(self.issuer, self.counters, self.args.mix) for _ in range(self.args.concurrency)]
        self.sample()  # idle, seeded, before any flow
        try:
            for round_number in range(1, self.args.rounds + 1):
                goal = round_number * self.args.flows
                claimed = [self.counters.flows]
                await asyncio.gather(*(self._worker(b, goal, claimed) for b in self.browsers))
                print(f"-- end of round {round_number} (no flow in flight)", flush=True)
                self.sample()
        finally:
            for browser in self.browsers:
                await browser.close()


# -------------------------------------------------------------------------------------------------------- results


def _at(samples: list[Sample], flows: int) -> Sample:
    return next(s for s in reversed(samples) if s.flows == flows)


def verdict(samples: list[Sample], args: argparse.Namespace, elapsed: float, counters: Counters) -> dict[str, Any]:
    """The targets (under 150 MiB after the first round, no growth over the second), and pass/fail.

    "Does not grow" over the second round: RSS at its end is at most max(2 %, 3 MiB) above RSS at the end of the
    first. A real leak grows with the number of flows (a per-flow leak of even 30 bytes is 3 MiB per 100,000),
    while a steady heap still moves by a few MiB as CPython's arenas, SQLite's page cache and the allocator's free
    lists settle: a band of that size tells the two apart without failing on noise.
    """
    warm = next((s for s in samples if s.flows >= args.sample_every), samples[0])
    first = _at(samples, args.flows)
    last = _at(samples, args.flows * args.rounds)
    result: dict[str, Any] = {
        "rss_idle_mib": samples[0].rss_mib,
        "rss_after_warmup_mib": warm.rss_mib,
        "warmup_flows": warm.flows,
        "rss_after_round1_mib": first.rss_mib,
        "rss_after_last_round_mib": last.rss_mib,
        # VmHWM: the high-water mark, reached while the browsers sign in at once (Argon2id, 64 MiB each).
        "peak_rss_mib": max(s.hwm_mib for s in samples),
        "flows": counters.flows,
        "errors": counters.errors,
        "error_reasons": counters.reasons,
        "logins": counters.logins,
        "consents": counters.consents,
        "http_requests": counters.requests,
        "seconds": round(elapsed, 1),
        "flows_per_s": round(counters.flows / elapsed, 1),
        # After the warm-up sample: without the first flows' Argon2id sign-ins.
        "flows_per_s_after_warmup": round((last.flows - warm.flows) / max(last.seconds - warm.seconds, 1e-9), 1),
        "requests_per_s": round(counters.requests / elapsed, 1),
        "under_150_mib": first.rss_mib < RSS_LIMIT_MIB,
    }
    if args.rounds >= 2:
        growth = last.rss_mib - first.rss_mib
        allowed = max(GROWTH_LIMIT_MIB, first.rss_mib * GROWTH_LIMIT_PCT / 100)
        # The slope over the later rounds, least squares over every sample after round 1: a trend, not two points.
        later = [s for s in samples if s.flows >= args.flows]
        n = len(later)
        mean_x = sum(s.flows for s in later) / n
        mean_y = sum(s.rss_mib for s in later) / n
        var = sum((s.flows - mean_x) ** 2 for s in later)
        slope = sum((s.flows - mean_x) * (s.rss_mib - mean_y) for s in later) / var if var else 0.0
        result |= {
            "growth_after_round1_mib": round(growth, 2),
            "growth_after_round1_pct": round(100 * growth / first.rss_mib, 2),
            # issue 27's own bar, stricter than the verdict's allowance for a sample's noise
            "growth_under_1_pct": 100 * growth / first.rss_mib < 1.0,
            "anon_growth_after_round1_mib": round(last.anon_mib - first.anon_mib, 2),
            "file_growth_after_round1_mib": round(last.file_mib - first.file_mib, 2),
            "wal_mib_at_end": last.wal_mib,
            "growth_allowed_mib": round(allowed, 2),
            "slope_kib_per_1000_flows": round(slope * 1024 * 1000, 2),
            "does_not_grow": growth <= allowed,
        }
    result["passed"] = counters.errors == 0 and result["under_150_mib"] and result.get("does_not_grow", True)
    return result


def _chart(samples: list[Sample], title: str) -> str:
    chart = pygal.XY(
        title=title,
        x_title="flows",
        y_title="MiB",
        show_dots=True,
        dots_size=2,
        stroke=True,
        range=(0, max(RSS_LIMIT_MIB, max(s.rss_mib for s in samples)) * 1.1),
        legend_at_bottom=True,
        width=900,
        height=450,
        explicit_size=True,
    )
    chart.add("VmRSS", [(s.flows, s.rss_mib) for s in samples])
    chart.add("RssAnon", [(s.flows, s.anon_mib) for s in samples])
    chart.add("RssFile", [(s.flows, s.file_mib) for s in samples])
    chart.add(
        f"target {RSS_LIMIT_MIB:g} MiB", [(0, RSS_LIMIT_MIB), (samples[-1].flows, RSS_LIMIT_MIB)], show_dots=False
    )
    return str(chart.render(is_unicode=True))


def _machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cores": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "commit": commit.stdout.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=100_000, help="flows per round (default 100,000)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16, help="browsers running flows at once")
    parser.add_argument("--sample-every", type=int, default=5_000, help="flows between RSS samples")
    parser.add_argument("--mix", choices=["full", "sso"], default="full", help="sso: authorize + code exchange only")
    parser.add_argument("--port", type=int, default=3190)
    parser.add_argument("--max-errors", type=int, default=50, help="stop early after this many failed flows")
    parser.add_argument("--keep-dir", type=Path, help="run in this directory and keep the database and logs")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/out/memory-*")
    args = parser.parse_args()
    if args.flows < args.sample_every:
        args.sample_every = args.flows
    if TWO_CORES:
        os.sched_setaffinity(0, {1})  # the load generator on core 1, the server on core 0
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with server(args.port, args.keep_dir) as (issuer, process, workdir):
        print(
            f"pixie serve pid {process.pid} at {issuer}; {args.rounds} x {args.flows:,} flows ({args.mix} mix), "
            f"{args.concurrency} browsers",
            flush=True,
        )
        soak = Soak(issuer, process.pid, workdir, args)
        started = time.monotonic()
        try:
            asyncio.run(soak.run())
        except TooManyErrors as exc:
            print(f"FAIL: {exc}", file=sys.stderr)
            sys.exit(1)
        elapsed = time.monotonic() - started
        if process.poll() is not None:
            raise SystemExit(f"pixie serve died (exit {process.returncode})")
    result = verdict(soak.samples, args, elapsed, soak.counters)
    summary = {
        "stamp": stamp,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": _machine(),
        "summary": result,
        "samples": [asdict(s) for s in soak.samples],
    }
    print(json.dumps(result, indent=2))
    if not args.no_record:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"memory-{stamp}.json").write_text(json.dumps(summary, indent=2) + "\n")
        title = (
            f"Pixie serve RSS, {args.rounds} x {args.flows:,} flows ({args.mix}), commit {summary['machine']['commit']}"
        )
        (OUT / f"memory-{stamp}.svg").write_text(_chart(soak.samples, title))
        print(f"wrote bench/out/memory-{stamp}.json and .svg")
    if result["errors"]:
        print(f"FAIL: {result['errors']} flow errors: {result['error_reasons']}", file=sys.stderr)
        sys.exit(1)
    print("PASS" if result["passed"] else "FAIL: memory target missed")
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
