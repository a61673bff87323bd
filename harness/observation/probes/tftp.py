"""Whether a TFTP server answers a client that holds no credential, through tftpy.

TFTP (RFC 1350) has no authentication at all: a server that answers a read request, even with
"file not found", processes requests from anyone, so anyone who guesses a name fetches the
file (and, where writes are enabled, replaces it). The probe asks for a random name nobody
serves, so nothing real is downloaded. A DATA answer is cut at MAX_BYTES by the packet hook.
The request goes through the scope guard's slot (scope, budget). tftpy's sockets are
unconnected, so the audit backstop checks each sendto. tftpy's per-packet timeout with one
retry bounds silence; the packet hook bounds a transfer by bytes and by the exchange deadline.
"""

from __future__ import annotations

import io
import logging
import secrets
import time
from dataclasses import dataclass

from harness.observation.scope import ScopeGuard, exchange_deadline

MAX_BYTES = 64 * 1024


class _Enough(Exception):
    """Raised by the packet hook once MAX_BYTES of a file arrived, or the exchange's deadline
    passed (a server trickling DATA packets each just inside tftpy's per-packet timeout): the
    answer is proven either way."""


@dataclass
class TftpAnswer:
    outcome: str  # "answered" (an error packet or data), "silent", "closed"
    detail: str
    requested: str = ""


def ask(guard: ScopeGuard, address: str, port: int, timeout: float) -> TftpAnswer:
    import tftpy

    logging.getLogger("tftpy").setLevel(logging.CRITICAL)  # its own account of every packet
    name = f"iot-label-harness-{secrets.token_hex(6)}"
    received = 0
    said: list[str] = []  # the TFTP packets the server sent (ERR, DAT, OACK): garbage never gets here

    def hook(packet) -> None:  # called for every packet tftpy decoded, error packets included
        nonlocal received
        kind = type(packet).__name__.removeprefix("TftpPacket")
        if kind == "ERR":
            message = getattr(packet, "errmsg", b"") or b""
            message = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
            kind = f"ERR {getattr(packet, 'errorcode', '?')} {message!r}"
        said.append(kind)
        received += len(getattr(packet, "data", b""))
        if received >= MAX_BYTES or time.monotonic() - started > deadline:
            raise _Enough

    started = time.monotonic()
    deadline = exchange_deadline(timeout)
    with guard.slot(address, port, timeout) as ip:
        client = tftpy.TftpClient(ip, port)
        try:
            client.download(name, io.BytesIO(), packethook=hook, timeout=timeout, retries=1)
        except _Enough:
            return TftpAnswer("answered", f"served {received} bytes for a name nobody serves (cut after "
                              f"{time.monotonic() - started:.1f}s)", name)
        except tftpy.TftpTimeout:
            return TftpAnswer("silent", f"no TFTP answer on udp/{port} within the timeout", name)
        except tftpy.TftpException as e:
            if not said:  # tftpy could not decode it: an answer, but not a TFTP one
                return TftpAnswer("silent", f"udp/{port} answered something that is not TFTP ({e})", name)
            return TftpAnswer("answered", f"answered a read request from a client without credentials with "
                              f"{', '.join(said[:3])}", name)
        except ConnectionRefusedError:
            return TftpAnswer("closed", f"udp/{port} is closed (port unreachable)", name)
        except OSError as e:
            return TftpAnswer("silent", f"udp/{port}: {e}", name)
    return TftpAnswer("answered", f"served a file for a name nobody serves ({received} bytes)", name)
