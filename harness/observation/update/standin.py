"""The harness standing in for a device's update server, to test the pull channel itself.

The device is configured (by the lab, or by the manufacturer for the test) to fetch updates
from the harness's address. The stand-in presents a certificate the device has no reason to
trust, made in memory for this run, and records what the device does: a device that checks its
server aborts the TLS handshake; one that does not completes it and asks for its image, which is
what a man in the middle needs. Nothing is ever served: every request gets 404, so the device's
software is not touched.

Only connections from the unit under test are served (the scope guard checks each peer); the
socket is bound to the one local address that reaches the unit.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from harness.observation.certificates import issue, name, new_key, validity
from harness.observation.scope import ScopeGuard


@dataclass
class Connection:
    peer: str
    at_s: float
    handshake: str  # "completed" or the TLS error the handshake ended with
    request: str | None = None


@dataclass
class StandInReport:
    listen: str
    certificate_subject: str
    certificate_sha256: str
    seconds: float
    connections: list[Connection] = field(default_factory=list)
    refused_peers: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return asdict(self)


def local_address_towards(guard: ScopeGuard, address: str) -> str:
    """The local address the kernel would use to reach the unit (a UDP connect sends nothing)."""
    ip = str(guard.check(address))
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((ip, 9))
        return s.getsockname()[0]


def _mitm_identity(host: str, folder: Path) -> tuple[Path, Path, x509.Certificate]:
    key = new_key("ec-p256")
    cert = issue(name(host), key, **validity(1), san_ips=[host])
    crt, k = folder / "mitm.crt", folder / "mitm.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return crt, k, cert


def serve_untrusted(guard: ScopeGuard, unit_address: str, port: int, wait_s: float) -> StandInReport:
    """Listen for `wait_s` seconds (or until the unit has shown what it does twice)."""
    host = local_address_towards(guard, unit_address)
    unit_ip = str(guard.check(unit_address))
    with tempfile.TemporaryDirectory(prefix="standin-") as tmp:
        crt, key, cert = _mitm_identity(host, Path(tmp))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
    report = StandInReport(
        listen=f"{host}:{port}", certificate_subject=cert.subject.rfc4514_string(),
        certificate_sha256=cert.fingerprint(hashes.SHA256()).hex(), seconds=0.0,
    )
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((host, port))
    except OSError as e:
        srv.close()
        raise OSError(f"cannot listen on {host}:{port} as the update server: {e.strerror}") from None
    srv.listen(8)
    srv.settimeout(0.2)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < wait_s and len(report.connections) < 2:
            try:
                conn, (peer, *_) = srv.accept()
            except TimeoutError:
                continue
            if peer != unit_ip:  # only the unit under test is answered, not even other lab units
                report.refused_peers.append(peer)
                conn.close()
                continue
            report.connections.append(_handle(ctx, conn, peer, round(time.monotonic() - t0, 3)))
    finally:
        srv.close()
    report.seconds = round(time.monotonic() - t0, 3)
    return report


def _handle(ctx: ssl.SSLContext, conn: socket.socket, peer: str, at: float) -> Connection:
    conn.settimeout(5)
    record = Connection(peer=peer, at_s=at, handshake="completed")
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            try:
                data = tls.recv(2048)
                record.request = data.split(b"\r\n", 1)[0].decode("latin-1")[:200] if data else None
                tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (TimeoutError, OSError):
                pass
    except ssl.SSLError as e:
        record.handshake = f"aborted: {e.reason or e}"
    except (TimeoutError, OSError) as e:
        record.handshake = f"aborted: {e}"
    finally:
        conn.close()
    return record


