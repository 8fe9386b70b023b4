"""``pixie serve --workers N``: uvicorn's supervisor, with a listening socket of its own for each worker.

uvicorn binds one socket and every worker accepts from it. Under keep-alive load that shares the work badly: the
worker whose event loop wakes first accepts every pending connection in one go (libuv accepts until the queue is
empty), so 32 connections opened at once often all went to one worker while the other idled — in 2 of 5 runs of
``wrk -c32`` against ``--workers 2``, which then served 0.6× of what it did when the split was even. Here each worker
listens on a socket of its own, bound to the same address with ``SO_REUSEPORT``, and the kernel spreads new
connections over the sockets by a hash of their addresses.

The supervisor keeps every socket open, and a worker that replaces another (after a crash, or in SIGHUP's rolling
restart) takes over the socket of the one it replaces: connections that arrive meanwhile wait in that socket's
backlog instead of being refused. Linux lets only processes of the same user join a ``SO_REUSEPORT`` group, and
:func:`listen_sockets` refuses a port that anything already holds, so a second server started by mistake on the same
port fails at start-up instead of silently taking a share of the traffic.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys

import click
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

__all__ = ["SocketPerWorker", "bind_listeners", "cannot_listen", "listen_sockets", "run_workers"]

logger = logging.getLogger("uvicorn.error")


def listen_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to ``(host, port)`` with ``SO_REUSEPORT`` (port 0: one free port, the same for all).

    Raises :class:`OSError` when the address is taken, including by another ``SO_REUSEPORT`` group: a probe bound
    without the option must get the address first (it is closed before the group binds).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT does not block
        probe.bind((host, port))
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """The one line a failure to bind reads as, with the option that fixes it:
    ``cannot listen on 127.0.0.1:8000: address already in use (use --port)``."""
    reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        hint = " (use --host)"
    elif exc.errno in (errno.EADDRINUSE, errno.EACCES):
        hint = " (use --port)"
    else:
        hint = ""
    shown = f"[{host}]" if ":" in host else host
    return f"cannot listen on {shown}:{port}: {reason}{hint}"


def bind_listeners(host: str, port: int, workers: int) -> list[socket.socket]:
    """The sockets a server will serve on, bound before anything else happens (migrating the database, printing the
    demo's banner): a taken address then fails at once, in one line, with nothing written. On Linux each worker of
    ``workers`` > 1 gets a socket of its own (:func:`listen_sockets`); otherwise there is one, bound as uvicorn
    binds (``SO_REUSEADDR``, so a port in TIME_WAIT does not block). Raises :class:`click.ClickException`."""
    try:
        if workers > 1 and sys.platform == "linux":
            return listen_sockets(host, port, workers)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        return [sock]
    except OSError as exc:
        raise click.ClickException(cannot_listen(host, port, exc)) from None


def run_workers(config: Config, sockets: list[socket.socket]) -> None:
    """Serve with ``config.workers`` worker processes on ``sockets`` (:func:`bind_listeners`) until SIGINT or
    SIGTERM.

    Only on Linux does each worker get a socket of its own, which ``SO_REUSEPORT`` balances connections over;
    elsewhere (macOS and the BSDs hand every connection to one socket of the group, Windows has no such option) the
    workers share the one socket.
    """
    if len(sockets) != config.workers:
        Multiprocess(config, sockets=sockets).run()
        return
    shown = f"[{config.host}]" if ":" in config.host else config.host
    port = sockets[0].getsockname()[1]
    logger.info("Pixie running on http://%s:%d with %d workers (Press CTRL+C to quit)", shown, port, config.workers)
    SocketPerWorker(config, sockets).run()


class SocketPerWorker(Multiprocess):
    """uvicorn's :class:`Multiprocess` (health checks, restarts, signals), where worker ``i`` serves ``sockets[i]``."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self._sockets = sockets
        self.processes_num = len(sockets)

    def _start(self, index: int) -> Process:
        process = Process(self.config, [self._sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(index) for index in range(len(self._sockets))]

    def keep_subprocess_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return  # stopping: a worker that has exited is not replaced
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung, or already gone
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: a replacement would fail the same way
                logger.error("Worker [%s] failed to start; stopping.", process.pid)
                self.should_exit.set()
                return
            logger.info("Worker [%s] died; starting another on its socket.", process.pid)
            self.processes[index] = self._start(index)

    def restart_all(self) -> None:
        """SIGHUP: replace the workers one at a time, each replacement serving before the worker it replaces stops."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error("Worker [%s] was not ready in time; keeping [%s].", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[index] = new
