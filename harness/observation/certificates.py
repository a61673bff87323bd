"""The one place certificates are made: the lab's PKI (its CA, device and firmware-signing
certificates), and the identities the harness makes for one run (a rogue CA copying the
manufacturer's names, a self-signed signer, a man-in-the-middle update server).

Every certificate states its profile explicitly (CA or end entity, key usage, extended key usage,
key identifiers), because the verifiers they are fed to disagree on what they demand: sslyze's
strict chain builder wants SKI/AKI, SWUpdate checks the S/MIME purpose by default.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyKind = Literal["ec-p256", "rsa-1024", "rsa-2048"]
Usage = Literal["ca", "signature"]
EKU = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "smime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
       "code": ExtendedKeyUsageOID.CODE_SIGNING}


def new_key(kind: KeyKind = "ec-p256"):
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size={"rsa-1024": 1024, "rsa-2048": 2048}[kind])


def name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    subject: x509.Name,
    key,
    *,
    issuer: tuple[x509.Name, object] | None = None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool | None = None,
    usage: Usage | None = None,
    eku: Sequence[str] = (),
    san_dns: Sequence[str] = (),
    san_ips: Sequence[str] = (),
    ski: bool = False,
    aki: bool = False,
) -> x509.Certificate:
    """A certificate for `key`'s public half, signed by `issuer` (name, private key) or by `key`
    itself. `ca` None leaves BasicConstraints out (a bare self-signed server identity)."""
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    b = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if usage == "ca":  # keyCertSign, cRLSign
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    elif usage == "signature":  # digitalSignature
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([EKU[e] for e in eku]), critical=False)
    sans = [x509.DNSName(n) for n in san_dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in san_ips]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if aki:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def validity(days: float, start: dt.datetime | None = None) -> dict[str, dt.datetime]:
    """not_before/not_after keywords: from `start` (default five minutes ago) for `days`."""
    begin = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return {"not_before": begin, "not_after": begin + dt.timedelta(days=days)}
