"""Password guessing over the network must be impracticable (JC-STAR S1.1-04, the one ★1 item
IPA evaluates on a real device; ETSI EN 303 645 5.1-5). Measured, not asked: rounds of wrong
passwords followed by the right one find any lockout, the legitimate user's fate during it and the
recovery time; the verdict applies the rule in the S1.1-04 catalog entry. Class brute: runs only
with --allow brute, within the profile's caps on logins and time. Services found on undeclared
ports are measured too, with the default pair proven on them."""

import pytest

from harness.judgement.bruteforce import BruteForceRule, measure, needed_attempts
from harness.judgement.inventory import as_service, undeclared_ports
from harness.observation.credentials import default_credentials
from harness.observation.discovered import undeclared_name
from harness.observation.logins import probe_for
from harness.observation.probes.login import Unreachable
from harness.observation.protocols import LOGIN_PROTOCOLS
from harness.record.verdict import CaseEnded, fail, inconclusive, not_applicable, not_evaluated

FIX = ("Lock the account (or delay logins more and more) after a few failures, for long enough that "
       "guessing becomes impracticable.")


def proven_default(unit, label: str, observations) -> tuple[str, str, str] | None:
    """A default pair the default-password case proved on this very service (evidence from one
    case serves every requirement it bears on)."""
    for fact in observations.facts("default-credential-accepted", unit.name):
        if fact["endpoint"] == label:
            entry = next(e for e in default_credentials().entries if e.id == fact["entry"])
            return entry.username, entry.password, f"default pair '{entry.id}' that {fact['case']} proved"
    return None


def known_login(endpoint, observations) -> tuple[str, str, str] | None:
    """A password login known to work, to tell a lockout from a wrong password: the declared test
    account, or a proven default pair. A key account says nothing about passwords, so it does
    not count here."""
    account = endpoint.service.account
    if account is not None and not account.uses_key:
        return account.username, endpoint.unit.secrets[account.secret].reveal(), "the declared test account"
    return proven_default(endpoint.unit, endpoint.label, observations)


def _measure(probe, label: str, known: tuple[str, str, str], profile, catalogs, evidence, suffix: str = ""):
    """One measurement, its evidence written (`measurement{suffix}.json`, `attempts{suffix}.csv`)."""
    username, password, source = known
    raw = catalogs.get("S1.1-04").rule
    rule = BruteForceRule(
        max_guesses_per_day=float(raw["max_guesses_per_day"]),
        min_wrong_attempts=int(raw["min_wrong_attempts"]),
        max_consecutive_failures=int(raw["max_consecutive_failures"]),
        poll_interval_s=float(raw["poll_interval_s"]),
    )
    limits = profile.limits
    cap = limits.brute_force_max_attempts or needed_attempts(rule, limits.lockout_recovery_wait_s)
    m = measure(probe.attempt, username, password, rule, max_attempts=cap,
                max_seconds=limits.brute_force_max_seconds, recovery_wait_s=limits.lockout_recovery_wait_s)
    evidence.write_text(f"attempts{suffix}.csv", m.csv())
    evidence.write_json(f"measurement{suffix}.json", {
        "endpoint": label, "protocol": probe.protocol, "username": username, "known_login": source,
        "rule": raw, "caps": {"max_attempts": cap,
                              "max_attempts_from": "limits.brute_force_max_attempts"
                              if limits.brute_force_max_attempts else "what the rule's measurement needs",
                              "max_seconds": limits.brute_force_max_seconds,
                              "recovery_wait_s": limits.lockout_recovery_wait_s},
        **m.summary(),
    })
    return m


@pytest.mark.requirements("S1.1-04", "5.1-5", "8425-IAC")
@pytest.mark.probe_class("brute")
@pytest.mark.protocols(*LOGIN_PROTOCOLS)
def test_brute_force_resistance(endpoint, profile, guard, evidence, catalogs, observations, findings):
    probe = probe_for(guard, endpoint.address, endpoint.service, profile, endpoint.label)
    probe.probe_class = "brute"  # every login it sends is part of the measurement
    try:
        reason = probe.not_applicable()
    except Unreachable as e:
        inconclusive(f"{endpoint.label}: {e}")
    if reason:  # no password login on this service at all: the requirement's condition is absent
        not_applicable(f"{endpoint.label}: {reason}")
    known = known_login(endpoint, observations)
    if known is None:
        keyed = " (the declared account logs in with a key, which proves nothing about passwords)" if (
            endpoint.service.account is not None) else ""
        not_evaluated(f"{endpoint.label}: a password login exists, but no password login known to work{keyed}: "
                      "declare a test account with a password (services[].account.secret) so a lockout can be "
                      "told from a wrong password")
    m = _measure(probe, endpoint.label, known, profile, catalogs, evidence)
    if m.verdict == "FAIL":
        fail(f"{endpoint.label}: {m.reason}. {FIX}")
    if m.verdict != "PASS":
        inconclusive(f"{endpoint.label}: {m.reason}")
    findings.passed(f"{endpoint.label}: {m.reason}")  # what was measured: the lockout, or the bound it proved


@pytest.mark.requirements("S1.1-04", "5.1-5", "8425-IAC")
@pytest.mark.probe_class("brute")
def test_brute_force_on_undeclared_services(unit, profile, guard, evidence, catalogs, observations, findings,
                                           device_state):
    """An attacker guesses on whatever answers, declared or not: every undeclared port that speaks
    a login protocol is measured with the pair the default-password case proved on it."""
    logins = undeclared_ports(observations, unit, device_state, LOGIN_PROTOCOLS, " that speaks a login protocol")
    for port, proto in sorted(logins.items()):
        svc, label = as_service(unit, port, proto)
        findings.covers(undeclared_name("tcp", port))
        try:
            probe = probe_for(guard, unit.address, svc, profile, label)
            probe.probe_class = "brute"
            reason = probe.not_applicable()
        except CaseEnded as e:
            findings.add(e.verdict, e.reason, target=label)
            continue
        except Unreachable as e:
            findings.inconclusive(f"{label}: {e}", target=label)
            continue
        if reason:
            findings.not_applicable(f"{label}: {reason}", target=label)
            continue
        known = proven_default(unit, label, observations)
        if known is None:
            findings.not_evaluated(f"{label}: a password login exists on this undeclared service, but no login is "
                                   "known to work there; declare the service with a test account "
                                   "(services[].account) so a lockout can be told from a wrong password",
                                   target=label)
            continue
        m = _measure(probe, label, known, profile, catalogs, evidence, f"-{port}")
        if m.verdict == "FAIL":
            findings.fail(f"{label}: {m.reason}. {FIX}", target=label, rule="bruteforce.undeclared")
        elif m.verdict == "PASS":
            findings.passed(f"{label}: {m.reason}", target=label)
        else:
            findings.inconclusive(f"{label}: {m.reason}", target=label)
