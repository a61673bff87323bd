"""A stand-in device for the diff tests: a TLS server whose offer a "new build" widens (TLS 1.0 and
legacy suites on), and plain ports it opens. Used in-process on loopback by the unit tests, and as
`python -m tests.tls_device ADDRESS PORT [--legacy] [--open PORT]` inside a lab device's namespace
by the lab tests, where it stands beside the device's own daemons."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import signal
import socket
import ssl
import sys
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_certificate(folder: Path, name: str = "device") -> None:
    """A self-signed P-256 certificate and key in `folder` (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


SSH_KEX = ["curve25519-sha256@libssh.org", "ecdh-sha2-nistp256"]
SSH_KEX_WIDENED = [*SSH_KEX, "diffie-hellman-group14-sha256"]


class TlsDevice:
    """Listeners on one address; the TLS one answers every connection with a handshake, the SSH
    one (paramiko's server side) with its banner and algorithm offer."""

    def __init__(self, folder: Path, address: str, port: int = 0, legacy: bool = False) -> None:
        if not (folder / "cert.pem").exists():
            write_certificate(folder)
        self.folder, self.address = folder, address
        self.listeners: list[socket.socket] = []
        self.ctx = self._context(legacy)
        self.port = self._listen(self._handshake, port)

    def _context(self, legacy: bool) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.folder / "cert.pem", self.folder / "key.pem")
        if legacy:
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def enable_tls10(self) -> None:
        self.ctx = self._context(legacy=True)

    def open_ssh(self, port: int = 0) -> int:
        import paramiko

        self.ssh_key = paramiko.Ed25519Key.from_private_key_file(str(self._ssh_key_file()))
        self.ssh_kex = list(SSH_KEX)

        def offer(conn: socket.socket) -> None:
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.ssh_key)
            transport.get_security_options().kex = self.ssh_kex
            with contextlib.suppress(Exception):
                transport.start_server(server=paramiko.ServerInterface())
                transport.accept(5)
            transport.close()

        return self._listen(offer, port)

    def _ssh_key_file(self) -> Path:
        path = self.folder / "ssh_host_ed25519_key"
        if not path.exists():
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
        return path

    def widen_ssh(self) -> None:
        self.ssh_kex = list(SSH_KEX_WIDENED)

    def open_port(self, port: int = 0) -> int:
        """A port that accepts connections and says nothing (what a forgotten debug listener does)."""
        return self._listen(lambda conn: None, port)

    def _handshake(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), self.ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    def _listen(self, handle, port: int) -> int:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.address, port))
        srv.listen(64)
        self.listeners.append(srv)

        def serve(conn: socket.socket) -> None:
            with conn:
                conn.settimeout(10)
                handle(conn)

        def loop() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = srv.accept()
                    threading.Thread(target=serve, args=(conn,), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return srv.getsockname()[1]

    def close(self) -> None:
        for s in self.listeners:
            s.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("address")
    p.add_argument("port", type=int)
    p.add_argument("--legacy", action="store_true", help="TLS 1.0 and legacy suites on")
    p.add_argument("--open", type=int, action="append", default=[], help="also open this silent port")
    p.add_argument("--certs", help="folder of cert.pem and key.pem, made there if missing (default: a fresh one)")
    p.add_argument("--lifetime", type=float, default=600, help="seconds before it stops by itself")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        device = TlsDevice(Path(args.certs or tmp), args.address, args.port, args.legacy)
        for port in args.open:
            device.open_port(port)
        print("ready", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait(args.lifetime)
        device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
