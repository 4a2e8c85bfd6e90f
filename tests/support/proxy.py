"""A TCP proxy owned by a test, to cut the service off from PostgreSQL on demand.

The shared PostgreSQL server is never stopped: the proxy refuses new connections,
black-holes them (accepts, never answers), and drops the ones it carries.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from enum import Enum
from typing import Self


class Mode(Enum):
    """What the proxy does with connections."""

    FORWARD = "forward"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"


class TcpProxy:
    """Listens on 127.0.0.1:<port> and forwards to a target, in a background thread."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._mode = Mode.FORWARD
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._close_all()
        self._selector.close()
        self._listener.close()

    def set_mode(self, mode: Mode) -> None:
        """Switch modes; leaving FORWARD drops every carried connection."""
        with self._lock:
            self._mode = mode
            if mode is not Mode.FORWARD:
                self._close_pairs()

    def _close_pairs(self) -> None:
        for sock in list(self._pairs):
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(sock)
            sock.close()
        self._pairs.clear()

    def _close_all(self) -> None:
        with self._lock:
            self._close_pairs()
            for sock in self._held:
                sock.close()
            self._held.clear()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._mode is Mode.REFUSE:
            # Linger 0: close() sends RST, as a refused connection looks to the client.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if self._mode is Mode.BLACKHOLE:
            self._held.append(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)
        self._pairs[client] = upstream
        self._pairs[upstream] = client

    def _pump(self, sock: socket.socket) -> None:
        peer = self._pairs.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(65536)
            if data:
                peer.setblocking(True)
                peer.sendall(data)
                peer.setblocking(False)
                return
        except OSError:
            pass
        for closing in (sock, peer):
            self._pairs.pop(closing, None)
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(closing)
            closing.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                with self._lock:
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._pump(key.fileobj)  # type: ignore[arg-type]


class StallingProxy(TcpProxy):
    """A TcpProxy that can also stall: carried connections stay open but go silent.

    This is the network partition the plain BLACKHOLE mode does not show: the
    service's pooled connections look healthy, and a query sent on one is never
    answered, so only the client-side command timeout can end the wait.
    """

    def stall(self, *, forward_new: bool = False) -> None:
        """Stop moving bytes on open connections; accept and ignore new ones.

        `forward_new`: new connections are carried (a failover whose old connections
        went silent while the new primary accepts).
        """
        with self._lock:
            self._mode = Mode.FORWARD if forward_new else Mode.BLACKHOLE
            for sock in list(self._pairs):
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(sock)

    def heal(self) -> None:
        """Drop the stalled connections (as a peer timing out would), then forward again."""
        self._close_all()
        with self._lock:
            self._mode = Mode.FORWARD
