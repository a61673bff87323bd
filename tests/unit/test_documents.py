"""The published-documents checks, both ways, against a web server on loopback playing the vendor's
site and the device's own web service: a complete policy, a valid security.txt linking it, a current
support period and an update page PASS; a policy without contact or response time, an expired
security.txt, an ended support period and nothing published FAIL with the reason; a declared
document that cannot be read (a host name, a missing file) is INCONCLUSIVE naming it."""

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import ROOT, harness
from tests.tls_device import write_certificate

ADDRESS = "127.0.0.78"

GOOD = {
    "/.well-known/security.txt": "Contact: mailto:psirt@acme.example\nExpires: 2099-12-31T00:00:00.000Z\n"
                                 "Policy: https://{host}/security/policy\nPreferred-Languages: en, ja\n",
    "/security/policy": "<html><body><h1>Vulnerability disclosure</h1><p>Report to <a href='mailto:psirt@acme.example'>"
                        "psirt@acme.example</a>. We acknowledge every report within 5 business days and keep the "
                        "reporter informed until the issue is fixed.</p></body></html>",
    "/support": "<p>Security updates for the Cam100 are provided until 2031-03-31.</p>",
    "/updates": "Firmware updates are installed automatically; you can also start one from the app.",
    "/privacy": "<p>The Cam100 processes personal data: your video clips and account e-mail. We use them only to "
                "show you your clips. Clips are stored by our cloud service provider. To delete your data, run a "
                "factory reset from the app settings and delete your account.</p>",
}
BAD = {
    "/.well-known/security.txt": "Contact: mailto:psirt@acme.example\nExpires: 2021-01-01T00:00:00.000Z\n",
    "/security/policy": "<p>We take security seriously. Thank you for helping us.</p>",
    "/support": "<p>Security updates for this model were provided until 31 March 2024.</p>",
    "/privacy": "<p>We respect your privacy and process personal data with care.</p>",
}


def serve(pages: dict[str, str], certs) -> tuple[ThreadingHTTPServer, str]:
    """The vendor's site and the device's web service in one: HTTPS, as RFC 9116 asks."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            data = body.replace("{host}", host).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if "<" in body else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((ADDRESS, 0), Handler)
    write_certificate(certs)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "cert.pem", certs / "key.pem")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    host = f"{ADDRESS}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, host


def profile(tmp_path, port: int, urls: dict[str, str]) -> str:
    lines = "\n".join(f"  {k}: {v}" for k, v in urls.items())
    text = f"""
identity: {{vendor: Acme, model: Cam100, firmware_version: "1.0"}}
units: [{{name: u1, address: {ADDRESS}}}]
services: [{{name: web, port: {port}, protocol: https, purpose: status page, authentication: none, public: true}}]
credentials: {{kind: unique-per-unit}}
schemes: [jc-star-1, nist-ir-8259b]
{"urls:" if urls else ""}
{lines}
"""
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return str(path)


def run(tmp_path, pages, urls) -> tuple[dict, dict, dict]:
    server, host = serve(pages, tmp_path)
    try:
        port = server.server_address[1]
        urls = {k: v.replace("{host}", host) for k, v in urls.items()}
        out = tmp_path / "bundle"
        r = harness("run", "--profile", profile(tmp_path, port, urls), "--out", str(out),
                    "--suite", str(ROOT / "test_suites" / "documents"))
        assert (out / "results.json").exists(), r.stderr
        res = json.loads((out / "results.json").read_text())
    finally:
        server.shutdown()
    cases = {c["check"].split(".")[-1]: c for c in res["cases"]}
    return {q["id"]: q["verdict"] for q in res["requirements"]}, cases, {"out": out, "stderr": r.stderr}


DECLARED = {"vulnerability_disclosure_policy": "https://{host}/security/policy",
            "support_period": "https://{host}/support", "update_procedure": "https://{host}/updates",
            "privacy": "https://{host}/privacy"}


def test_complete_documents_pass_from_what_was_fetched(tmp_path):
    reqs, cases, run_ = run(tmp_path, GOOD, DECLARED)
    assert reqs["S1.1-05"] == reqs["S1.1-07"] == reqs["S1.1-16"] == reqs["NT-IQR"] == "PASS", cases
    policy = cases["disclosure_policy"]
    said = " | ".join(f["reason"] for f in policy["findings"])
    assert "valid security.txt; contact mailto:psirt@acme.example" in said
    assert "a first response (5 business days)" in said and "psirt@acme.example" in said
    assert "until 2031-03-31" in cases["support_period"]["findings"][0]["reason"]
    assert cases["privacy_information"]["verdict"] == cases["data_deletion_instructions"]["verdict"] == "PASS", cases
    # the evidence: each document as read, and its record with hash and time
    record = json.loads((run_["out"] / "observations/_documents/vulnerability_disclosure_policy.json").read_text())
    doc = record["observation"]
    assert doc["outcome"] == "fetched" and len(doc["sha256"]) == 64 and doc["fetched_at"]
    assert any(p.endswith("disclosure-policy-0.txt") for p in policy["evidence"])


def test_incomplete_expired_and_ended_documents_fail_with_the_reason(tmp_path):
    reqs, cases, _ = run(tmp_path, BAD, {k: v for k, v in DECLARED.items() if k != "update_procedure"})
    assert reqs["S1.1-05"] == reqs["S1.1-07"] == reqs["S1.1-16"] == "FAIL", cases
    policy = [f for f in cases["disclosure_policy"]["findings"] if f["verdict"] == "FAIL"]
    reasons = " | ".join(f["reason"] for f in policy)
    assert "is not a valid security.txt (RFC 9116): expired" in reasons
    assert "does not state a contact point, when a reporter first hears back" in reasons
    assert all(f["fix"] for f in policy)
    assert "the support period ended on 2024-03-31" in cases["support_period"]["reason"]
    assert "declares no update procedure or user manual" in cases["update_procedure"]["reason"]
    privacy = cases["privacy_information"]
    assert privacy["verdict"] == "FAIL" and "nothing on: purpose, recipients" in privacy["reason"], privacy
    assert cases["data_deletion_instructions"]["verdict"] == "FAIL"


def test_nothing_published_is_a_fail_naming_what_to_publish(tmp_path):
    reqs, cases, _ = run(tmp_path, {}, {})
    assert reqs["S1.1-05"] == reqs["S1.1-16"] == reqs["NT-IQR"] == "FAIL"
    assert "no privacy information is published" in cases["privacy_information"]["reason"]
    reason = cases["disclosure_policy"]["reason"]
    assert "no vulnerability disclosure policy is published" in reason and "/.well-known/security.txt" in reason


def test_a_document_given_as_a_file_is_judged_the_same_and_a_missing_one_is_inconclusive(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "support.html").write_text(GOOD["/support"])
    urls = {"support_period": "docs/support.html", "update_procedure": "docs/missing.txt",
            "vulnerability_disclosure_policy": "https://psirt.acme.example/policy"}
    reqs, cases, _ = run(tmp_path, GOOD, urls)
    assert reqs["S1.1-16"] == "PASS", cases["support_period"]
    assert cases["support_period"]["findings"][0]["target"] == "docs/support.html"
    assert reqs["S1.1-07"] == "INCONCLUSIVE" and "cannot read docs/missing.txt" in cases["update_procedure"]["reason"]
    # a vendor host name is never resolved: INCONCLUSIVE with the way out, never a guess
    assert reqs["S1.1-05"] == "INCONCLUSIVE"
    assert "host names are not resolved" in cases["disclosure_policy"]["reason"]


@pytest.mark.parametrize("ref", ["ftp://acme.example/policy", ""])
def test_a_document_reference_that_is_neither_url_nor_file_is_refused_at_validation(tmp_path, ref):
    path = profile(tmp_path, 80, {"vulnerability_disclosure_policy": f'"{ref}"'})
    r = harness("profile", "validate", "--schema-only", path)
    assert r.returncode == 1 and "urls.vulnerability_disclosure_policy" in r.stdout + r.stderr
