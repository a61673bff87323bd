"""Judging a TLS observation against a TLS policy: one violation per broken rule, each citing
the clause it rests on, so an assessor can check the verdict against the document itself."""

from __future__ import annotations

import datetime as dt
import re

from harness.judgement.policies import TlsPolicy, Violation
from harness.observation.probes.tls import TlsObservation, names_match

VULNERABILITY_TEXT = {
    "heartbleed": "vulnerable to Heartbleed: memory of the device can be read remotely",
    "ccs_injection": "vulnerable to OpenSSL CCS injection: traffic can be decrypted by a man in the middle",
    "robot": "vulnerable to ROBOT: RSA key exchange can be decrypted with an oracle attack",
    "insecure_renegotiation": "does not support secure renegotiation (RFC 5746)",
    "client_renegotiation_dos": "accepts client-initiated renegotiation (a cheap denial of service)",
    "compression": "TLS compression is enabled (CRIME)",
    "fallback_scsv": "versions below TLS 1.2 are enabled without downgrade protection (TLS_FALLBACK_SCSV)",
}


# Key exchange without forward secrecy, read from the IANA suite name: RSA key transport
# (TLS_RSA_WITH_*, TLS_RSA_EXPORT_*), static (EC)DH (TLS_DH_*, TLS_ECDH_* without the E of
# "ephemeral"), pre-shared keys alone (TLS_PSK_*, TLS_RSA_PSK_*). TLS 1.3 suites carry no key exchange.
_STATIC_KEX = re.compile(r"^TLS_(RSA|RSA_EXPORT|DH|ECDH|PSK|RSA_PSK|KRB5)_")


def static_key_exchange(suite: str) -> bool:
    return _STATIC_KEX.match(suite) is not None


def evaluate(
    obs: TlsObservation, policy: TlsPolicy, server_names: list[str], now: dt.datetime | None = None
) -> list[Violation]:
    now = now or dt.datetime.now(dt.UTC)
    out: list[Violation] = []
    for version in obs.offered_versions:
        if version not in policy.protocols.allowed:
            out.append(Violation(f"tls.protocol.{version}", f"{version} is enabled", policy.protocols.source))
    allowed = set(policy.cipher_suites.allowed)
    for version, suites in obs.protocols.items():
        static = [s for s in suites if static_key_exchange(s)]
        if static:
            out.append(Violation(f"tls.key_exchange.{version}",
                                 f"{len(static)} {version} cipher suite(s) without forward secrecy (static key "
                                 f"exchange; recorded traffic decrypts with the server key): {', '.join(static)}",
                                 policy.key_exchange.source))
        if version not in policy.protocols.allowed:
            continue  # the version itself is the finding; its other suites would only repeat it
        bad = [s for s in suites if s not in allowed and not static_key_exchange(s)]
        if bad:
            out.append(
                Violation(
                    f"tls.cipher_suites.{version}",
                    f"{len(bad)} {version} cipher suite(s) outside the policy: {', '.join(bad)}",
                    policy.cipher_suites.source,
                )
            )
    if obs.groups:
        bad = [g for g in obs.groups if g not in policy.groups.allowed]
        if bad:
            out.append(Violation("tls.groups", f"key-exchange groups outside the policy: {', '.join(bad)}",
                                 policy.groups.source))
    out += _certificate(obs, policy, server_names, now)
    for name, vulnerable in obs.vulnerabilities.items():
        if vulnerable and name in policy.vulnerabilities:
            if name == "fallback_scsv" and not set(obs.offered_versions) - {"TLSv1.2", "TLSv1.3"}:
                continue  # nothing older to fall back to
            out.append(Violation(f"tls.vulnerability.{name}", VULNERABILITY_TEXT[name], policy.vulnerabilities[name]))
    return out


def _certificate(obs: TlsObservation, policy: TlsPolicy, names: list[str], now: dt.datetime) -> list[Violation]:
    rules = policy.certificate
    if not obs.chain:
        return [Violation("tls.certificate.missing", "no server certificate could be read", rules.source)]
    leaf = obs.chain[0]
    out: list[Violation] = []
    minimum = 0
    if leaf.key_type == "RSA":
        minimum = rules.min_rsa_bits
    elif leaf.key_type.startswith("EC"):
        minimum = rules.min_ec_bits
    if leaf.key_bits < minimum:
        out.append(Violation("tls.certificate.key_size",
                             f"{leaf.key_type} key of {leaf.key_bits} bits (minimum {minimum})", rules.source))
    if leaf.signature_hash and leaf.signature_hash not in rules.signature_hashes:
        out.append(Violation("tls.certificate.signature",
                             f"certificate signed with {leaf.signature_hash.upper()}", rules.source))
    not_before, not_after = dt.datetime.fromisoformat(leaf.not_before), dt.datetime.fromisoformat(leaf.not_after)
    if not_after < now:
        out.append(Violation("tls.certificate.expired", f"certificate expired on {not_after.date()}",
                             rules.validity_source))
    elif not_before > now:
        out.append(Violation("tls.certificate.not_yet_valid", f"certificate valid only from {not_before.date()}",
                             rules.validity_source))
    expiry_reported = any(v.rule.startswith(("tls.certificate.expired", "tls.certificate.not_yet")) for v in out)
    if obs.trusted is False and not (expiry_reported and "valid" in str(obs.validation_error)):
        out.append(Violation("tls.certificate.untrusted",
                             f"chain does not validate against the {obs.trust_anchor}: {obs.validation_error}",
                             rules.chain_source))
    if not names_match(leaf, obs.address, names):
        shown = ", ".join(leaf.san_ip + leaf.san_dns) or f"no subjectAltName (subject {leaf.subject})"
        out.append(Violation("tls.certificate.name",
                             f"certificate names {shown}, not {obs.address}"
                             + (f" or {', '.join(names)}" if names else ""), rules.name_source))
    return out
