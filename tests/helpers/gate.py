"""A port of its own in front of a server on this machine (PostgreSQL,
Redis): open, it passes connections through; shut, it refuses new ones and
cuts those it carries, as a server that stopped or is still starting would
look to its clients."""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class Gate:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        with socket.socket() as probe:  # a free port, listened on only while open
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._lock = threading.Lock()
        self._carried: set[socket.socket] = set()
        self._serving: threading.Event | None = None
        self._timer: threading.Timer | None = None

    def open(self) -> None:
        with self._lock:
            if self._serving is not None:
                return
            self._serving = threading.Event()
            listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._serve, args=(listener, self._serving), daemon=True).start()

    def open_after(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self.open)
        self._timer.start()

    def shut(self) -> None:
        with self._lock:
            if self._serving is not None:
                self._serving.set()
                self._serving = None
            carried, self._carried = self._carried, set()
        for end in carried:
            _close(end)

    def __enter__(self) -> Gate:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.shut()

    def _serve(self, listener: socket.socket, stop: threading.Event) -> None:
        with listener:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(self.upstream)
                with self._lock:
                    self._carried |= {client, upstream}
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._carried -= {source, sink}
            _close(source)
            _close(sink)


def _close(end: socket.socket) -> None:
    try:
        end.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    end.close()
