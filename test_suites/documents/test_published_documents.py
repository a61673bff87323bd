"""What the manufacturer publishes (JC-STAR S1.1-05, S1.1-07, S1.1-16; NIST IR 8259B Information and
Query Reception): the documents are fetched as evidence and judged by what they state, by the rules
the catalog keeps for each requirement.

Nothing declared and nothing served at the standard location is a FAIL with what to publish: a
requirement about publishing is not met by publishing nothing. A declared document the harness
could not read (unreachable, a host name, a vendor network not allowed) is INCONCLUSIVE naming it,
never a PASS and never a FAIL. Every document read is kept with its SHA-256 and time.
"""

import re
from datetime import UTC, datetime

import pytest

from harness.declaration.profile import Protocol, TlsExpectation
from harness.judgement.documents import parse_security_txt, plain_text, stated, support_period
from harness.observation.probes.documents import FetchedDocument
from harness.record.verdict import fail

WHAT = {"contact": "a contact point", "first_response": "when a reporter first hears back",
        "status_updates": "that the reporter is kept informed until the issue is resolved"}
pytestmark = pytest.mark.method("document")

UNREAD_FIX = ("Make the document reachable from the lab, or save it and give it as a file next to the profile "
              "(urls.<document>: path); it is judged the same way.")


def web_services(profile):
    """(unit, port, tls) of every declared web service: where RFC 9116 says security.txt lives."""
    for unit in profile.units:
        for s in profile.services_for(unit):
            if s.protocol in (Protocol.HTTP, Protocol.HTTPS):
                yield unit, s.port, s.protocol is Protocol.HTTPS or s.tls is TlsExpectation.REQUIRED


def security_txts(profile, observations) -> tuple[list[FetchedDocument], list[FetchedDocument]]:
    """(the declared security.txt, if any; what each declared web service answered at RFC 9116's
    standard location): one observation each, shared by every check that asks."""
    declared = [observations.document("security_txt", profile.urls.security_txt)] if profile.urls.security_txt else []
    return declared, [observations.security_txt(u, port, tls) for u, port, tls in web_services(profile)]


def kept(evidence, doc: FetchedDocument, name: str) -> str:
    """The document as read, beside its record (observations/_documents/…): the file an assessor opens."""
    return evidence.write_text(name, doc.text)


def unread(findings, doc: FetchedDocument, rule: str) -> None:
    findings.inconclusive(f"the {doc.kind.replace('_', ' ')} {doc.source} could not be read: "
                          f"{doc.detail or doc.outcome}",
                          target=doc.source, rule=rule, fix=UNREAD_FIX)


@pytest.mark.requirements("S1.1-05", "NT-IQR", "5.2-1", "8425-IQR", "PSTI-2")
def test_disclosure_policy(profile, observations, catalogs, findings, evidence):
    rule = catalogs.get("S1.1-05").rule
    urls = profile.urls
    declared = [observations.document("vulnerability_disclosure_policy", urls.vulnerability_disclosure_policy)] \
        if urls.vulnerability_disclosure_policy else []
    sectxts, standard = security_txts(profile, observations)
    sectxts += [d for d in standard if d.found]
    unreadable = [d for d in standard if d.outcome in ("unreachable", "out-of-scope")]

    contacts: list[str] = []
    linked: list[FetchedDocument] = []
    for n, doc in enumerate(sectxts):
        if not doc.found:
            unread(findings, doc, "documents.security_txt")
            continue
        path = kept(evidence, doc, f"security-txt-{n}.txt")
        st = parse_security_txt(doc)
        if not st.valid:
            findings.fail(f"{doc.source} is not a valid security.txt (RFC 9116): {'; '.join(st.errors)}",
                          target=doc.source, rule="documents.security_txt", evidence=[path],
                          fix="Serve a security.txt with a Contact and an Expires date in the future (RFC 9116); "
                          "renew it before it expires.")
            continue
        findings.passed(f"{doc.source}: valid security.txt; contact {', '.join(st.contacts)}; expires {st.expires}",
                        target=doc.source, rule="documents.security_txt", evidence=[path])
        contacts += st.contacts
        linked += [observations.linked_document("vulnerability_disclosure_policy", url) for url in st.policies
                   if url != urls.vulnerability_disclosure_policy and url not in {d.source for d in linked}]

    complete, incomplete, read_any = [], [], False
    for n, doc in enumerate(declared + linked):
        if not doc.found:
            unread(findings, doc, "documents.disclosure_policy")
            continue
        read_any = True
        path = kept(evidence, doc, f"disclosure-policy-{n}.txt")
        said = {s.name: s.found for s in stated(plain_text(doc), rule, list(WHAT))}
        if not said["contact"] and contacts:
            said["contact"] = f"{contacts[0]} (its security.txt)"
        missing = [name for name, found in said.items() if not found]
        (incomplete if missing else complete).append((doc, said, missing, path))
    if complete:  # one complete policy meets the requirement; an older incomplete copy does not undo it
        doc, said, _, path = complete[0]
        findings.passed(f"{doc.source} states a contact ({said['contact']}), a first response "
                        f"({said['first_response']}) and status updates ({said['status_updates']})",
                        target=doc.source, rule="documents.disclosure_policy", evidence=[path])
    elif incomplete:
        for doc, _, missing, path in incomplete:
            findings.fail(f"{doc.source} does not state {', '.join(WHAT[m] for m in missing)}",
                          target=doc.source, rule="documents.disclosure_policy", evidence=[path],
                          fix="State in the policy where to report a vulnerability (an e-mail address or form), "
                          "within how many days the reporter hears back, and that they will be kept informed "
                          "until it is fixed.")
    elif not read_any:  # no policy document was read
        if any(not d.found for d in declared + linked + sectxts):
            return  # a declared document could not be read: its INCONCLUSIVE finding stands
        where = " (asked: " + ", ".join(d.source for d in standard) + ")" if standard else ""
        if unreadable and not sectxts:
            findings.inconclusive("no policy is declared, and the units' /.well-known/security.txt could not be "
                                  "asked: " + "; ".join(d.detail for d in unreadable), target=profile.identity.model,
                                  rule="documents.disclosure_policy", fix=UNREAD_FIX)
        elif contacts:
            fail("a security.txt gives a contact, but no published policy says when a reporter hears back or "
                 "that they are kept informed", target=profile.identity.model, rule="documents.disclosure_policy",
                 fix="Publish a vulnerability disclosure policy, link it from security.txt (Policy:), and declare "
                 "it in urls.vulnerability_disclosure_policy.")
        else:
            fail("no vulnerability disclosure policy is published: the profile declares none and no unit serves "
                 f"a valid /.well-known/security.txt{where}", target=profile.identity.model,
                 rule="documents.disclosure_policy",
                 fix="Publish how to report a vulnerability (contact, first-response time, status updates), "
                 "declare it in urls.vulnerability_disclosure_policy, and serve a security.txt (RFC 9116).")


@pytest.mark.requirements("S1.1-07", "5.3-3", "8425-EDU")
def test_update_procedure(profile, observations, catalogs, findings, evidence):
    rule = catalogs.get("S1.1-07").rule
    refs = [(kind, ref) for kind, ref in (("update_procedure", profile.urls.update_procedure),
                                          ("user_manual", profile.urls.user_manual)) if ref]
    if not refs:
        fail("nothing published tells users how updates are applied: the profile declares no update procedure "
             "or user manual", target=profile.identity.model, rule="documents.update_procedure",
             fix="Publish how updates are applied (automatic, app, the device's menu or web page, or download) "
             "and declare it in urls.update_procedure.")
    judge_statements(observations, evidence, findings, refs, rule, ["updates", "how"],
                     what="how updates are applied", rule_id="documents.update_procedure",
                     fix="Say how updates reach the device: automatically, through the app, from its menu or web page, "
                     "or by download from your site.")


def judge_statements(observations, evidence, findings, refs, rule, names, what, rule_id, fix) -> None:
    """PASS when one of the declared documents states everything `names` asks (by the catalog's
    patterns); otherwise a FAIL per document read, naming what it leaves out. An unreadable one is
    INCONCLUSIVE on its own, so it can never pass for a document that said nothing."""
    results = []
    for kind, ref in refs:
        doc = observations.document(kind, ref)
        if not doc.found:
            unread(findings, doc, rule_id)
            continue
        path = kept(evidence, doc, f"{kind}.txt")
        said = {s.name: s.found for s in stated(plain_text(doc), rule, names)}
        results.append((doc, said, path))
    explained = [(d, s, p) for d, s, p in results if all(s.values())]
    if explained:
        doc, said, path = explained[0]
        findings.passed(f"{doc.source} says {what} ({' ... '.join(said[n] for n in names)})",
                        target=doc.source, rule=rule_id, evidence=[path])
    elif results:
        for doc, said, path in results:
            missing = [n.replace("_", " ") for n in names if not said[n]]
            findings.fail(f"{doc.source} does not say {what} (nothing on: {', '.join(missing)})", target=doc.source,
                          rule=rule_id, evidence=[path], fix=fix)


def declared(profile, *kinds: str) -> list[tuple[str, str]]:
    return [(k, getattr(profile.urls, k)) for k in kinds if getattr(profile.urls, k)]


@pytest.mark.requirements("6-1")
def test_privacy_information(profile, observations, catalogs, findings, evidence):
    refs = declared(profile, "privacy", "user_manual")
    if not refs:
        fail("no privacy information is published: the profile declares no privacy notice (urls.privacy) or manual",
             target=profile.identity.model, rule="documents.privacy_information",
             fix="Publish what personal data the product and its services process, why, and who else receives it, "
             "and declare it in urls.privacy.")
    judge_statements(observations, evidence, findings, refs, catalogs.get("6-1").rule,
                     ["personal_data", "purpose", "recipients"],
                     what="what personal data is processed, why and by whom", rule_id="documents.privacy_information",
                     fix="State what personal data is processed, for what purpose, and which third parties get it.")


@pytest.mark.requirements("5.11-3")
def test_data_deletion_instructions(profile, observations, catalogs, findings, evidence):
    refs = declared(profile, "data_deletion", "user_manual", "privacy")
    if not refs:
        fail("nothing published tells users how to erase their data: the profile declares no deletion instructions "
             "(urls.data_deletion), manual or privacy notice", target=profile.identity.model,
             rule="documents.data_deletion_instructions",
             fix="Publish how a user erases their data from the device (e.g. the factory reset) and from your "
             "services, and declare it in urls.data_deletion.")
    judge_statements(observations, evidence, findings, refs, catalogs.get("5.11-3").rule, ["erase", "how"],
                     what="how users erase their data", rule_id="documents.data_deletion_instructions",
                     fix="Say how a user erases their data and settings: the reset steps, and how to delete the "
                     "account and its data from your services.")


@pytest.mark.requirements("S1.1-16", "5.3-13", "8425-DIS", "PSTI-3")
def test_support_period(profile, observations, catalogs, findings, evidence):
    rule = catalogs.get("S1.1-16").rule
    ref = profile.urls.support_period
    if not ref:
        fail("no support period is published: the profile declares none (urls.support_period)",
             target=profile.identity.model, rule="documents.support_period",
             fix="Publish, where buyers see it before they buy, until when (a date) or for how long security "
             "updates are provided, and declare the page in urls.support_period.")
    doc = observations.document("support_period", ref)
    if not doc.found:
        unread(findings, doc, "documents.support_period")
        return
    path = kept(evidence, doc, "support-period.txt")
    text = plain_text(doc)
    period = support_period(text, rule)
    today = datetime.now(UTC).date()
    if period.ends and period.ends < today:
        findings.fail(f"{doc.source}: the support period ended on {period.ends.isoformat()} (\"{period.sentence}\")",
                      target=doc.source, rule="documents.support_period", evidence=[path],
                      fix="Extend the support period and publish the new end date, or tell buyers support has ended.")
    elif period.ends:
        findings.passed(f"{doc.source}: security updates until {period.ends.isoformat()} (\"{period.sentence}\")",
                        target=doc.source, rule="documents.support_period", evidence=[path])
    elif period.duration:
        findings.passed(f"{doc.source}: security updates for {period.duration} (\"{period.sentence}\")",
                        target=doc.source, rule="documents.support_period", evidence=[path])
    else:
        findings.fail(f"{doc.source} states no end date or period for security updates", target=doc.source,
                      rule="documents.support_period", evidence=[path],
                      fix="State until when (a date) or for how long after purchase security updates are provided.")
    # how to reach the manufacturer: this page, or any other published document the run read
    others = [observations.document("vulnerability_disclosure_policy", profile.urls.vulnerability_disclosure_policy)] \
        if profile.urls.vulnerability_disclosure_policy else []
    for candidate in [doc, *others]:
        m = candidate.found and re.search(str(rule["contact"]), plain_text(candidate), re.IGNORECASE)
        if m:
            findings.passed(f"{candidate.source} says how to reach the manufacturer ({m.group(0)[:80]})",
                            target=doc.source, rule="documents.contact")
            return
    declared_txt, standard = security_txts(profile, observations)
    for candidate in (d for d in declared_txt + standard if d.found):
        st = parse_security_txt(candidate)
        if st.valid and st.contacts:
            findings.passed(f"{candidate.source} says how to reach the manufacturer ({st.contacts[0]})",
                            target=doc.source, rule="documents.contact")
            return
    findings.fail("no published document says how to reach the manufacturer", target=doc.source,
                  rule="documents.contact", fix="Give a contact (e-mail address, form or phone) on the support page.")
