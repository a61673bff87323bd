import json
import shutil

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.record.bundle import seal, verify
from harness.record.signing import Signer, public_pem
from tests.conftest import harness


@pytest.fixture
def bundle(tmp_path):
    root = tmp_path / "b"
    (root / "evidence" / "case1").mkdir(parents=True)
    (root / "evidence" / "case1" / "nmap.xml").write_text("<nmaprun/>\n")
    (root / "manifest.json").write_text(json.dumps({"complete": True}))
    (root / "results.json").write_text("{}")
    seal(root, Signer(Ed25519PrivateKey.generate(), "test"), {"result": "PASSED", "configuration": []})
    return root


def variant(bundle, tmp_path, name):
    target = tmp_path / name
    shutil.copytree(bundle, target)
    return target


def test_fresh_bundle_verifies(bundle):
    v = verify(bundle)
    assert v.ok, v.problems
    assert v.files == 3 and v.complete is True
    r = harness("bundle", "verify", str(bundle))
    assert r.returncode == 0 and "OK, 3 files" in r.stdout


def test_one_changed_byte_is_named(bundle, tmp_path):
    b = variant(bundle, tmp_path, "changed")
    f = b / "evidence" / "case1" / "nmap.xml"
    data = bytearray(f.read_bytes())
    data[3] ^= 0x01
    f.write_bytes(bytes(data))
    r = harness("bundle", "verify", str(b))
    assert r.returncode == 1
    assert "changed: evidence/case1/nmap.xml" in r.stderr


def test_added_and_removed_files_are_named(bundle, tmp_path):
    b = variant(bundle, tmp_path, "added")
    (b / "evidence" / "case1" / "extra.txt").write_text("planted")
    (b / "results.json").unlink()
    v = verify(b)
    assert not v.ok
    assert "added: evidence/case1/extra.txt" in v.problems
    assert "removed: results.json" in v.problems


def test_tampered_sums_and_bad_signatures(bundle, tmp_path):
    b = variant(bundle, tmp_path, "sums")
    (b / "SHA256SUMS").write_text("0" * 64 + "  results.json\n")
    assert any("SHA256SUMS" in p for p in verify(b).problems)

    b = variant(bundle, tmp_path, "sig")
    env = json.loads((b / "bundle.dsse.json").read_text())
    env["payload"] = env["payload"][:-8] + "AAAAAAA="
    (b / "bundle.dsse.json").write_text(json.dumps(env))
    assert verify(b).problems[0].startswith("bad signature")


def test_pinned_key_proves_identity(bundle, tmp_path):
    other = tmp_path / "other.pub.pem"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    r = harness("bundle", "verify", str(bundle), "--key", str(other))
    assert r.returncode == 1 and "bad signature" in r.stderr
    r = harness("bundle", "verify", str(bundle), "--key", str(bundle / "signer.pub.pem"))
    assert r.returncode == 0 and "pinned key" in r.stdout


def test_unsealed_folder_is_reported(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    v = verify(tmp_path)
    assert not v.ok and "never sealed" in v.problems[0]


def test_added_empty_folders_and_special_files_are_named(bundle, tmp_path):
    import os

    b = variant(bundle, tmp_path, "odd")
    (b / "evidence" / "planted-dir").mkdir()
    os.mkfifo(b / "evidence" / "case1" / "pipe")
    v = verify(b)
    assert not v.ok
    assert "added: evidence/planted-dir/ (an empty folder)" in v.problems
    assert "added: evidence/case1/pipe (not a regular file)" in v.problems
