"""What only a person can judge (a label on the casing, a debug header, the storage design, a
process), asked as questions and recorded as the operator's attestation.

An answer counts for every requirement its question names and is labelled an attestation wherever
it shows, never a device test: who gave it, when, from which answers file (with its hash) or the
terminal, the note and each attachment (copied into the bundle, with the hash of the file given)
are the evidence. Unanswered, the case is NOT_EVALUATED "needs operator answer" and the run goes
on: an attestation nobody gave is not a PASS, and waiting for one in CI would never end.
"""

import hashlib
from pathlib import PurePath

import pytest

from harness.record.verdict import Verdict, not_evaluated

pytestmark = pytest.mark.method("attestation")


def test_operator_answer(question, operator_answers, findings, evidence):
    given = operator_answers.get(question.id)
    if given is None:
        not_evaluated(f"needs operator answer: {question.asks} Give it under '{question.id}' in an answers file "
                      "(--answers FILE) or at a terminal (--ask).", target=question.id,
                      rule=f"attestation.{question.id}")
    stored = []
    for n, a in enumerate(given.attachments, 1):
        data = a.path.read_bytes()
        rel = evidence.write_bytes(f"attachment-{n}-{PurePath(a.name).name}", data)
        stored.append({"given_as": a.name, "sha256": a.sha256, "size": a.size, "bundle_path": rel,
                       "stored_sha256": hashlib.sha256((evidence.root / rel).read_bytes()).hexdigest()})
    record = evidence.write_json("attestation.json", {
        "question": question.id, "asks": question.asks, "pass_when": question.pass_when,
        "requirements": question.requirements, "answer": given.answer, "note": given.note,
        "answered_by": given.answered_by, "answered_at": given.answered_at, "source": given.source,
        "attachments": stored, "method": "operator attestation (not a device test)",
    })
    reason = f"operator attestation by {given.answered_by} ({given.answered_at}, {given.source.split(' (')[0]})"
    reason += f": {given.note}" if given.note else ""
    findings.add(Verdict(given.answer), reason, target=question.id, rule=f"attestation.{question.id}",
                 evidence=[record, *(s["bundle_path"] for s in stored)])
