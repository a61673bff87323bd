"""Judging what a CoAP service gives a client that holds no credential.

The rules are about what the device did. A write it answered 2.04 Changed (or 2.01 Created) is
accepted, whatever the profile says about authentication. A refusal counts only in the
protocol's words for refused access (4.01, 4.03, 4.05). A 4.00 or 4.15 refuses the value, not
the client, so it proves nothing either way. Secrets or configuration served to anyone are
found by the same field rules as on web pages. Reading sensor values is not a finding; serving
a password, key or community is. Over DTLS, a handshake refused to a client without a
credential shows that only credential holders reach the resources. A handshake that completes
for anyone moves access control inside, where no probe without a key can look.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judgement.disclosure import coap_served_fields
from harness.judgement.web_access import exposed_secrets
from harness.observation.probes.coap import CoapObservation
from harness.observation.probes.dtls import DtlsOutcome
from harness.record.verdict import Verdict

FIX_WRITE = ("Require authentication for every CoAP request that changes state: serve CoAP only over DTLS (or "
             "OSCORE) with per-unit credentials, and refuse PUT/POST/DELETE from clients without them (4.01).")
FIX_SECRETS = "Never serve configuration or secrets over CoAP to a client that has not authenticated."


@dataclass
class CoapFinding:
    verdict: Verdict
    rule: str
    path: str
    reason: str
    fix: str | None = None


def judge_reads(seen: CoapObservation) -> list[CoapFinding]:
    out = []
    for path, fields in coap_served_fields(seen).items():
        names = exposed_secrets(fields)
        if names:
            out.append(CoapFinding(Verdict.FAIL, "coap.secrets_served", path,
                                   f"GET {path} without credentials serves {', '.join(names[:6])}", FIX_SECRETS))
    return out


def judge_writes(attempts: list[dict]) -> list[CoapFinding]:
    out = []
    for a in attempts:
        if a.get("skipped"):
            continue
        outcome, path = a.get("outcome"), a["path"]
        if outcome == "accepted":
            if a["method"] == "PUT":
                proof = "; a marker written after it was read back" if a.get("took_effect") else ""
                what = (f"PUT {path} without credentials was accepted ({a['put_same_value']['code']} for the value it "
                        f"already held{proof})")
                rule = "coap.write_without_credentials"
            else:
                what = f"a PUT creating {path} without credentials was accepted ({a['put']['code']})"
                rule = "coap.create_without_credentials"
            if a.get("restored") is False:
                what += f". The original could NOT be proven restored: check {path} on the unit"
            out.append(CoapFinding(Verdict.FAIL, rule, path, what, FIX_WRITE))
        elif outcome == "undetermined" or (outcome == "absent" and a["method"] == "PUT"):
            # a 4.04 to a PUT of a resource that was just read says nothing about who may write it
            code = (a.get("put_same_value") or a.get("put") or {}).get("code")
            why = a.get("error") or f"answered {code}, which refuses the request, not the client"
            out.append(CoapFinding(Verdict.INCONCLUSIVE, "coap.write_without_credentials", path,
                                   f"PUT {path} without credentials: {why}"))
    return out


def judge_dtls(outcome: DtlsOutcome, label: str) -> CoapFinding:
    if outcome.outcome == "refused":
        return CoapFinding(Verdict.PASS, "coap.dtls_admits_only_credential_holders", label,
                           f"{label}: CoAP over DTLS; {outcome.detail}, so only clients holding the DTLS credential "
                           "reach its resources")
    if outcome.outcome == "completed":
        return CoapFinding(Verdict.INCONCLUSIVE, "coap.dtls_admits_only_credential_holders", label,
                           f"{label}: {outcome.detail}: DTLS encrypts but admits anyone, so access control rests on "
                           "the CoAP layer inside, which no probe without a DTLS client credential can reach; "
                           "attest how requests are authorised, or require a client credential in the handshake")
    return CoapFinding(Verdict.INCONCLUSIVE, "coap.dtls_admits_only_credential_holders", label,
                       f"{label}: {outcome.detail}; nothing can be judged")
