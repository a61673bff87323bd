"""Every web service, declared or found, must refuse device functions and settings to a client
that has not authenticated, whatever the method and the path (JC-STAR S1.1-01, NIST IR 8259A
LA-2, ETSI EN 303 645 5.5-4/5.5-5).

What is judged is the web surface the harness found by itself (pages, links, forms, the
profile's protected and API paths, common IoT endpoints), not just the declared paths with GET:
protected paths with GET and HEAD; configuration or secrets served to anyone; and, under
`--allow intrusive`, requests that change state (uploads, reboots, resets, forms that post, paths
that answer 405 to GET) sent without credentials. Without `intrusive` the state-changing part is
NOT_EVALUATED, naming the endpoints that were not tried. (An image installed without credentials
is proven by the update case, which bears on S1.1-01 as well.)
"""

from __future__ import annotations

import pytest

from harness.declaration.profile import Protocol, Service, TlsExpectation
from harness.judgement.inventory import undeclared_ports
from harness.judgement.web_access import judge_pages, judge_state_changes
from harness.observation.discovered import undeclared_name
from harness.observation.probes.http_client import exchange
from harness.observation.probes.http_surface import WebSurface, try_state_changes
from harness.observation.probes.login import Unreachable
from harness.record.verdict import Verdict, inconclusive

WEB = ("http", "https")


def _tls(service: Service) -> bool:
    return service.protocol is Protocol.HTTPS or service.tls is TlsExpectation.REQUIRED


def judge_port(unit, port: int, tls: bool, service: Service | None, label: str, guard, profile, findings,
               observations) -> dict:
    """All findings for one web port; returns the evidence record of what was sent and seen."""
    surface = observations.web_surface(unit, port, tls, service)
    timeout = profile.limits.connect_timeout_s
    protected = list(service.protected_paths) if service else []
    head: dict[str, int] = {}
    for path in protected:
        try:
            answer = exchange(guard, unit.address, port, tls, "HEAD", path, timeout=timeout, max_bytes=0)
            head[path] = answer.status_code
        except Unreachable as e:
            findings.inconclusive(f"{label}: HEAD {path}: {e}", target=label, rule="web.protected_path_served")
    results = judge_pages(surface, protected, head)
    record: dict = {"endpoint": label, "base": surface.base, "public": bool(service and service.public),
                    "catch_all_status": surface.catch_all_status, "stopped": surface.stopped,
                    "pages": [{k: v for k, v in vars(p).items() if k != "body"} for p in surface.pages],
                    "head": head, "login_forms": surface.login_forms, "not_followed": surface.not_followed[:50],
                    "state_change_targets": [vars(t) for t in surface.targets]}
    evidenced = [t for t in surface.targets if not t.why.startswith("common list")]
    if "intrusive" in guard.allowed_classes:
        with guard.probe_class("intrusive"):
            try:
                calibration, tries = try_state_changes(guard, unit.address, port, tls, surface.targets, timeout)
            except Unreachable as e:
                calibration, tries = None, []
                findings.inconclusive(f"{label}: state-changing requests could not be sent: {e}", target=label,
                                      rule="web.state_change")
        record["post_to_absent_path"] = calibration
        record["state_change_tries"] = [vars(t) for t in tries]
        results += judge_state_changes(surface, calibration, tries)
    elif evidenced:
        findings.not_evaluated(
            f"{label}: {len(evidenced)} endpoint(s) take requests that may change state "
            f"({', '.join(sorted({t.path for t in evidenced})[:6])}); they are sent without credentials only "
            "under --allow intrusive", target=label, rule="web.state_change")
    elif surface.targets:
        findings.advisory(f"{label}: {len(surface.targets)} common state-changing endpoint(s) not tried without "
                          "--allow intrusive", target=label, rule="web.state_change")
    for r in results:
        findings.add(r.verdict, r.reason, target=f"{label} {r.path}", rule=r.rule, fix=r.fix)
    if surface.stopped:
        findings.advisory(f"{label}: exploration ended early: {surface.stopped}", target=label, rule="web.surface")
    if not any(r.verdict is Verdict.FAIL for r in results):
        _declared_but_open(surface, service, label, findings)
        findings.passed(f"{label}: {len(surface.pages)} path(s) requested without credentials, "
                        f"{len(record.get('state_change_tries', []))} state-changing request(s); nothing protected "
                        "was served and no state change was accepted", target=label)
    record["findings"] = [vars(r) | {"verdict": str(r.verdict)} for r in results]
    return record


def _declared_but_open(surface: WebSurface, service: Service | None, label: str, findings) -> None:
    """A service declared as asking for a password whose root page is served with no login form,
    no challenge and no redirect: the declaration and the device disagree, and the harness cannot
    tell which pages are the protected ones. Never a PASS by default."""
    if service is None or service.public or service.protected_paths or service.http_login:
        return
    if str(service.authentication) == "none":
        return
    root = next((p for p in surface.pages if p.path == "/"), None)
    if root and 200 <= root.status < 300 and not surface.login_forms:
        findings.inconclusive(
            f"{label}: declared as authenticating ({service.authentication}), but / is served without credentials "
            "and shows no login form; declare the pages that need a login (protected_paths), or public: true",
            target=label, rule="web.protected_path_served")


@pytest.mark.requirements("S1.1-01", "LA-2", "5.5-4", "5.5-5", "8425-IAC")
@pytest.mark.protocols(*WEB)
def test_web_access_without_credentials(endpoint, profile, guard, observations, evidence, findings):
    svc = endpoint.service
    try:
        record = judge_port(endpoint.unit, svc.port, _tls(svc), svc, endpoint.label, guard, profile, findings,
                            observations)
    except Unreachable as e:
        inconclusive(f"{endpoint.label}: {e}")
    evidence.write_json("web-access.json", record)


@pytest.mark.requirements("S1.1-01", "LA-2", "5.5-4", "5.5-5", "8425-IAC")
def test_web_access_on_undeclared_ports(unit, profile, guard, observations, evidence, findings, device_state):
    web = undeclared_ports(observations, unit, device_state, WEB, " that speaks HTTP")
    records = []
    for port, proto in sorted(web.items()):
        label = f"{unit.name}:undeclared-{port}/{port}"
        findings.covers(undeclared_name("tcp", port))
        try:
            records.append(judge_port(unit, port, proto == "https", None, label, guard, profile, findings,
                                      observations))
        except Unreachable as e:
            findings.inconclusive(f"{label}: {e}", target=label)
    evidence.write_json("web-access-undeclared.json", {"unit": unit.name, "ports": web, "results": records})

