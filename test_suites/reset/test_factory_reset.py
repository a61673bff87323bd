"""A factory reset erases what the user put on the unit and puts it back in its secure default
(JC-STAR S1.1-14 and S1.1-15, NIST IR 8259A DP-2 and DC-3, ETSI EN 303 645 5.11-1, NISTIR 8425
Data Protection and Product Configuration).

Follows the profile's declared reset (`factory_reset`, class `intrusive`): a fresh user setting
is planted and read back, the password is changed when the profile declares how (a user's
credential is user data too), the reset runs, and once the unit accepts its factory password
again the setting and the changed password must be gone. The second check then judges the state
the reset left: no interface of the unit may accept a well-known default password, and no port
the declaration does not name may be open. What could not be planted, or a unit that does not
come back within `settle_s`, is INCONCLUSIVE naming the step; never a PASS.
"""

import secrets
import time

import pytest

from harness.observation.logins import decided, parallelism, probe_for, try_defaults
from harness.observation.probes.portscan import ScanUnavailable
from harness.observation.probes.ssh import SshUnreachable
from harness.observation.procedure import SshProcedure, procedure_service
from harness.observation.protocols import LOGIN_PROTOCOLS
from harness.observation.recovery import keep_for_recovery
from harness.record.verdict import CaseEnded, inconclusive, not_evaluated

RESET_DONE = "factory-reset-done"
POLL_S = 2.0


def _declared(profile, unit):
    fr = profile.factory_reset
    if fr is None:
        not_evaluated("the profile declares no factory_reset: say how a user resets the product (the ssh service, "
                      "the command, and a user setting to plant and read) so that erasure can be tested")
    return fr, procedure_service(profile, unit, fr.service, "reset")


@pytest.mark.requirements("S1.1-14", "DP-2", "5.11-1", "8425-DP")
@pytest.mark.probe_class("intrusive")
def test_factory_reset_erases_user_data(unit, profile, guard, observations, evidence, findings, redactor,
                                        current_case):
    fr, svc = _declared(profile, unit)
    proc = SshProcedure(guard, unit, svc, profile)
    factory = proc.original
    canary = "canary-" + secrets.token_hex(8)
    changed = None  # the temporary password, while the unit holds it
    reset_ran = False
    try:
        if not proc.login(factory, "login with the factory password"):
            inconclusive(f"{unit.name}: the declared account does not log in with its factory password before the "
                         "reset")
        proc.run(factory, fr.canary_set.format(value=canary), "plant a user setting")
        if canary not in proc.run(factory, fr.canary_get, "read the setting back").stdout:
            inconclusive(f"{unit.name}: the setting planted with {fr.canary_set!r} could not be read back with "
                         f"{fr.canary_get!r}, so its erasure cannot be judged")
        current = factory
        cc = profile.credential_change
        if cc is not None and cc.service == svc.name:
            new = "Rst-" + secrets.token_urlsafe(12)
            redactor.add(new)
            proc.change_password(cc, factory, new, "change the password (user data the reset must erase)")
            if proc.login(new, "login with the changed password"):
                changed = current = new
        proc.run(current, fr.command, "run the declared factory reset")
        reset_ran = True
        deadline = time.monotonic() + fr.settle_s
        if changed is None:
            # nothing planted tells a finished reset from one still under way: give the unit the
            # time it is declared to need before looking, so a slow reset is never judged early
            time.sleep(fr.settle_s)
            deadline = time.monotonic() + max(fr.settle_s, 10.0)
        back = False
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            try:
                if proc.login(factory, "wait for the factory password to be accepted again"):
                    back = True
                    break
            except SshUnreachable:
                proc.steps.append({"step": "wait for the unit to come back", "detail": "not answering yet"})
        if not back:
            inconclusive(f"{unit.name} did not accept its factory password within {fr.settle_s:g} s of the reset "
                         "(factory_reset.settle_s)", fix="Raise settle_s if the product takes longer to reset.")
        observations.note(RESET_DONE, unit.name, current_case, at=time.time())
        left = proc.run(factory, fr.canary_get, "read the setting after the reset").stdout
        if canary in left:
            findings.fail(f"{unit.name}: the user setting planted before the reset is still there after it "
                          f"({fr.canary_get!r} still prints it)", target=unit.name, rule="reset.user_data_erased",
                          fix="Make the factory reset erase the user's settings and data, not just restart the "
                          "device.")
        else:
            findings.passed(f"{unit.name}: the user setting planted before the reset is gone after it",
                            target=unit.name, rule="reset.user_data_erased")
        if changed is not None:
            if proc.login(changed, "login with the changed password after the reset"):
                findings.fail(f"{unit.name}: the password the user set before the reset still logs in after it",
                              target=unit.name, rule="reset.credentials_erased",
                              fix="Make the factory reset put the factory credential back and forget the user's.")
            else:
                changed = None  # the unit is back on its factory password
                findings.passed(f"{unit.name}: the password set before the reset is refused after it; the "
                                "factory one is accepted", target=unit.name, rule="reset.credentials_erased")
    finally:
        evidence.write_json("reset.json", {"unit": unit.name, "service": svc.name, "reset": fr.command,
                                           "canary": canary, "passwords": "never recorded", "steps": proc.steps,
                                           "reset_ran": reset_ran})
        if changed is not None and not proc.restore(profile.credential_change, changed):
            where = keep_for_recovery(unit.name, proc.username, changed)
            pytest.fail(f"{unit.name}: the factory password could not be restored; the temporary one is kept "
                        f"(mode 0600, outside the bundle) in {where}")


@pytest.mark.requirements("S1.1-15", "DC-3", "8425-PC")
@pytest.mark.probe_class("intrusive")
def test_reset_restores_a_secure_default(unit, profile, guard, observations, evidence, findings, device_state):
    _declared(profile, unit)
    if not observations.facts(RESET_DONE, unit.name):
        not_evaluated(f"{unit.name} was not reset (the erasure check did not get that far): the state a reset "
                      "leaves cannot be judged")
    limits, results = profile.limits, []
    for svc in profile.services_for(unit):
        if str(svc.protocol) not in LOGIN_PROTOCOLS:
            continue
        label = f"{unit.name}:{svc.name}/{svc.port}"
        try:
            result = try_defaults(probe_for(guard, unit.address, svc, profile, label), label,
                                  limits.max_login_attempts_per_service, parallelism(profile),
                                  limits.max_default_attempts_per_account)
        except CaseEnded as e:
            findings.add(e.verdict, f"after the reset: {e.reason}", target=label, rule="reset.no_default_password")
            continue
        results.append(result)
        for a in result["all_accepted"]:
            findings.fail(f"after the reset, {label} accepts a well-known default password: {a['username']}/«redacted» "
                          f"(entry '{a['entry']}'): the reset restores an insecure default", target=label,
                          rule="reset.no_default_password",
                          fix="Make the factory state one with a per-unit password (or one the user must set), so a "
                          "reset never brings back a shared default.")
        if not result["all_accepted"]:
            if decided(result):
                findings.passed(f"after the reset, {label} accepts none of {result['tried']} well-known pair(s)",
                                target=label, rule="reset.no_default_password")
            else:
                findings.inconclusive(f"after the reset, no login attempt on {label} completed", target=label,
                                      rule="reset.no_default_password")
    try:
        scan = observations.tcp_scan_after_reset(unit)
    except ScanUnavailable as e:
        inconclusive(f"the port scan after the reset did not complete: {e}", target=unit.name,
                     rule="reset.no_extra_services")
    declared = {s.port for s in profile.services_for(unit, device_state) if str(s.transport) == "tcp"}
    extra = sorted(set(scan.open_ports) - declared)
    evidence.write_json("after-reset.json", {"unit": unit.name, "default_password_tries": results,
                                             "open_tcp_ports": scan.open_ports, "undeclared": extra})
    if extra:
        findings.fail(f"after the reset, {unit.name} has TCP port(s) {extra} open that the declaration does not name",
                      target=unit.name, rule="reset.no_extra_services",
                      fix="Ship the factory state with only the declared services enabled.")
    else:
        findings.passed(f"after the reset, {unit.name} opens only declared TCP ports", target=unit.name,
                        rule="reset.no_extra_services")
