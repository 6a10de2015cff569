"""A loopback TCP gate in front of a real service: forward, refuse or black-hole connections."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

from tests.support.servers import free_port

Mode = Literal["forward", "refuse", "blackhole"]


class TcpGate:
    """``forward``: relay to the target; ``refuse``: accept and close at once; ``blackhole``:
    accept and never answer (as a host that drops packets). ``accepted`` counts attempts."""

    def __init__(self, target: tuple[str, int], mode: Mode = "forward") -> None:
        self.target = target
        self.mode: Mode = mode
        self.port = free_port()
        self.accepted = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(client)
            if self.mode == "refuse":
                self._drop(client)
            elif self.mode == "forward":
                self._relay(client)

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._drop(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._conns.append(upstream)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _drop(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def cut(self, mode: Mode = "blackhole") -> None:
        """Close every relayed connection; new ones get ``mode``."""
        self.mode = mode
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            self._drop(sock)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            self._drop(sock)
            sock.close()
