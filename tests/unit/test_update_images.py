"""Update images without a device: cpio both ways, the manufacturer's build verifies offline,
and every malicious variant fails offline verification for its own reason (so a device that
installs one has skipped exactly that check)."""

from pathlib import Path

import pytest

from harness.declaration.profile import UpdateMechanism
from harness.observation.update import cpio
from harness.observation.update.derive import CASES, SignerMaterial, derive
from harness.observation.update.image import open_image
from harness.observation.update.swu import ImageError, SwuImage, verify_image, verify_offline
from lab.firmware import KAIRO_LAYOUT, build_images, make_update_pki
from lab.model import Firmware

FW = Firmware(title="Test OS", board="t", hardware="1.0", current="2.0.0", newer="2.1.0", older="1.9.0")
FORMATS = {"swu": UpdateMechanism(method="swupdate", image_format="swu"),
           "rauc": UpdateMechanism(method="rauc", image_format="rauc"),
           "signed-manifest": UpdateMechanism(method="vendor updater", image_format="signed-manifest",
                                              manifest=KAIRO_LAYOUT)}


@pytest.fixture(scope="module", params=sorted(FORMATS))
def made(request, tmp_path_factory):
    """The lab manufacturer's images in each format, with the profile fragment that reads them."""
    root = tmp_path_factory.mktemp("fw")
    make_update_pki(root / "pki")
    fw = FW.model_copy(update={"format": request.param})
    images = build_images("dev", fw, root / "pki", root / "out")
    return root, images, FORMATS[request.param]


def _version_file(update) -> str:
    """The payload the version is read from: RAUC's raw slots take *.img, so it is appfs.img there."""
    return "appfs.img" if update.image_format == "rauc" else "os-release"


def test_cpio_round_trip_and_errors():
    entries = [("a", b"x" * 5), ("b", b""), ("c/d", bytes(range(256)))]
    for crc in (True, False):
        assert cpio.read(cpio.write(entries, crc=crc)) == entries
    with pytest.raises(cpio.CpioError, match="no cpio newc/crc header"):
        cpio.read(b"garbage")
    with pytest.raises(cpio.CpioError, match="cut off"):
        cpio.read(cpio.write(entries)[:150])


def test_manufacturer_images_verify_and_carry_their_version(made):
    root, images, update = made
    for role, version in (("current", "2.0.0"), ("newer", "2.1.0"), ("older", "1.9.0")):
        data = Path(images[role]).read_bytes()
        image = open_image(data, update)
        assert image.version == version and sorted(image.payload_names) == sorted([_version_file(update), "rootfs.img"])
        v = verify_image(image, root / "pki" / "mfr-ca.crt")
        assert v.ok, v.reason
        assert sorted(v.checked) == sorted([_version_file(update), "rootfs.img"])
        assert "Lab Devices Firmware Signing" in v.signer


def test_every_derived_image_fails_offline_for_its_own_reason(made):
    """Format-agnostic: the same seven variants from a .swu and from a vendor's signed manifest."""
    root, images, update = made
    pki = root / "pki"
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    expired = SignerMaterial(x509.load_pem_x509_certificate((pki / "expired-signer.crt").read_bytes()),
                             serialization.load_pem_private_key((pki / "expired-signer.key").read_bytes(), None))
    genuine = open_image(Path(images["newer"]).read_bytes(), update)
    derived = {d.case: d for d in derive(genuine, _version_file(update), expired)}
    assert set(derived) == set(CASES)

    def reason(data: bytes) -> str:
        try:
            return verify_image(open_image(data, update), pki / "mfr-ca.crt").reason
        except ImageError as e:
            return str(e)

    reasons = {case: reason(d.data) for case, d in derived.items()}
    if update.image_format == "rauc":  # the signature covers the whole squashfs: any change breaks it first
        assert "signature does not verify" in reasons["payload-byte-flipped"]
    else:
        assert "payload os-release does not match its signed sha256" in reasons["payload-byte-flipped"]
    assert "signature does not verify" in reasons["payload-changed-hash-updated"]
    assert reasons["signature-removed"] == f"unsigned: no {genuine.signature_name} entry"
    for case in ("rogue-ca-same-names", "self-signed-signer"):
        assert "signature does not verify against the trust anchor" in reasons[case]
    assert "expired" in reasons["expired-signer"]
    assert any(w in reasons["truncated"] for w in ("not a", "cut off", "missing", "does not match", "unsigned",
                                                  "does not unpack")), reasons
    assert verify_offline(b"junk", pki / "mfr-ca.crt").ok is False
    for d in derived.values():
        assert d.how and len(d.sha256) == 64
    # the attacker's content is visible in what the device would serve as its version file
    hashed = open_image(derived["payload-changed-hash-updated"].data, update).get(_version_file(update))
    assert b'BUILD_ID="attacker-payload-changed-hash-updated"' in hashed
    assert open_image(derived["rogue-ca-same-names"].data, update).version == "2.1.0"


def test_without_an_expired_signer_that_case_is_not_made(made):
    _, images, update = made
    genuine = open_image(Path(images["newer"]).read_bytes(), update)
    assert "expired-signer" not in {d.case for d in derive(genuine, None, None)}


def test_not_a_swu_image_is_named():
    with pytest.raises(ImageError, match="first entry is 'x'"):
        SwuImage.parse(cpio.write([("x", b"1")]))


def test_rauc_itself_refuses_every_derived_bundle_and_accepts_the_genuine_one(tmp_path):
    """An independent verifier: Debian's `rauc info --keyring` on the bundles the harness derived
    (squashfs rebuilt by squashfs-tools, signatures made like RAUC's), offline, no service."""
    import shutil
    import subprocess

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from harness.observation.update.rauc import RaucBundle

    assert shutil.which("rauc"), "rauc is installed by `make setup` (scripts/setup.sh)"
    pki = tmp_path / "pki"
    make_update_pki(pki)
    images = build_images("dev", FW.model_copy(update={"format": "rauc"}), pki, tmp_path / "out")
    genuine_bytes = Path(images["newer"]).read_bytes()
    genuine = RaucBundle.parse(genuine_bytes)
    assert genuine.to_bytes() == genuine_bytes  # unchanged files keep the signed squashfs byte for byte
    expired = SignerMaterial(x509.load_pem_x509_certificate((pki / "expired-signer.crt").read_bytes()),
                             serialization.load_pem_private_key((pki / "expired-signer.key").read_bytes(), None))

    def rauc_info(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["rauc", "info", f"--keyring={pki / 'mfr-ca.crt'}", str(path)],
                              capture_output=True, text=True, timeout=60)

    assert rauc_info(Path(images["newer"])).returncode == 0
    expected = {"payload-byte-flipped": "verification failure", "payload-changed-hash-updated": "verification failure",
                "rogue-ca-same-names": "self-signed certificate in certificate chain",
                "self-signed-signer": "self-signed certificate", "expired-signer": "certificate has expired"}
    for d in derive(genuine, "appfs.img", expired):
        path = tmp_path / f"{d.case}.raucb"
        path.write_bytes(d.data)
        r = rauc_info(path)
        assert r.returncode != 0, d.case
        if d.case in expected:
            assert expected[d.case] in r.stderr, (d.case, r.stderr[-300:])
