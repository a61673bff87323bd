import json
import os
import stat

import pytest

from harness.record.evidence import REDACTED, EvidenceRecorder, Redactor
from harness.record.signing import SigningKeyError, load_signer


def test_redactor_scrubs_text_bytes_and_json(tmp_path):
    rec = EvidenceRecorder(tmp_path, Redactor(["hunter2-secret", "pw"]))
    case = rec.for_case("credentials.ssh[cam:ssh/22]")
    t = case.write_text("log.txt", "login with hunter2-secret ok")
    b = case.write_bytes("raw.bin", b"\x00hunter2-secret\x01")
    j = case.write_json("x.json", {"password": "hunter2-secret", "hunter2-secret": 1})
    assert (tmp_path / t).read_text() == f"login with {REDACTED} ok"
    assert b"hunter2-secret" not in (tmp_path / b).read_bytes()
    assert "hunter2-secret" not in (tmp_path / j).read_text()
    assert case.files == [t, b, j]
    assert all(p.startswith("evidence/credentials.ssh_cam_ssh_22/") for p in case.files)


def test_evidence_names_cannot_escape_the_bundle(tmp_path):
    case = EvidenceRecorder(tmp_path, Redactor()).for_case("c")
    rel = case.write_text("../../etc/passwd", "x")
    assert (tmp_path / rel).resolve().is_relative_to(tmp_path.resolve())


def test_partial_results_are_appended_immediately(tmp_path):
    rec = EvidenceRecorder(tmp_path, Redactor(["s3cr3t"]))
    rec.append_jsonl("results.partial.jsonl", {"id": "a", "reason": "s3cr3t leaked?"})
    rec.append_jsonl("results.partial.jsonl", {"id": "b"})
    lines = (tmp_path / "results.partial.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert "s3cr3t" not in lines[0]


def test_installation_key_created_once_with_private_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("IOT_HARNESS_HOME", str(tmp_path / "home"))
    s1 = load_signer(None)
    path = tmp_path / "home" / "signing-key-ed25519.pem"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_signer(None).keyid == s1.keyid


def test_wrong_key_type_is_a_clear_error(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    k = ec.generate_private_key(ec.SECP256R1())
    p = tmp_path / "ec.pem"
    p.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with pytest.raises(SigningKeyError, match="Ed25519"):
        load_signer(p)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match="openssl genpkey"):
        load_signer(tmp_path / "junk.pem")


def test_first_runs_at_once_share_one_complete_installation_key(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from harness.record.signing import load_signer

    monkeypatch.setenv("IOT_HARNESS_HOME", str(tmp_path / "home"))
    with ThreadPoolExecutor(8) as pool:
        signers = list(pool.map(lambda _: load_signer(None), range(8)))
    assert len({s.keyid for s in signers}) == 1
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["signing-key-ed25519.pem"]


def test_an_installation_key_made_with_the_password_set_loads_with_it(tmp_path, monkeypatch):
    from harness.record.signing import load_signer

    monkeypatch.setenv("IOT_HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IOT_HARNESS_SIGNING_KEY_PASSWORD", "correct horse battery staple")
    first = load_signer(None)
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "home" / "signing-key-ed25519.pem").read_bytes()
    assert load_signer(None).keyid == first.keyid
