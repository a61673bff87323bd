"""A scripted TCP server on a loopback address, for probes facing misbehaving devices: each
client connection is handed to `script(conn)` (optionally inside TLS), one at a time."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable


def serve(address: str, script: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None,
          lifetime_s: float = 60) -> int:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, 0))
    srv.listen(4)
    srv.settimeout(0.2)

    def loop():
        deadline = time.monotonic() + lifetime_s
        while time.monotonic() < deadline:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError, ssl.SSLError):
                conn.settimeout(15)
                if tls:
                    conn = tls.wrap_socket(conn, server_side=True)
                with conn:
                    script(conn)
        srv.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]
