"""No SSH service may accept a well-known default password (JC-STAR S1.1-02, NIST IR 8259A LA-2).

The list tried is public data (harness/data/default_credentials.yaml). Evidence cites each
pair by its entry id and never writes the password itself.
"""

import pytest

from harness.credentials import default_credentials, for_protocol
from harness.probes.ssh import SshUnreachable, server_info, try_password
from harness.verdict import fail, inconclusive, not_applicable


@pytest.mark.requirements("S1.1-02", "LA-2")
@pytest.mark.protocols("ssh")
def test_ssh_default_password(endpoint, profile, guard, evidence):
    timeout = profile.limits.connect_timeout_s
    try:
        info = server_info(guard, endpoint.address, endpoint.port, timeout)
    except SshUnreachable as e:
        inconclusive(f"{endpoint.label}: {e}")
    evidence.write_json(
        "server.json",
        {
            "endpoint": endpoint.label,
            "banner": info.banner,
            "host_key": {"type": info.host_key_type, "fingerprint": info.host_key_fingerprint},
            "auth_methods_offered": info.auth_methods,
        },
    )
    if not info.password_offered:
        not_applicable(
            f"{endpoint.label} does not offer password authentication "
            f"(offers: {', '.join(info.auth_methods) or 'nothing'})"
        )
    cap = profile.limits.max_login_attempts_per_service
    candidates = for_protocol("ssh")[:cap]
    attempts, accepted, accepted_users = [], [], set()
    for cred in candidates:
        if cred.username in accepted_users:
            continue  # one accepted pair per account is enough evidence; spare the device
        try:
            r = try_password(guard, endpoint.address, endpoint.port, cred.username, cred.password, timeout)
        except SshUnreachable as e:
            attempts.append({"entry": cred.id, "username": cred.username, "outcome": f"unreachable: {e}"})
            break
        attempts.append(
            {
                "entry": cred.id,
                "username": cred.username,
                "accepted": r.accepted,
                "outcome": r.detail,
                "seconds": r.seconds,
            }
        )
        if r.accepted:
            accepted.append(cred)
            accepted_users.add(cred.username)
    evidence.write_json(
        "attempts.json",
        {
            "endpoint": endpoint.label,
            "credential_list_version": default_credentials().version,
            "cap": cap,
            "tried": len(attempts),
            "success_criterion": "SSH user authentication succeeds (server sends USERAUTH_SUCCESS)",
            "password": "never recorded; see the entry id in harness/data/default_credentials.yaml",
            "attempts": attempts,
        },
    )
    if accepted:
        pairs = ", ".join(f"{c.username}/«redacted» (default-credential entry '{c.id}')" for c in accepted)
        fail(
            f"{endpoint.label} accepts a well-known default password: {pairs}. Give every unit its own "
            "random password, or make the user set one before the service is reachable."
        )
    decided = [a for a in attempts if "accepted" in a and not a["outcome"].startswith("connection failed")]
    if not decided:
        inconclusive(f"{endpoint.label}: no login attempt completed, so nothing can be concluded")
