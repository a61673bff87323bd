"""Every interface must refuse device functions and settings to a client that has not
authenticated (JC-STAR S1.1-01, NIST IR 8259A LA-2, ETSI EN 303 645 5.5-4/5.5-5): anonymous MQTT
subscribe/publish, a telnet shell without login, SSH's 'none' method, anonymous FTP. Web services
are judged on their whole surface, every method, by test_web_access."""

import pytest

from harness.observation.logins import probe_for
from harness.observation.probes.login import Unreachable
from harness.observation.protocols import LOGIN_PROTOCOLS
from harness.record.verdict import fail, inconclusive


@pytest.mark.requirements("S1.1-01", "LA-2")
@pytest.mark.protocols(*(p for p in LOGIN_PROTOCOLS if p not in ("http", "https")))
def test_no_unauthenticated_access(endpoint, profile, guard, evidence):
    probe = probe_for(guard, endpoint.address, endpoint.service, profile, endpoint.label)
    try:
        access = probe.anonymous_access()
    except Unreachable as e:
        inconclusive(f"{endpoint.label}: {e}")
    evidence.write_json("access.json", {
        "endpoint": endpoint.label, "protocol": str(endpoint.service.protocol),
        "declared_authentication": str(endpoint.service.authentication),
        "refused": access.refused, "detail": access.detail, "observations": access.observations,
    })
    if access.refused is False:
        fail(f"{endpoint.label} lets clients in without credentials: {access.detail}. Require authentication "
             "on every interface that exposes device functions or settings.")
    if access.refused is None:
        inconclusive(f"{endpoint.label}: {access.detail}")
