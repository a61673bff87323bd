"""A user must be able to change the credential (JC-STAR S1.1-03, NIST IR 8259A DC-1/DC-2,
ETSI EN 303 645 5.1-4). Follows the profile's declared procedure, proves the old password is then
refused and the new one accepted, and always puts the original password back, even when a step
fails midway. Intrusive: runs only with --allow intrusive."""

import secrets

import pytest

from harness.observation.probes.ssh import SshLoginProbe, SshUnreachable, run_command
from harness.observation.recovery import keep_for_recovery
from harness.record.verdict import fail, inconclusive, not_applicable, not_evaluated


def _change(guard, unit, svc, cc, username, old, new, timeout):
    return run_command(guard, unit.address, svc.port, username, old, cc.command,
                       stdin=cc.input.format(old=old, new=new), timeout=timeout)


@pytest.mark.requirements("S1.1-03", "DC-1", "DC-2", "5.1-4", "8425-PC")
@pytest.mark.probe_class("intrusive")
def test_password_can_be_changed(unit, profile, guard, evidence, redactor):
    cc = profile.credential_change
    if cc is None:
        not_evaluated("the profile declares no credential_change procedure; describe how a user changes "
                      "the password (credential_change) so it can be tested")
    svc = next(s for s in profile.services if s.name == cc.service)
    if svc not in profile.services_for(unit):
        not_applicable(f"{unit.name} does not expose the declared change service {svc.name!r}")
    username, old = svc.account.username, unit.secrets[svc.account.secret].reveal()
    new = "Chg-" + secrets.token_urlsafe(12)
    redactor.add(new)
    timeout = max(profile.limits.connect_timeout_s, 10.0)
    probe = SshLoginProbe(guard, unit.address, svc.port, timeout)
    probe.probe_class = "intrusive"  # its logins serve the change procedure, not a default-credential try
    steps = []

    def login(password, label):
        a = probe.attempt(username, password)
        steps.append({"step": label, "accepted": a.accepted, "detail": a.detail})
        return a.accepted

    try:
        if not login(old, "login with the original password"):
            inconclusive(f"{unit.name}: the declared account does not log in before the change")
        r = _change(guard, unit, svc, cc, username, old, new, timeout)
        steps.append({"step": f"run {cc.command!r} through {svc.name}", "exit_status": r.exit_status,
                      "output": (r.stdout + r.stderr)[-400:]})
        new_ok = login(new, "login with the new password")
        old_ok = login(old, "login with the original password after the change")
    finally:
        restored = _restore(guard, unit, svc, cc, username, old, new, timeout, login, steps)
        evidence.write_json("change.json", {"unit": unit.name, "service": svc.name, "procedure": cc.command,
                                            "passwords": "never recorded", "steps": steps,
                                            "original_restored": restored})
        if not restored:
            where = keep_for_recovery(unit.name, username, new)
            pytest.fail(f"{unit.name}: the original password could not be restored; the temporary one is kept "
                        f"(mode 0600, outside the bundle) in {where}")
    if not (new_ok and old_ok is False):
        fail(f"{unit.name}: after {cc.command!r} the new password was {'accepted' if new_ok else 'refused'} "
             f"and the old one {'refused' if old_ok is False else 'still accepted'}: the change did not take.")


def _restore(guard, unit, svc, cc, username, old, new, timeout, login, steps) -> bool:
    """Put the original password back whichever step failed, judging by what the device accepts
    (never by the command's exit): if the original works, nothing is left to do; if the temporary
    one works, change back and check the original is accepted again."""
    try:
        if login(old, "restore: original password in force?"):
            return True
        if login(new, "restore: temporary password in force?"):
            try:
                r = _change(guard, unit, svc, cc, username, new, old, timeout)
                steps.append({"step": "restore: change back", "exit_status": r.exit_status})
            except SshUnreachable as e:
                steps.append({"step": "restore: change back", "error": str(e)})
            return bool(login(old, "restore: original password accepted again"))
    except SshUnreachable as e:
        steps.append({"step": "restore", "error": str(e)})
    return False
