"""A user must be able to change the credential (JC-STAR S1.1-03, NIST IR 8259A DC-1/DC-2,
ETSI EN 303 645 5.1-4). Follows the profile's declared procedure, proves the old password is then
refused and the new one accepted, and always puts the original password back, even when a step
fails midway. Intrusive: runs only with --allow intrusive."""

import secrets

import pytest

from harness.observation.procedure import SshProcedure, procedure_service
from harness.observation.recovery import keep_for_recovery
from harness.record.verdict import fail, inconclusive, not_evaluated


@pytest.mark.requirements("S1.1-03", "DC-1", "DC-2", "5.1-4", "8425-PC")
@pytest.mark.probe_class("intrusive")
def test_password_can_be_changed(unit, profile, guard, evidence, redactor):
    cc = profile.credential_change
    if cc is None:
        not_evaluated("the profile declares no credential_change procedure; describe how a user changes "
                      "the password (credential_change) so it can be tested")
    svc = procedure_service(profile, unit, cc.service, "change")
    proc = SshProcedure(guard, unit, svc, profile)
    old = proc.original
    new = "Chg-" + secrets.token_urlsafe(12)
    redactor.add(new)
    try:
        if not proc.login(old, "login with the original password"):
            inconclusive(f"{unit.name}: the declared account does not log in before the change")
        proc.change_password(cc, old, new, f"run {cc.command!r} through {svc.name}")
        new_ok = proc.login(new, "login with the new password")
        old_ok = proc.login(old, "login with the original password after the change")
    finally:
        restored = proc.restore(cc, new)
        evidence.write_json("change.json", {"unit": unit.name, "service": svc.name, "procedure": cc.command,
                                            "passwords": "never recorded", "steps": proc.steps,
                                            "original_restored": restored})
        if not restored:
            where = keep_for_recovery(unit.name, proc.username, new)
            pytest.fail(f"{unit.name}: the original password could not be restored; the temporary one is kept "
                        f"(mode 0600, outside the bundle) in {where}")
    if not (new_ok and old_ok is False):
        fail(f"{unit.name}: after {cc.command!r} the new password was {'accepted' if new_ok else 'refused'} "
             f"and the old one {'refused' if old_ok is False else 'still accepted'}: the change did not take.")
