"""Lab PKI: a short-lived lab CA and the device certificates the definitions ask for.

Regenerated on every `lab up` (it takes milliseconds), so lab certificates never expire under
a long-lived checkout; the weak camera's certificate is weak on purpose (RSA-1024, SHA-1).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.model import Certificate


@dataclass(frozen=True)
class CertFiles:
    crt: str
    key: str


def _key(kind: str):
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    bits = {"rsa-1024": 1024, "rsa-2048": 2048}[kind]
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


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
    key = _key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "IoT Lab Root CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
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
    key = _key(spec.key)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.cn)])
    now = dt.datetime.now(dt.UTC)
    # an expired certificate is otherwise sound, so the expiry is the only thing a check can catch
    start = now - dt.timedelta(days=spec.days + 30) if spec.expired else now - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=spec.days))
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.san_dns]
    if spec.san_device_ip:
        sans.append(x509.IPAddress(ipaddress.ip_address(device_ip)))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = hashes.SHA256()
    if spec.issuer == "self":
        cert = builder.issuer_name(subject).sign(key, algorithm)
    else:
        cert = (
            builder.issuer_name(ca_cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            # RFC 5280 profile: strict verifiers (cryptography's, used by sslyze) require both
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, algorithm)
        )
    return _save(folder, spec.name, key, cert)
