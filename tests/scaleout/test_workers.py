"""``pixie serve --workers 2``: a listening socket per worker (``pixie.cli.workers``).

Each test reads the kernel's own view of the server's sockets (``/proc/net/tcp`` and each worker's file
descriptors), never the server's internals.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from livesupport import PIXIE, free_port
from scaleout.support import Instance, instance_env, running

pytestmark = pytest.mark.postgres

CONNECTIONS = 32
_LISTEN, _ESTABLISHED = "0A", "01"


def _tcp_sockets(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 TCP sockets in ``state`` whose local port is ``port``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
            inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _port(instance: Instance) -> int:
    return int(instance.base.rsplit(":", 1)[1])


def _wait_listening(port: int, count: int, give_up_after: float = 30) -> None:
    """Until ``count`` sockets listen on ``port``: a worker's socket starts listening when that worker is up."""
    end = time.monotonic() + give_up_after
    while len(_tcp_sockets(port, _LISTEN)) != count:
        assert time.monotonic() < end, f"{len(_tcp_sockets(port, _LISTEN))} sockets listen on {port}, not {count}"
        time.sleep(0.05)


def _open_and_ask(port: int, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections, all opened before any request (as a load generator or a proxy's pool does:
    the kernel holds them while the workers accept), then one request on each, answered 200."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(count)]
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    for connection in connections:
        connection.sendall(request)
    for connection in connections:
        head = connection.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 "), head[:200]
    return connections


def _connections_per_worker(port: int, workers: list[int]) -> Counter[int]:
    established = _tcp_sockets(port, _ESTABLISHED)
    return Counter({pid: len(_socket_inodes(pid) & established) for pid in workers})


def test_keep_alive_connections_spread_over_both_workers(scaleout_db: str, workdir: Path) -> None:
    """32 connections opened at once: each worker holds some of them. With one socket shared by every worker (as
    uvicorn binds it) the first worker to wake often accepted all 32, and the other served nothing."""
    with running("spread", scaleout_db, workdir, workers=2) as served:
        workers = served.wait_for_workers(2)
        _wait_listening(_port(served), 2)
        connections = _open_and_ask(_port(served), CONNECTIONS)
        try:
            held = _connections_per_worker(_port(served), workers)
        finally:
            for connection in connections:
                connection.close()
        assert sum(held.values()) == CONNECTIONS, held
        assert all(count > 0 for count in held.values()), f"one worker holds every connection: {held}"
        assert served.stop() == 0, served.log()[-2000:]


def test_a_replacement_worker_serves_the_socket_of_the_one_it_replaces(scaleout_db: str, workdir: Path) -> None:
    """SIGKILL one worker: the supervisor starts another, which takes over the dead one's socket (still two sockets
    listening, never a third), and new connections reach it."""
    with running("replace", scaleout_db, workdir, workers=2) as served:
        port = _port(served)
        first = served.wait_for_workers(2)
        _wait_listening(port, 2)
        listening = _tcp_sockets(port, _LISTEN)
        os.kill(first[0], signal.SIGKILL)
        end = time.monotonic() + 30
        while len(workers := served.wait_for_workers(2)) != 2 or first[0] in workers:
            assert time.monotonic() < end, "the killed worker was not replaced"
            time.sleep(0.1)
        replacement = next(pid for pid in workers if pid not in first)
        _wait_listening(port, 2)
        assert _tcp_sockets(port, _LISTEN) == listening, "the replacement listens on a new socket"
        connections = _open_and_ask(port, CONNECTIONS)
        try:
            held = _connections_per_worker(port, workers)
        finally:
            for connection in connections:
                connection.close()
        assert held[replacement] > 0, held
        assert served.stop() == 0, served.log()[-2000:]


def test_a_second_server_on_a_taken_port_fails_at_start(scaleout_db: str, workdir: Path) -> None:
    """``SO_REUSEPORT`` would let a second server of the same user join the first one's sockets and take a share of
    its traffic unseen; ``pixie serve --workers 2`` refuses a port anything holds, and says so."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):  # a plain listener
        second = subprocess.run(
            [PIXIE, "serve", "--port", str(port), "--workers", "2"],
            env=instance_env(workdir, scaleout_db),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert second.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr, second.stderr[-2000:]
    with running("held", scaleout_db, workdir, workers=2) as served:  # a group of SO_REUSEPORT sockets
        _wait_listening(_port(served), 2)
        again = subprocess.run(
            [PIXIE, "serve", "--port", str(_port(served)), "--workers", "2"],
            env=instance_env(workdir, scaleout_db),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode != 0
        assert "cannot listen on" in again.stderr, again.stderr[-2000:]
        assert len(_tcp_sockets(_port(served), _LISTEN)) == 2, "the second server joined the first one's sockets"
        assert served.stop() == 0, served.log()[-2000:]
