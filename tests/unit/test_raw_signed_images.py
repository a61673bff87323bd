"""A raw image with a detached signature file, without a device: the manufacturer's build verifies
offline, every derived variant fails for its own reason with the right part sent beside it, the
upload puts image and signature in their declared fields, and a key-based test account's key is
read or refused with a clear reason."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.declaration.profile import RawSignedLayout, UpdateMechanism
from harness.observation.probes.ssh import KeyFileError, load_private_key
from harness.observation.scope import Scope, ScopeGuard
from harness.observation.update.derive import CASES, SignerMaterial, derive
from harness.observation.update.device import UpdateEndpoint
from harness.observation.update.image import detached_part, load_image, open_image
from harness.observation.update.swu import ImageError, verify_image
from lab.firmware import build_images, make_update_pki
from lab.model import Firmware

LAYOUT = RawSignedLayout(signature_field="sig")
UPDATE = UpdateMechanism(method="vendor updater", image_format="raw-signed", raw=LAYOUT, upload_field="fw")
FW = Firmware(title="Test OS", board="t", hardware="1.0", current="2.0.0", newer="2.1.0", older="1.9.0",
              format="raw-signed")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    make_update_pki(root / "pki")
    return root, build_images("dev", FW, root / "pki", root / "out")


def test_genuine_raw_images_verify_with_the_signature_file_beside_them(made):
    root, images = made
    for role, version in (("current", "2.0.0"), ("newer", "2.1.0"), ("older", "1.9.0")):
        image = load_image(Path(images[role]), UPDATE)
        assert image.version == version and image.payload_names == [Path(images[role]).name]
        assert detached_part(image) == Path(images[role] + ".sig").read_bytes()
        v = verify_image(image, root / "pki" / "mfr-ca.crt")
        assert v.ok and v.checked == [Path(images[role]).name], v.reason
        assert "signature over the whole image" in v.reason


def test_a_raw_image_without_its_signature_file_opens_as_unsigned(made, tmp_path):
    root, images = made
    lone = tmp_path / "fw.bin"
    lone.write_bytes(Path(images["newer"]).read_bytes())
    image = load_image(lone, UPDATE)
    assert image.signature is None and detached_part(image) is None
    assert verify_image(image, root / "pki" / "mfr-ca.crt").reason == "unsigned: no fw.bin.sig entry"
    with pytest.raises(ImageError, match="does not match its bytes"):
        open_image(b"no version here", UPDATE)


def test_every_derived_raw_image_fails_offline_with_what_is_sent_beside_it(made):
    root, images = made
    pki = root / "pki"
    expired = SignerMaterial(x509.load_pem_x509_certificate((pki / "expired-signer.crt").read_bytes()),
                             serialization.load_pem_private_key((pki / "expired-signer.key").read_bytes(), None))
    genuine = load_image(Path(images["newer"]), UPDATE)
    derived = {d.case: d for d in derive(genuine, None, expired)}
    assert set(derived) == set(CASES)

    def reason(case: str) -> str:
        d = derived[case]
        return verify_image(open_image(d.data, UPDATE, d.detached, genuine.image_name), pki / "mfr-ca.crt").reason

    for case in ("payload-byte-flipped", "payload-changed-hash-updated", "rogue-ca-same-names",
                 "self-signed-signer", "truncated"):
        assert "signature does not verify" in reason(case), case
    assert "expired" in reason("expired-signer")
    assert reason("signature-removed").startswith("unsigned")
    assert derived["signature-removed"].detached is None
    assert derived["truncated"].detached == genuine.signature  # the genuine signature, over a cut image
    assert "no hash to update" in derived["rogue-ca-same-names"].how
    assert "signature untouched" in derived["payload-byte-flipped"].how
    assert b'BUILD_ID="attacker-signature-removed"' in derived["signature-removed"].data
    # the version stays the genuine newer one, so only the tampering can be the reason for a refusal
    assert open_image(derived["rogue-ca-same-names"].data, UPDATE).version == "2.1.0"


def test_the_upload_sends_image_and_signature_in_their_declared_fields():
    fields: dict[str, tuple[str, int]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            import email.parser

            body = self.rfile.read(int(self.headers["Content-Length"]))
            msg = email.parser.BytesParser().parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
            for part in msg.walk():
                name = part.get_param("name", header="content-disposition")
                if name:
                    fields[name] = (part.get_filename(), len(part.get_payload(decode=True)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.86", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        ep = UpdateEndpoint(ScopeGuard(Scope.build(["127.0.0.86"]), allowed_classes=frozenset({"safe", "intrusive"})),
                            "127.0.0.86",
                            port, upload_field="fw", signature_field="sig")
        assert ep.upload(b"I" * 1000, "x.bin", stream_wait_s=0, detached=b"S" * 10).http_status == 200
        assert fields == {"fw": ("x.bin", 1000), "sig": ("x.bin.sig", 10)}
        fields.clear()
        ep.upload(b"I" * 1000, "x.bin", stream_wait_s=0)  # the signature stripped, as an attacker would
        assert fields == {"fw": ("x.bin", 1000)}
    finally:
        server.shutdown()


def test_a_test_accounts_key_is_loaded_or_refused_naming_the_file(tmp_path):
    import subprocess

    plain, locked = tmp_path / "plain", tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(plain)], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", str(locked)], check=True)
    assert load_private_key(plain).get_name() == "ssh-ed25519"
    with pytest.raises(KeyFileError, match="is encrypted; give the test account an unencrypted key"):
        load_private_key(locked)
    with pytest.raises(KeyFileError, match="does not exist"):
        load_private_key(tmp_path / "missing")
    (tmp_path / "junk").write_text("not a key at all\n")
    with pytest.raises(KeyFileError, match="junk is not an SSH private key"):
        load_private_key(tmp_path / "junk")
