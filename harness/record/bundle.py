"""Seal a finished run directory into a signed evidence bundle, and verify one.

The signed payload is an in-toto Statement whose subjects are every file of the bundle with
its SHA-256, and whose predicate is the in-toto test-result predicate, so generic in-toto
tooling can read it. A human-readable SHA256SUMS sits beside it for `sha256sum -c`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from harness.record.signing import Signer, dsse_sign, dsse_verify, fingerprint, load_public_key, public_pem

ENVELOPE = "bundle.dsse.json"
SUMS = "SHA256SUMS"
PUBKEY = "signer.pub.pem"
REPORTS = "reports"  # rendered from the sealed evidence, then sealed with it (harness/run/embedded_reports.py)
EVIDENCE_SEAL = f"{REPORTS}/evidence.dsse.json"  # the envelope that sealed the evidence alone
UNSIGNED = frozenset({ENVELOPE, SUMS, PUBKEY})  # the seal itself; everything else is a subject
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
TEST_RESULT_PREDICATE = "https://in-toto.io/attestation/test-result/v0.1"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_files(root: Path) -> dict[str, str]:
    """Every regular file under root except the seal, as relative POSIX path -> SHA-256."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "symlink"  # never followed; its presence alone breaks verification
        elif p.is_file() and rel not in UNSIGNED:
            out[rel] = sha256_file(p)
    return out


def _odd_entries(root: Path) -> list[tuple[str, str]]:
    """Entries no sealed bundle has: special files (FIFOs, sockets, devices) and empty folders
    (the recorder only makes a folder to put a file in it)."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or p.is_file():
            continue
        if p.is_dir():
            if not any(p.iterdir()):
                out.append((rel + "/", "an empty folder"))
        else:
            out.append((rel, "not a regular file"))
    return out


def seal(root: Path, signer: Signer, predicate: dict) -> dict:
    """Hash every file, write SHA256SUMS, sign the statement. Returns the statement. Empty folders
    (a case that recorded nothing) are removed first: folders are not signed, so after sealing
    any empty folder is one somebody added."""
    for d in sorted((p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            d.rmdir()  # only succeeds when empty
    files = bundle_files(root)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest}} for name, digest in files.items()],
        "predicateType": TEST_RESULT_PREDICATE,
        "predicate": predicate,
    }
    (root / SUMS).write_text("".join(f"{d}  {n}\n" for n, d in files.items()))
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    envelope = dsse_sign(signer, PAYLOAD_TYPE, payload)
    (root / ENVELOPE).write_text(json.dumps(envelope, indent=2) + "\n")
    (root / PUBKEY).write_bytes(public_pem(signer.public_key))
    return statement


@dataclass
class Verification:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    signer: str = ""
    files: int = 0
    complete: bool | None = None
    digest: str = ""  # sha256 of the signed statement: names this bundle in a re-judgement's manifest
    evidence_digest: str = ""  # sha256 of the statement that sealed the evidence before the reports
    subjects: dict[str, str] = field(default_factory=dict)  # every signed file -> its SHA-256, as signed

    def problem(self, text: str) -> None:
        self.ok = False
        self.problems.append(text)


def verify(root: Path, trusted_key: Path | None = None) -> Verification:
    """Check the signature and that every byte of every file is as signed.

    Without `trusted_key` the bundle's own public key is used: that proves the bundle was not
    changed after signing (integrity), not who signed it (identity).
    """
    v = Verification()
    if not root.is_dir():
        v.problem(f"{root} is not a directory")
        return v
    env_path = root / ENVELOPE
    if not env_path.exists():
        v.problem(f"{ENVELOPE} is missing: the bundle was never sealed (interrupted before the end?)")
        return v
    try:
        key = load_public_key(trusted_key if trusted_key else root / PUBKEY)
        envelope = json.loads(env_path.read_text())
        payload = dsse_verify(envelope, key)
        statement = json.loads(payload)
        v.digest = hashlib.sha256(payload).hexdigest()
    except InvalidSignature as e:
        v.problem(f"bad signature: {e}")
        return v
    except Exception as e:  # unreadable key or envelope: report, never crash
        v.problem(f"cannot check the signature: {e}")
        return v
    v.signer = fingerprint(key)
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != TEST_RESULT_PREDICATE:
        v.problem("signed payload is not an in-toto test-result statement")
        return v
    signed = {s["name"]: s["digest"]["sha256"] for s in statement.get("subject", [])}
    actual = bundle_files(root)
    v.files, v.subjects = len(signed), signed
    for name in sorted(signed.keys() - actual.keys()):
        v.problem(f"removed: {name}")
    for name in sorted(actual.keys() - signed.keys()):
        v.problem(f"added: {name}")
    for name, what in _odd_entries(root):
        v.problem(f"added: {name} ({what})")
    for name in sorted(signed.keys() & actual.keys()):
        if signed[name] != actual[name]:
            v.problem(f"changed: {name}")
    if EVIDENCE_SEAL in signed and signed.get(EVIDENCE_SEAL) == actual.get(EVIDENCE_SEAL):
        _check_evidence_seal(root, key, signed, v)
    sums = root / SUMS
    expected_sums = "".join(f"{d}  {n}\n" for n, d in signed.items())
    if not sums.exists():
        v.problem(f"removed: {SUMS}")
    elif sums.read_text() != expected_sums:
        v.problem(f"changed: {SUMS} (does not match the signed file list)")
    with contextlib.suppress(OSError, ValueError):
        v.complete = bool(json.loads((root / "manifest.json").read_text()).get("complete"))
    return v


def _check_evidence_seal(root: Path, key, signed: dict[str, str], v: Verification) -> None:
    """The reports inside a bundle print the digest of the statement that sealed the evidence
    before they were rendered: that statement must carry the same key's signature, and only
    `reports/` may have been added after it, with no evidence file changed."""
    try:
        payload = dsse_verify(json.loads((root / EVIDENCE_SEAL).read_text()), key)
        earlier = {s["name"]: s["digest"]["sha256"] for s in json.loads(payload).get("subject", [])}
    except Exception as e:  # a bad or foreign seal: report, never crash
        v.problem(f"{EVIDENCE_SEAL}: not the evidence seal of this bundle ({e})")
        return
    v.evidence_digest = hashlib.sha256(payload).hexdigest()
    for name in sorted(earlier):
        if signed.get(name) != earlier[name]:
            v.problem(f"{EVIDENCE_SEAL}: {name} differs from the evidence the reports were rendered from")
    for name in sorted(signed.keys() - earlier.keys()):
        if not name.startswith(REPORTS + "/"):
            v.problem(f"{EVIDENCE_SEAL}: {name} was added after the evidence was sealed")
