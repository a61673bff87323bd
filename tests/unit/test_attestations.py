"""Operator attestations and the six catalogs: what only a person can judge is asked as a question,
answered from a file (CI, recorded sessions) or at a terminal, recorded with who, when, the note and
the attachment hashes, and labelled an attestation everywhere; unanswered it is NOT_EVALUATED "needs
operator answer" and the run neither blocks nor counts as incomplete. Every requirement of every
catalog is evaluated by a check or a question (no orphan), and every cross-walk entry resolves."""

import fcntl
import hashlib
import json
import os
import select
import subprocess
import sys
import termios
import time

import pytest

from harness.declaration.catalog import load_catalogs
from harness.declaration.questions import load_questions, unknown_requirements
from tests.conftest import ROOT, harness

SCHEMES = ["jc-star-1", "nist-ir-8259a", "nist-ir-8259b", "etsi-en-303-645", "nistir-8425", "uk-psti"]
SUITE = str(ROOT / "test_suites" / "attestations")
PROFILE = """
identity: {vendor: Acme, model: Cam100, firmware_version: "1.0"}
units: [{name: u1, address: 127.0.0.79}]
services: []
credentials: {kind: unique-per-unit}
schemes: [%s]
"""


def profile(tmp_path, schemes=SCHEMES) -> str:
    path = tmp_path / "profile.yaml"
    path.write_text(PROFILE % ", ".join(schemes))
    return str(path)


def answers(tmp_path, body: str) -> str:
    (tmp_path / "photos").mkdir(exist_ok=True)
    (tmp_path / "photos" / "label.jpg").write_bytes(b"\xff\xd8 a photo of the label \xff\xd9")
    path = tmp_path / "answers.yaml"
    path.write_text(body)
    return str(path)


GOOD = """
answered_by: "Hanako Sato, QA"
answered_at: 2026-12-01T10:00:00+09:00
answers:
  model-label:
    answer: PASS
    note: model and serial printed on the base label
    attachments: [photos/label.jpg]
  debug-interfaces:
    answer: FAIL
    note: UART pads J3 give a root shell at 115200 baud without a password
  sensing-capabilities:
    answer: NOT_APPLICABLE
    note: the product has no camera, microphone or location sensor
"""


def run(tmp_path, *extra, schemes=SCHEMES):
    out = tmp_path / "bundle"
    r = harness("run", "--profile", profile(tmp_path, schemes), "--out", str(out), "--suite", SUITE, *extra)
    assert (out / "results.json").exists(), r.stderr
    return r, json.loads((out / "results.json").read_text()), out


# ---------------------------------------------------------------- catalogs
@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_requirement_of_any_catalog_is_orphaned(scheme):
    r = harness("catalog", "coverage", "--scheme", scheme, "--json")
    assert r.returncode == 0, r.stdout[-2000:]
    rows = json.loads(r.stdout)
    assert rows["orphans"] == []
    for row in rows["requirements"]:
        assert row["checks"] or row["questions"], row
        # a requirement the catalog evaluates by attestation has a question, never only a device check
        if row["method"] == "attestation":
            assert row["questions"], row


def test_coverage_prints_method_checks_and_questions():
    r = harness("catalog", "coverage", "--scheme", "etsi-en-303-645")
    assert r.returncode == 0
    assert "5.1-5" in r.stdout and "check     credentials.brute_force" in r.stdout
    assert "question  debug-interfaces" in r.stdout and "orphans: none" in r.stdout


def test_an_orphan_is_named_and_fails(tmp_path):
    (tmp_path / "extra.yaml").write_text("""
scheme: lab-extra
title: A lab's own scheme
edition: "1"
source: the lab
requirements:
  - {id: LAB-1, title: Something nobody checks, explanation: "A requirement no check or question evaluates.",
     method: device-test, automated: false, evidence: none yet, source: the lab}
""")
    env = {**os.environ, "IOT_HARNESS_CATALOGS": str(tmp_path)}
    r = harness("catalog", "coverage", "--scheme", "lab-extra", env=env)
    assert r.returncode == 1 and "ORPHAN" in r.stdout and "orphans: LAB-1" in r.stdout


def test_every_crosswalk_entry_and_question_resolves():
    cats = load_catalogs()
    assert set(SCHEMES) <= set(cats.by_scheme)
    missing = []
    for cat in cats.by_scheme.values():
        for req in cat.requirements:
            for target, ids in req.crosswalk.by_scheme().items():
                known = {r.id for r in cats.by_scheme[target].requirements}
                missing += [f"{req.id} -> {target}:{i}" for i in ids if i not in known]
    assert missing == []
    assert unknown_requirements(load_questions(), cats) == []
    en = cats.by_scheme["etsi-en-303-645"].requirements
    assert len(en) == 68 and all(r.status for r in en)
    assert {r.id for r in cats.by_scheme["uk-psti"].requirements} == {"PSTI-1", "PSTI-2", "PSTI-3", "PSTI-SOC"}


def test_questions_print_as_an_answers_file_to_fill_in():
    r = harness("catalog", "questions", "--scheme", "uk-psti")
    assert r.returncode == 0
    assert "answered_by:" in r.stdout and "statement-of-compliance:" in r.stdout and "debug-interfaces" not in r.stdout


# ---------------------------------------------------------------- answers
def test_answers_file_evaluates_and_records_who_when_and_attachments(tmp_path):
    r, res, out = run(tmp_path, "--answers", answers(tmp_path, GOOD))
    cases = {c["id"].split("[")[1].rstrip("]"): c for c in res["cases"]}
    assert cases["model-label"]["verdict"] == "PASS" and cases["model-label"]["method"] == "attestation"
    assert cases["debug-interfaces"]["verdict"] == "FAIL"
    assert cases["sensing-capabilities"]["verdict"] == "NOT_APPLICABLE"
    label = cases["model-label"]
    record = json.loads((out / next(p for p in label["evidence"] if p.endswith("attestation.json"))).read_text())
    assert record["answered_by"] == "Hanako Sato, QA" and record["answered_at"].startswith("2026-12-01T10:00:00")
    sha = hashlib.sha256((tmp_path / "answers.yaml").read_bytes()).hexdigest()
    assert sha in record["source"]
    att = record["attachments"][0]
    assert att["sha256"] == hashlib.sha256((tmp_path / "photos/label.jpg").read_bytes()).hexdigest()
    assert (out / att["bundle_path"]).read_bytes() == (tmp_path / "photos/label.jpg").read_bytes()
    reqs = {q["id"]: q for q in res["requirements"]}
    # one answer counts for every requirement its question names, labelled an attestation
    assert reqs["5.6-4"]["verdict"] == "FAIL" and reqs["5.6-4"]["evaluated_by"] == ["attestation"]
    assert reqs["DI-2"]["verdict"] == reqs["5.3-16"]["verdict"] == "PASS"
    assert reqs["5.8-3"]["verdict"] == "NOT_APPLICABLE"
    assert "UART pads J3" in cases["debug-interfaces"]["reason"]
    assert r.returncode == 1  # a FAIL answer is a FAIL
    # the bundle verifies, attachments and answers included
    v = harness("bundle", "verify", str(out))
    assert v.returncode == 0, v.stdout + v.stderr
    manifest = json.loads((out / "manifest.json").read_text())["attestations"]
    assert manifest["answered"] == 3 and manifest["asked"] > 3 and manifest["answers_file_sha256"] == sha
    # every scheme gets its own verdict table
    for scheme in SCHEMES:
        assert f"\n{scheme}  " in r.stdout
    assert "attested" in r.stdout
    html = (out / "reports" / "report.html").read_text()
    assert "operator attestation" in html.lower()


def test_without_answers_the_questions_are_not_evaluated_and_the_run_goes_on(tmp_path):
    r, res, _ = run(tmp_path, schemes=["jc-star-1"])
    att = [c for c in res["cases"] if c["method"] == "attestation"]
    assert att and all(c["verdict"] == "NOT_EVALUATED" and c["gated_by"] == "operator-answer" for c in att)
    assert all("needs operator answer" in c["reason"] for c in att)
    s11 = next(q for q in res["requirements"] if q["id"] == "S1.1-11")
    assert s11["verdict"] == "NOT_EVALUATED" and any("needs operator answer" in n for n in s11["notes"])
    assert res["summary"]["incomplete_requirements"] == [] and r.returncode == 0
    assert "need an operator answer (--answers FILE, or --ask at a terminal)" in r.stdout
    # only the questions bearing on the run's schemes are asked
    assert not any(c["id"].endswith("[statement-of-compliance]") for c in att)


@pytest.mark.parametrize("body, said", [
    ("answered_by: QA\nanswers:\n  no-such-question: {answer: PASS}\n", "no question has the id(s) no-such-question"),
    ("answered_by: QA\nanswers:\n  debug-interfaces: {answer: NOT_APPLICABLE}\n", "needs a note saying why"),
    ("answered_by: QA\nanswers:\n  debug-interfaces: {answer: MAYBE}\n", "answers.debug-interfaces.answer"),
    ("answered_by: QA\nanswers:\n  model-label: {answer: PASS, attachments: [gone.jpg]}\n",
     "attachment 'gone.jpg' cannot be read"),
    ("answers: {}\n", "answered_by"),
])
def test_a_bad_answers_file_is_refused_naming_the_problem(tmp_path, body, said):
    r = harness("run", "--profile", profile(tmp_path), "--out", str(tmp_path / "b"), "--suite", SUITE,
                "--answers", answers(tmp_path, body))
    assert r.returncode == 2 and said in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "b" / "results.json").exists()


# ---------------------------------------------------------------- the terminal
def test_ask_without_a_terminal_is_refused_up_front(tmp_path):
    r = harness("run", "--profile", profile(tmp_path), "--out", str(tmp_path / "b"), "--suite", SUITE, "--ask",
                start_new_session=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--ask needs a terminal" in r.stderr and "--answers FILE" in r.stderr


def test_ask_at_a_real_terminal_records_the_typed_answers(tmp_path):
    leader, follower = os.openpty()

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    argv = ["run", "--profile", profile(tmp_path, ["uk-psti"]), "--out", str(tmp_path / "b"), "--suite", SUITE,
            "--ask", "--operator", "Taro at bench 3"]
    proc = subprocess.Popen([sys.executable, "-m", "harness.run.cli", *argv], cwd=tmp_path, stdin=follower,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=controlling_terminal)
    os.close(follower)
    typed = iter([b"p\n", b"keys made by the TRNG\n", b"\n", b"x\n", b"n\n", b"short\n",
                  b"no statement exists for lab units\n", b"photos/label.jpg\n"])
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "label.jpg").write_bytes(b"label")
    seen, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        seen += chunk
        if chunk.rstrip().endswith((b":", b"]:")):
            os.write(leader, next(typed, b"\n"))
    proc.communicate(timeout=60)
    os.close(leader)
    text = seen.decode(errors="replace")
    assert "password-generation" in text and "please type p, f, n or s" in text and "needs a note" in text
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    cases = {c["id"].split("[")[1].rstrip("]"): c for c in res["cases"]}
    assert cases["password-generation"]["verdict"] == "PASS"
    said = cases["password-generation"]["reason"]
    assert "Taro at bench 3" in said and "terminal" in said
    assert cases["statement-of-compliance"]["verdict"] == "NOT_APPLICABLE"
    soc = json.loads((tmp_path / "b" / next(p for p in cases["statement-of-compliance"]["evidence"]
                                           if p.endswith("attestation.json"))).read_text())
    assert soc["source"] == "terminal" and soc["attachments"][0]["given_as"] == "photos/label.jpg"


def test_an_unanswered_fallback_question_does_not_hold_back_what_its_check_decided():
    from datetime import date

    from harness.declaration.catalog import load_catalogs
    from harness.declaration.profile import DeviceProfile
    from harness.record.results import CaseResult, requirement_results
    from harness.record.verdict import Verdict

    profile = DeviceProfile.model_validate({
        "identity": {"vendor": "A", "model": "M", "firmware_version": "1"},
        "units": [{"name": "u1", "address": "127.0.0.79"}], "credentials": {"kind": "unique-per-unit"},
        "schemes": ["jc-star-1"]})
    question = CaseResult(id="attestations.operator_answer[data-deletion]", check="attestations.operator_answer",
                          verdict=Verdict.NOT_EVALUATED, requirements=["S1.1-14"], method="attestation",
                          gated_by="operator-answer", fallback_for=["reset.factory_reset_erases_user_data"])

    def s114(reset_verdict):
        reset = CaseResult(id="reset.factory_reset_erases_user_data[u1]", check="reset.factory_reset_erases_user_data",
                           verdict=reset_verdict, requirements=["S1.1-14"])
        reqs = requirement_results([reset, question], load_catalogs(), profile, ["jc-star-1"], date.today())
        return next(r for r in reqs if r.id == "S1.1-14")

    passed = s114(Verdict.PASS)
    assert passed.verdict == "PASS" and passed.evaluated_by == ["device-test"]
    assert not any("needs operator answer" in n for n in passed.notes)
    # the reset could not run (no factory_reset declared): the question is what is left, and it is open
    untested = s114(Verdict.NOT_EVALUATED)
    assert untested.verdict == "NOT_EVALUATED" and any("needs operator answer" in n for n in untested.notes)
