"""The public key a TLS service presents, so units of one model can be compared: a key shared
by every unit is a class-wide secret (ETSI EN 303 645 5.4-4). Any protocol version and cipher
is accepted here; judging them is the TLS checks' job."""

from __future__ import annotations

import hashlib
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.observation.probes.login import Unreachable
from harness.observation.probes.tls import probing_context
from harness.observation.scope import ScopeGuard


def tls_public_key(guard: ScopeGuard, address: str, port: int, timeout: float = 5.0) -> dict[str, str]:
    ctx = probing_context()  # a weak legacy device must still show its key
    try:
        with guard.tcp(address, port, timeout) as sock, ctx.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as e:
        raise Unreachable(f"TLS handshake with {address}:{port} failed: {e}") from None
    if not der:
        raise Unreachable(f"{address}:{port} presented no certificate")
    cert = x509.load_der_x509_certificate(der)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "spki_sha256": hashlib.sha256(spki).hexdigest(),
        "subject": cert.subject.rfc4514_string(),
        "certificate_sha256": hashlib.sha256(der).hexdigest(),
    }
