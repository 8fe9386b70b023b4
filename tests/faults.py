"""Fault injection over real connections: a TCP proxy on loopback that a test can cut and restore.

Put it between Pixie and PostgreSQL (or Redis) to make the service "go away" for one app without touching the
real server that other tests share: cutting closes every open connection and refuses new ones until restored.
The upstream may be a Unix socket (an embedded PostgreSQL serves on one): :func:`database_proxy` reads it from the URL.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy.engine import make_url

__all__ = ["TcpProxy", "database_proxy", "tcp_proxy", "via_proxy"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, unix_socket: str | None = None) -> None:
        self.target = (target_host, target_port)
        self.unix_socket = unix_socket
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every connection now and refuse new ones, as a crashed or restarting server would."""
        with self._lock:
            self._cut = True
            for sock in list(self._open):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    client.close()
                    continue
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        if self.unix_socket is None:
            return socket.create_connection(self.target, timeout=5)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.settimeout(5)
        try:
            upstream.connect(self.unix_socket)
        except OSError:
            upstream.close()
            raise
        return upstream

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                for sock in (source, sink):
                    self._open.discard(sock)
                    sock.close()


@contextmanager
def database_proxy(database_url: str) -> Iterator[TcpProxy]:
    """A proxy in front of the PostgreSQL server of ``database_url``: its TCP host and port, or the Unix socket its
    ``host`` query parameter names (libpq's convention: the socket file is ``{dir}/.s.PGSQL.{port}``)."""
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    port = url.port or 5432
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        with tcp_proxy("127.0.0.1", port, unix_socket=f"{socket_dir}/.s.PGSQL.{port}") as proxy:
            yield proxy
    else:
        with tcp_proxy(url.host or "127.0.0.1", port) as proxy:
            yield proxy


@contextmanager
def tcp_proxy(host: str, port: int, *, unix_socket: str | None = None) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port, unix_socket=unix_socket)
    try:
        yield proxy
    finally:
        proxy.close()


def via_proxy(database_url: str, proxy: TcpProxy) -> str:
    """``database_url`` with its host and port replaced by the proxy's (and any Unix socket directory dropped)."""
    url = make_url(database_url)
    url = url.set(host="127.0.0.1", port=proxy.port, query={k: v for k, v in url.query.items() if k != "host"})
    return url.render_as_string(hide_password=False)
