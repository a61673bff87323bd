"""A procedure the profile declares over SSH (changing a password, resetting to factory state), run
step by step with each step recorded for the evidence, and the account's original password put
back whichever step failed: a check that leaves a unit on a password nobody knows has broken it."""

from __future__ import annotations

from typing import Any

from harness.declaration.profile import CredentialChange, DeviceProfile, Service, Unit
from harness.observation.probes.ssh import CommandResult, SshLoginProbe, SshUnreachable, run_command
from harness.observation.scope import ScopeGuard
from harness.record.verdict import not_applicable


def procedure_service(profile: DeviceProfile, unit: Unit, name: str, what: str) -> Service:
    """The declared service a procedure goes through (the profile validator proved it exists), or
    NOT_APPLICABLE when this unit does not expose it."""
    svc = next(s for s in profile.services if s.name == name)
    if svc not in profile.services_for(unit):
        not_applicable(f"{unit.name} does not expose the declared {what} service {svc.name!r}")
    return svc


class SshProcedure:
    def __init__(self, guard: ScopeGuard, unit: Unit, service: Service, profile: DeviceProfile) -> None:
        assert service.account is not None and service.account.secret is not None
        self.guard, self.unit, self.service = guard, unit, service
        self.username = service.account.username
        self.original = unit.secrets[service.account.secret].reveal()
        self.timeout = max(profile.limits.connect_timeout_s, 10.0)
        self.probe = SshLoginProbe(guard, unit.address, service.port, self.timeout)
        self.probe.probe_class = "intrusive"  # logins that serve the procedure, not default-credential tries
        self.steps: list[dict[str, Any]] = []

    def login(self, password: str, label: str) -> bool | None:
        a = self.probe.attempt(self.username, password)
        self.steps.append({"step": label, "accepted": a.accepted, "detail": a.detail})
        return a.accepted

    def run(self, password: str, command: str, label: str, stdin: str = "") -> CommandResult:
        r = run_command(self.guard, self.unit.address, self.service.port, self.username, password, command,
                        stdin=stdin, timeout=self.timeout)
        self.steps.append({"step": label, "command": command, "exit_status": r.exit_status,
                           "output": (r.stdout + r.stderr)[-400:]})
        return r

    def change_password(self, cc: CredentialChange, old: str, new: str, label: str) -> CommandResult:
        return self.run(old, cc.command, label, stdin=cc.input.format(old=old, new=new))

    def restore(self, cc: CredentialChange | None, temporary: str) -> bool:
        """Put the original password back, judging by what the unit accepts (never by a command's
        exit): if the original works nothing is left to do; if the temporary one does, change back
        and check the original is accepted again."""
        try:
            if self.login(self.original, "restore: original password in force?"):
                return True
            if cc is not None and self.login(temporary, "restore: temporary password in force?"):
                try:
                    self.change_password(cc, temporary, self.original, "restore: change back")
                except SshUnreachable as e:
                    self.steps.append({"step": "restore: change back", "error": str(e)})
                return bool(self.login(self.original, "restore: original password accepted again"))
        except SshUnreachable as e:
            self.steps.append({"step": "restore", "error": str(e)})
        return False
