"""The lab manufacturer's update material: a firmware-signing PKI and signed SWUpdate images.

Made fresh at every `lab up`, inside the lab folder (keys never leave it): a manufacturer CA, the
signer the genuine images are signed with, and an expired signer of the same CA (only a
manufacturer can supply one; the harness uses it to prove the device checks validity dates).
Images install two payloads into /run/fw, which each updater daemon has privately (nswrap
mounts a fresh /run per daemon): `os-release`, which the device serves as its running version,
and `rootfs.img`, the firmware body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.declaration.profile import ManifestLayout
from harness.observation.certificates import issue, name
from harness.observation.update import manifest
from harness.observation.update.swu import build, cms_sign
from lab.model import Firmware

ORG = "Lab Devices Inc."
CA_NAME = "Lab Devices Firmware CA"
SIGNER_NAME = "Lab Devices Firmware Signing"
INSTALL_DIR = "/run/fw"
# The second maker's image layout, as its profiles declare it (update.manifest).
KAIRO_LAYOUT = ManifestLayout(archive="tar", descriptor="manifest.json", signature="manifest.sig",
                              payloads_key="files", name_key="name", hash_key="sha256", version_key="version")


def _name(cn: str) -> x509.Name:
    return name(cn, ORG)


def _save(folder: Path, stem: str, key, cert: x509.Certificate) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path = folder / f"{stem}.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _issue(subject: x509.Name, key, issuer: x509.Name, issuer_key, start: dt.datetime, end: dt.datetime,
           ca: bool) -> x509.Certificate:
    if ca:
        return issue(subject, key, issuer=(issuer, issuer_key), not_before=start, not_after=end, ca=True,
                     usage="ca", ski=True)
    # SWUpdate checks the S/MIME purpose by default: emailProtection, digitalSignature
    return issue(subject, key, issuer=(issuer, issuer_key), not_before=start, not_after=end, ca=False,
                 usage="signature", eku=["smime"], aki=True, ski=True)


def make_update_pki(folder: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _issue(_name(CA_NAME), ca_key, _name(CA_NAME), ca_key, dt.datetime(2019, 1, 1, tzinfo=dt.UTC),
                now + dt.timedelta(days=3650), ca=True)
    _save(folder, "mfr-ca", ca_key, ca)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _save(folder, "signer", key, _issue(_name(SIGNER_NAME), key, ca.subject, ca_key,
                                        now - dt.timedelta(days=1), now + dt.timedelta(days=730), ca=False))
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _save(folder, "expired-signer", old, _issue(_name(SIGNER_NAME), old, ca.subject, ca_key,
                                                dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                                                dt.datetime(2021, 1, 1, tzinfo=dt.UTC), ca=False))


def os_release(fw: Firmware, version: str) -> bytes:
    return f'NAME="{fw.title}"\nVERSION_ID="{version}"\nBUILD_ID="mfr-{version}"\n'.encode()


def rootfs(model: str, version: str) -> bytes:
    seed = hashlib.sha256(f"{model}-{version}".encode()).digest()
    return seed * (64 * 1024 // len(seed))


RAW_MAGIC = b"KAIROFW1\n"


def raw_image(model: str, fw: Firmware, version: str) -> bytes:
    """The second maker's raw image: a KAIROFW1 header carrying the os-release up to a NUL byte,
    padded to 512 bytes, then the firmware body. Its signature is a separate file."""
    head = RAW_MAGIC + os_release(fw, version) + b"\0"
    return head.ljust(512, b"\0") + rootfs(model, version)


def _rauc_bundle(fw: Firmware, version: str, files: list[tuple[str, bytes, str]], pki: Path, path: Path) -> None:
    """A plain RAUC bundle, made by `rauc bundle` as the manufacturer's build would: the images
    (the version file as appfs.img: raw slots take *.img) and a manifest; RAUC adds the hashes
    and signs with the lab signer, checking it against the CA."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rauc-content-") as tmp:
        content = Path(tmp, "content")
        content.mkdir()
        names = {"os-release": "appfs.img", "rootfs.img": "rootfs.img"}
        for name, data, _ in files:
            (content / names[name]).write_bytes(data)
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={fw.board}\nversion={version}\n\n[bundle]\nformat=plain\n\n"
            "[image.rootfs]\nfilename=rootfs.img\n\n[image.appfs]\nfilename=appfs.img\n")
        path.unlink(missing_ok=True)
        subprocess.run(["rauc", "bundle", f"--cert={pki / 'signer.crt'}", f"--key={pki / 'signer.key'}",
                        f"--keyring={pki / 'mfr-ca.crt'}", str(content), str(path)],
                       check=True, capture_output=True, timeout=120)


def build_images(model: str, fw: Firmware, pki: Path, out: Path) -> dict[str, str]:
    """Signed images of every version the definition names; the factory payloads for the updater."""
    cert = x509.load_pem_x509_certificate((pki / "signer.crt").read_bytes())
    key = serialization.load_pem_private_key((pki / "signer.key").read_bytes(), None)
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for role, version in (("current", fw.current), ("newer", fw.newer), ("older", fw.older)):
        files = [("os-release", os_release(fw, version), f"{INSTALL_DIR}/www/os-release"),
                 ("rootfs.img", rootfs(model, version), f"{INSTALL_DIR}/slot/rootfs.img")]
        if fw.format == "rauc":
            path = out / f"{model}-{version}.raucb"
            _rauc_bundle(fw, version, files, pki, path)
        elif fw.format == "raw-signed":
            path = out / f"{model}-{version}.bin"
            data = raw_image(model, fw, version)
            path.write_bytes(data)
            Path(f"{path}.sig").write_bytes(cms_sign(data, cert, key))
        elif fw.format == "signed-manifest":
            path = out / f"{model}-{version}.img"
            path.write_bytes(manifest.build(KAIRO_LAYOUT, version, [(n, d) for n, d, _ in files],
                                            {"product": fw.title, "board": fw.board},
                                            lambda content: cms_sign(content, cert, key)))
        else:
            path = out / f"{model}-{version}.swu"
            path.write_bytes(build(version, files, fw.hardware, f"{fw.title} {version}", cert, key))
        made[role] = str(path)
    (out / "factory-os-release").write_bytes(os_release(fw, fw.current))
    (out / "factory-rootfs.img").write_bytes(rootfs(model, fw.current))
    return made
