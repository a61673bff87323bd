"""Ed25519 signing keys for evidence bundles, and the DSSE envelope format around them.

DSSE (the envelope in-toto and Sigstore use) signs PAE(payloadType, payload), so a verifier
never has to canonicalise JSON. We implement the few lines of PAE ourselves: the reference
library (securesystemslib) would pull in a key-management stack we do not need, and the
format is fixed by its specification.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEFAULT_KEY_NAME = "signing-key-ed25519.pem"


class SigningKeyError(Exception):
    pass


def harness_home() -> Path:
    """Per-installation state: $IOT_HARNESS_HOME, else $XDG_DATA_HOME/iot-label-harness."""
    if os.environ.get("IOT_HARNESS_HOME"):
        return Path(os.environ["IOT_HARNESS_HOME"])
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "iot-label-harness"


def default_key_path() -> Path:
    return harness_home() / DEFAULT_KEY_NAME


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    origin: str  # where the key came from, for the manifest (a path, never the key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def keyid(self) -> str:
        return fingerprint(self.public_key)


def load_signer(path: Path | None) -> Signer:
    """The operator's key if given; otherwise the installation key, created on first use (0600)."""
    if path is not None:
        return Signer(_read_private_key(path), str(path))
    path = default_key_path()
    if not path.exists():
        _create_installation_key(path)
    return Signer(_read_private_key(path), f"installation key {path}")


def _create_installation_key(path: Path) -> None:
    """Written complete to a private temporary file, then linked into place: two first runs at
    once both end up with the one key that won (a link never replaces), never a half-written one.
    Encrypted with IOT_HARNESS_SIGNING_KEY_PASSWORD when it is set, so the key loads with it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    password = os.environ.get("IOT_HARNESS_SIGNING_KEY_PASSWORD")
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another run made it first: use that one
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SigningKeyError(f"cannot read signing key {path}: {e.strerror}") from None
    password = os.environ.get("IOT_HARNESS_SIGNING_KEY_PASSWORD")
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(
            f"{path} is not a usable PEM private key ({e}); create one with "
            "`openssl genpkey -algorithm ed25519 -out KEY.pem` (set IOT_HARNESS_SIGNING_KEY_PASSWORD "
            "if it is encrypted)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}; bundles are signed with Ed25519 keys")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as e:
        raise SigningKeyError(f"cannot load public key {path}: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 public key")
    return key


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding (DSSE v1)."""
    t = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


def dsse_sign(signer: Signer, payload_type: str, payload: bytes) -> dict:
    sig = signer.private_key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": signer.keyid, "sig": base64.b64encode(sig).decode()}],
    }


def dsse_verify(envelope: dict, key: Ed25519PublicKey) -> bytes:
    """The payload if some signature in the envelope verifies under `key`; raises otherwise."""
    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = envelope["payloadType"]
        sigs = envelope["signatures"]
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidSignature(f"malformed DSSE envelope: {e}") from None
    message = pae(payload_type, payload)
    for s in sigs:
        try:
            key.verify(base64.b64decode(s["sig"]), message)
            return payload
        except (InvalidSignature, KeyError, TypeError, ValueError):
            continue
    raise InvalidSignature("no signature in the envelope verifies with this key")
