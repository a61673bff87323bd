"""The SSH server's own algorithm offer: its KEXINIT, read before any key exchange.

Written by hand on purpose, and kept to the unencrypted start of RFC 4253 (version exchange,
one binary packet): paramiko negotiates and keeps only what it agreed on, or gives up before
exposing anything when nothing is common (a legacy-only server), yet the offer is exactly what
an algorithm audit judges. The name-lists are decoded with paramiko's `Message`.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import asdict, dataclass

import paramiko

from harness.observation.probes.login import Unreachable
from harness.observation.scope import ScopeGuard

CLIENT_BANNER = b"SSH-2.0-IoTLabelHarness_audit\r\n"
MSG_KEXINIT = 20
MAX_PRE_BANNER_LINES = 20  # RFC 4253 §4.2 lets a server send other lines before its version
MAX_PACKET = 35000  # RFC 4253 §6.1: implementations must handle packets of 35000 bytes


class SshOfferUnavailable(Unreachable):
    """No KEXINIT could be read: closed port, silence, or something that is not SSH."""


@dataclass(frozen=True)
class SshOffer:
    banner: str
    kex: list[str]
    host_key: list[str]
    cipher: list[str]
    mac: list[str]
    compression: list[str]

    def as_dict(self) -> dict:
        return asdict(self)

    def by_category(self) -> dict[str, list[str]]:
        return {"kex": self.kex, "host_key": self.host_key, "cipher": self.cipher, "mac": self.mac}


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SshOfferUnavailable("the server closed the connection before sending its algorithm offer")
        buf += chunk
    return buf


def _read_banner(sock: socket.socket, deadline: float) -> str:
    first = b""
    for _ in range(MAX_PRE_BANNER_LINES):
        line = b""
        while not line.endswith(b"\n"):
            try:
                line += _recv_exact(sock, 1, deadline)
            except SshOfferUnavailable:
                if first or line:
                    raise SshOfferUnavailable(
                        f"not an SSH server: no SSH version line, it sent {(first or line)[:60]!r} and closed"
                    ) from None
                raise
            if len(line) > 255:
                raise SshOfferUnavailable(f"not an SSH server: no SSH version line, it sent {line[:60]!r}…")
        first = first or line
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("SSH-"):
            return text
    raise SshOfferUnavailable(f"not an SSH server: no SSH version line within the first {MAX_PRE_BANNER_LINES} lines")


def _merge(a: list[str], b: list[str]) -> list[str]:
    return a + [x for x in b if x not in a]


def read_offer(guard: ScopeGuard, address: str, port: int, timeout: float = 5.0) -> SshOffer:
    """Connect, exchange versions and decode the server's KEXINIT. Bounded by `timeout` overall."""
    deadline = time.monotonic() + timeout
    try:
        with guard.tcp(address, port, timeout) as sock:
            banner = _read_banner(sock, deadline)
            if not banner.startswith(("SSH-2.0-", "SSH-1.99-")):
                raise SshOfferUnavailable(f"server speaks an SSH version this audit cannot judge: {banner!r}")
            sock.sendall(CLIENT_BANNER)
            length, padding = struct.unpack(">IB", _recv_exact(sock, 5, deadline))
            if not 12 <= length <= MAX_PACKET or padding >= length:
                raise SshOfferUnavailable(f"malformed first SSH packet (length {length}, padding {padding})")
            payload = _recv_exact(sock, length - 1, deadline)[: length - 1 - padding]
    except TimeoutError:
        raise SshOfferUnavailable(f"no complete SSH banner and algorithm offer within {timeout:g}s") from None
    except OSError as e:
        raise SshOfferUnavailable(f"cannot read the SSH offer: {e.strerror or e}") from None
    if not payload or payload[0] != MSG_KEXINIT:
        raise SshOfferUnavailable(f"first SSH packet is message {payload[:1].hex() or 'empty'}, not KEXINIT")
    m = paramiko.Message(payload[17:])  # message type and 16-byte cookie
    try:
        lists = [m.get_list() for _ in range(10)]
    except Exception as e:  # paramiko raises struct/index errors on truncated lists
        raise SshOfferUnavailable(f"KEXINIT could not be decoded: {e}") from None
    kex, host_key, enc_cs, enc_sc, mac_cs, mac_sc, comp_cs, comp_sc = lists[:8]
    return SshOffer(
        banner=banner,
        kex=kex,
        host_key=host_key,
        cipher=_merge(enc_sc, enc_cs),
        mac=_merge(mac_sc, mac_cs),
        compression=_merge(comp_sc, comp_cs),
    )
