"""The PostgreSQL server on this machine, reached through a port of its own
that refuses connections until ``after`` seconds have passed: a database
still starting (after a reboot) when Rasa starts."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

UPSTREAM = ("127.0.0.1", 5432)


class LateDatabase:
    def __init__(self, after: float) -> None:
        self.after = after
        with socket.socket() as probe:  # a free port, listened on only later
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> LateDatabase:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        if self._stop.wait(self.after):
            return
        with socket.create_server(("127.0.0.1", self.port)) as listener:
            listener.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(UPSTREAM)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
