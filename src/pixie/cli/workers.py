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

import logging
import socket
import sys

import click
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

__all__ = ["SocketPerWorker", "listen_sockets", "run_workers"]

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


def run_workers(config: Config) -> None:
    """Serve with ``config.workers`` worker processes, a socket each, until SIGINT or SIGTERM.

    Only on Linux, whose ``SO_REUSEPORT`` balances connections over the sockets; elsewhere (macOS and the BSDs hand
    every connection to one socket of the group, Windows has no such option) the workers share uvicorn's socket.
    """
    if sys.platform != "linux":
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    try:
        sockets = listen_sockets(config.host, config.port, config.workers)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
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
