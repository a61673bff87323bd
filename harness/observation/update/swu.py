"""SWUpdate `.swu` images: parse, build, sign (CMS, detached, as `openssl cms -sign` does) and
verify offline the way the device will (CMS chain to the trust anchor, S/MIME signing purpose,
then every payload against its signed SHA-256).

Offline verification uses the `openssl cms -verify` command: `cryptography` signs PKCS#7 but has
no verification API, and the OpenSSL command is what SWUpdate's own verification is built on.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from harness.observation.update import cpio

DESCRIPTION = "sw-description"
SIGNATURE = "sw-description.sig"
_VERSION = re.compile(r'^\s*version\s*=\s*"([^"]+)"\s*;', re.M)
_FILE = re.compile(r'filename\s*=\s*"([^"]+)"\s*;(?:(?!filename)[^}])*?sha256\s*=\s*"([0-9a-fA-F]{64})"', re.S)


class ImageError(ValueError):
    """Not a usable .swu image."""


@dataclass
class SwuImage:
    entries: list[tuple[str, bytes]]
    format = "swu"
    descriptor_name = DESCRIPTION
    signature_name = SIGNATURE

    @classmethod
    def parse(cls, data: bytes) -> SwuImage:
        try:
            entries = cpio.read(data)
        except cpio.CpioError as e:
            raise ImageError(f"not a .swu image: {e}") from None
        if not entries or entries[0][0] != DESCRIPTION:
            first = entries[0][0] if entries else "nothing"
            raise ImageError(f"not a .swu image: the first entry is {first!r}, not {DESCRIPTION}")
        return cls(entries)

    def to_bytes(self) -> bytes:
        return cpio.write(self.entries)

    def get(self, name: str) -> bytes | None:
        return next((d for n, d in self.entries if n == name), None)

    @property
    def description(self) -> str:
        return self.entries[0][1].decode("utf-8", "replace")

    @property
    def signed_content(self) -> bytes:
        return self.entries[0][1]

    @property
    def signature(self) -> bytes | None:
        return self.get(SIGNATURE)

    @property
    def version(self) -> str | None:
        m = _VERSION.search(self.description)
        return m.group(1) if m else None

    @property
    def signed_hashes(self) -> dict[str, str]:
        return {name: digest.lower() for name, digest in _FILE.findall(self.description)}

    @property
    def payload_names(self) -> list[str]:
        return [n for n, _ in self.entries if n not in (DESCRIPTION, SIGNATURE)]

    def replace(self, name: str, data: bytes | None) -> SwuImage:
        """A copy with entry `name` replaced (or removed when `data` is None)."""
        out = [(n, data if n == name else d) for n, d in self.entries if not (n == name and data is None)]
        return SwuImage(out)

    def with_description(self, text: str) -> SwuImage:
        return self.replace(DESCRIPTION, text.encode())

    def with_signature(self, signature: bytes | None) -> SwuImage:
        if signature is None or self.signature is not None:
            return self.replace(SIGNATURE, signature)
        return SwuImage([self.entries[0], (SIGNATURE, signature), *self.entries[1:]])


def describe(version: str, files: list[tuple[str, bytes, str]], hardware: str, title: str) -> str:
    """sw-description (libconfig syntax) installing each (name, data, path) with the rawfile handler."""
    items = []
    for name, data, path in files:
        items.append(
            "\t\t{\n"
            f'\t\t\tfilename = "{name}";\n'
            f'\t\t\tpath = "{path}";\n'
            f'\t\t\tsha256 = "{hashlib.sha256(data).hexdigest()}";\n'
            '\t\t\tproperties = { create-destination = "true"; atomic-install = "true"; };\n'
            "\t\t}"
        )
    return (
        "software =\n{\n"
        f'\tversion = "{version}";\n'
        f'\tdescription = "{title}";\n'
        f'\thardware-compatibility = [ "{hardware}" ];\n'
        "\tfiles = (\n" + ",\n".join(items) + "\n\t);\n}\n"
    )


def cms_sign(content: bytes, cert: x509.Certificate, key, chain: tuple[x509.Certificate, ...] = ()) -> bytes:
    """Detached CMS over sw-description, DER, no S/MIME capabilities: what SWUpdate verifies.
    `chain` adds intermediate (or, for an attacker, rogue) CA certificates to the signature."""
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities]
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    return builder.sign(serialization.Encoding.DER, options)


def build(version: str, files: list[tuple[str, bytes, str]], hardware: str, title: str, cert, key) -> bytes:
    """A signed image, as a manufacturer's build would make it (the lab's firmware)."""
    text = describe(version, files, hardware, title).encode()
    entries = [(DESCRIPTION, text), (SIGNATURE, cms_sign(text, cert, key))]
    entries += [(name, data) for name, data, _ in files]
    return cpio.write(entries)


@dataclass
class Verification:
    ok: bool
    reason: str
    signer: str | None = None
    checked: list[str] = field(default_factory=list)


def verify_offline(data: bytes, anchor: Path) -> Verification:
    """Would a device trusting `anchor` accept this .swu? (See `verify_image`.)"""
    try:
        image = SwuImage.parse(data)
    except ImageError as e:
        return Verification(False, str(e))
    return verify_image(image, anchor)


def verify_image(image, anchor: Path) -> Verification:
    """Would a device trusting `anchor` accept this image, whatever its format? The detached CMS
    signature over the descriptor first (chain, S/MIME signing purpose), then every payload
    against its signed SHA-256, then no signed payload missing."""
    desc_name, sig_name = image.descriptor_name, image.signature_name
    if image.signature is None:
        return Verification(False, f"unsigned: no {sig_name} entry")
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed for offline verification (apt-get install openssl)")
    with tempfile.TemporaryDirectory(prefix="image-verify-") as tmp:
        desc, sig, signer = Path(tmp, "d"), Path(tmp, "s"), Path(tmp, "signer.pem")
        desc.write_bytes(image.signed_content)
        sig.write_bytes(image.signature)
        inform = "PEM" if image.signature.lstrip().startswith(b"-----BEGIN") else "DER"
        p = subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", inform, "-in", str(sig), "-content", str(desc),
             "-CAfile", str(anchor), "-purpose", "smimesign", "-signer", str(signer), "-out", "/dev/null"],
            capture_output=True, text=True, timeout=30,
        )
        who = None
        if signer.exists() and signer.stat().st_size:
            who = x509.load_pem_x509_certificate(signer.read_bytes()).subject.rfc4514_string()
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.splitlines() if "error" in ln.lower() or "failure" in ln.lower()]
        return Verification(False, "signature does not verify against the trust anchor: "
                            + ("; ".join(lines[:3]) or p.stderr.strip()[:300]), who)
    hashes_ = image.signed_hashes
    checked = []
    for name in image.payload_names:
        if name == desc_name:  # a raw image: the signature just verified covers this payload itself
            checked.append(name)
            continue
        if name not in hashes_:
            return Verification(False, f"payload {name} has no signed sha256 in {desc_name}", who, checked)
        actual = hashlib.sha256(image.get(name) or b"").hexdigest()
        if actual != hashes_[name]:
            return Verification(False, f"payload {name} does not match its signed sha256 ({actual} != "
                                f"{hashes_[name]})", who, checked)
        checked.append(name)
    missing = sorted(set(hashes_) - set(image.payload_names))
    if missing:
        return Verification(False, f"payload(s) named in {desc_name} are missing: {', '.join(missing)}", who,
                            checked)
    how = ("the signature over the whole image" if checked == [desc_name] else
           "every payload matches its signed hash and the signature")
    return Verification(True, f"{how} chains to the trust anchor", who, checked)
