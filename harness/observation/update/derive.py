"""The malicious images an update channel must refuse, derived from the manufacturer's genuine
image the way an attacker would make them. Each carries a line saying how it was made.

The tampered payload is chosen so that acceptance shows in what the device reports: the
attacker's content ends up in the payload the device reads its version from (the profile's
`update.tamper_payload`, by default the first payload), so a device that installs it says so.
Attacker keys (rogue CA, self-signed signer) are made in memory for one run and never written.
The derivation knows no format: it works on any `SignedImage` (a .swu, a vendor's signed manifest,
a RAUC bundle, a raw image whose signature travels beside it as `detached`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from harness.observation.certificates import issue, validity
from harness.observation.update.image import SignedImage, detached_part
from harness.observation.update.swu import cms_sign

CASES = (
    "payload-byte-flipped",
    "payload-changed-hash-updated",
    "signature-removed",
    "rogue-ca-same-names",
    "self-signed-signer",
    "expired-signer",
    "truncated",
)


@dataclass(frozen=True)
class DerivedImage:
    case: str
    data: bytes
    how: str
    detached: bytes | None = None  # sent beside the image (a raw image's signature), when the format has one

    @classmethod
    def of(cls, case: str, image: SignedImage, how: str) -> DerivedImage:
        return cls(case, image.to_bytes(), how, detached_part(image))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class SignerMaterial:
    certificate: x509.Certificate
    key: object


def _signer_cert(genuine: SignedImage) -> x509.Certificate | None:
    from cryptography.hazmat.primitives.serialization import pkcs7

    if genuine.signature is None:
        return None
    try:
        sig = genuine.signature
        certs = (pkcs7.load_pem_pkcs7_certificates(sig) if sig.lstrip().startswith(b"-----BEGIN")
                 else pkcs7.load_der_pkcs7_certificates(sig))
    except ValueError:
        return None
    return certs[0] if certs else None


def _marked(payload: bytes, case: str) -> bytes:
    return payload.rstrip(b"\n") + f'\nBUILD_ID="attacker-{case}"\n'.encode()


def _rehash(image: SignedImage, name: str, data: bytes) -> SignedImage:
    old = image.signed_hashes.get(name)
    out = image.replace(name, data)
    if old:
        out = out.with_description(out.description.replace(old, hashlib.sha256(data).hexdigest()))
    return out


def _cert(subject: x509.Name, issuer: x509.Name, key, signing_key, ca: bool, start: dt.datetime,
          days: int) -> x509.Certificate:
    """An attacker's certificate: a CA, or a signer whose purposes cover S/MIME and code signing."""
    return issue(subject, key, issuer=(issuer, signing_key), **validity(days, start), ca=ca,
                 eku=() if ca else ("smime", "code"))


def derive(genuine: SignedImage, tamper_payload: str | None, expired: SignerMaterial | None) -> list[DerivedImage]:
    """Every case of CASES that can be made from this image; `expired` is an expired signer
    chaining to the manufacturer's CA (only the manufacturer can provide one)."""
    desc, sig_name = genuine.descriptor_name, genuine.signature_name
    name = tamper_payload or genuine.payload_names[0]
    payload = genuine.get(name)
    if payload is None:
        raise ValueError(f"the genuine image has no payload {name!r}; payloads: {genuine.payload_names}")
    out: list[DerivedImage] = []

    # one byte flipped, nothing else touched: the payload no longer matches its signed hash
    flipped = bytearray(payload)
    at = len(payload.rstrip(b"\n")) - 1 if payload.strip() else 0
    flipped[at] ^= 0x01
    # a raw image has no hash of its payload: its signature covers the bytes directly
    hashed = name in genuine.signed_hashes
    rehashed = "hash updated" if hashed else "no hash to update"
    untouched = f"{desc} and signature untouched" if desc != name else "signature untouched"
    out.append(DerivedImage.of("payload-byte-flipped", genuine.replace(name, bytes(flipped)),
                               f"byte {at} of payload {name} flipped (0x{payload[at]:02x} -> 0x{flipped[at]:02x}); "
                               f"{untouched}"))

    attacker = _marked(payload, "payload-changed-hash-updated")
    kept = (f"its sha256 in {desc} updated to match; the original signature kept (it no longer covers {desc})"
            if hashed else "the original signature kept (it no longer covers the payload)")
    out.append(DerivedImage.of("payload-changed-hash-updated", _rehash(genuine, name, attacker),
                               f"payload {name} replaced by the attacker's, {kept}"))

    out.append(DerivedImage.of("signature-removed", _rehash(genuine, name, _marked(payload, "signature-removed"))
                               .with_signature(None),
                               f"payload {name} replaced, {rehashed}, {sig_name} removed: an unsigned image"))

    signer = _signer_cert(genuine)
    now = dt.datetime.now(dt.UTC)
    subject = signer.subject if signer else x509.Name.from_rfc4514_string("CN=Firmware Signing")
    issuer = signer.issuer if signer else x509.Name.from_rfc4514_string("CN=Firmware CA")
    rogue_ca_key, rogue_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    rogue_ca = _cert(issuer, issuer, rogue_ca_key, rogue_ca_key, True, now - dt.timedelta(days=1), 3650)
    rogue_signer = _cert(subject, issuer, rogue_key, rogue_ca_key, False, now - dt.timedelta(days=1), 365)
    for case, cert, key, chain, how in (
        ("rogue-ca-same-names", rogue_signer, rogue_key, (rogue_ca,),
         f"re-signed by an attacker's CA whose names copy the manufacturer's (issuer {issuer.rfc4514_string()}, "
         f"signer {subject.rfc4514_string()}); the chain is verified by key, so it must fail"),
        ("self-signed-signer", _cert(subject, subject, rogue_key, rogue_key, False, now - dt.timedelta(days=1), 365),
         rogue_key, (), f"re-signed with a self-signed certificate named {subject.rfc4514_string()}"),
    ):
        img = _rehash(genuine, name, _marked(payload, case))
        out.append(DerivedImage.of(case, img.with_signature(cms_sign(img.signed_content, cert, key, chain)),
                                   f"payload {name} replaced, {rehashed}, {how}"))
    if expired is not None:
        img = _rehash(genuine, name, _marked(payload, "expired-signer"))
        until = expired.certificate.not_valid_after_utc.date()
        out.append(DerivedImage.of("expired-signer", img.with_signature(cms_sign(
            img.signed_content, expired.certificate, expired.key)),
            f"payload {name} replaced, {rehashed}, signed by the manufacturer's expired signer "
            f"(valid until {until})"))

    whole = genuine.to_bytes()
    cut = len(whole) // 2  # through the payloads, whatever the archive's padding (tar pads to 10 KiB)
    out.append(DerivedImage("truncated", whole[:cut], f"the genuine image cut off after {cut} of {len(whole)} bytes"
                            + (", its genuine signature sent beside it" if detached_part(genuine) else ""),
                            detached_part(genuine)))
    return out
