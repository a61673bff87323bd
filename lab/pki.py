"""Lab PKI: a short-lived lab CA and the device certificates the definitions ask for.

Regenerated on every `lab up` (it takes milliseconds), so lab certificates never expire under
a long-lived checkout; the weak camera's certificate is weak on purpose (RSA-1024, SHA-1).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.observation.certificates import issue, name, new_key, validity
from lab.model import Certificate


@dataclass(frozen=True)
class CertFiles:
    crt: str
    key: str


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _save(folder: Path, name: str, key, cert: x509.Certificate) -> CertFiles:
    crt, keyp = folder / f"{name}.crt", folder / f"{name}.key"
    _write(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # readable by the daemons' own users (www-data, mosquitto) after they drop root: lab-only keys
    _write(keyp, pem, 0o644)
    return CertFiles(str(crt), str(keyp))


def make_ca(folder: Path) -> tuple[CertFiles, object, x509.Certificate]:
    key = new_key("ec-p256")
    cert = issue(name("IoT Lab Root CA"), key, **validity(30), ca=True, usage="ca", ski=True)
    return _save(folder, "ca", key, cert), key, cert


def _legacy_self_signed(folder: Path, spec: Certificate) -> CertFiles:
    """SHA-1 signatures: `cryptography` refuses to make them (rightly), so the weak device's
    certificate comes from the openssl command line, as a cheap camera's firmware build would."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / f"{spec.name}.crt", folder / f"{spec.name}.key"
    bits = spec.key.split("-")[1]
    argv = ["openssl", "req", "-x509", "-newkey", f"rsa:{bits}", "-nodes", "-sha1", "-days", str(spec.days),
            "-subj", f"/CN={spec.cn}", "-keyout", str(key), "-out", str(crt)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"openssl could not make the legacy certificate: {p.stderr.strip()}")
    os.chmod(key, 0o644)
    os.chmod(crt, 0o644)
    return CertFiles(str(crt), str(key))


def make_cert(
    folder: Path, spec: Certificate, device_ip: str, ca_key, ca_cert: x509.Certificate
) -> CertFiles:
    if spec.hash == "sha1":
        if spec.issuer != "self" or not spec.key.startswith("rsa"):
            raise ValueError(f"certificate {spec.name}: SHA-1 is only supported for self-signed RSA")
        return _legacy_self_signed(folder, spec)
    key = new_key(spec.key)
    # an expired certificate is otherwise sound, so the expiry is the only thing a check can catch
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=spec.days + 30) if spec.expired else None
    sans = {"san_dns": spec.san_dns, "san_ips": [device_ip] if spec.san_device_ip else []}
    if spec.issuer == "self":
        cert = issue(name(spec.cn), key, **validity(spec.days, start), **sans)
    else:  # RFC 5280 profile: strict verifiers (cryptography's, used by sslyze) require SKI and AKI
        cert = issue(name(spec.cn), key, issuer=(ca_cert.subject, ca_key), **validity(spec.days, start), ca=False,
                     usage="signature", eku=["server"], aki=True, ski=True, **sans)
    return _save(folder, spec.name, key, cert)
