"""The SBOM checks, both ways, against a loopback stand-in that names its software the way real
daemons do (an OpenSSH banner, an nginx Server header), identified by nmap's version detection:
an SBOM listing both at those versions PASSes, one that leaves nginx out and says OpenSSH 8.4p1
FAILs each check with the component named; an invalid SBOM FAILs naming the error, none declared is
NOT_APPLICABLE. The parsers are proven on CycloneDX JSON and XML, SPDX JSON and tag-value, and
hostile input (an XML entity, garbage)."""

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.judgement.components import (
    compare,
    from_description,
    from_server_header,
    from_version_scan,
    same_version,
)
from harness.judgement.sbom import Component, parse_sbom
from tests.conftest import ROOT, harness

ADDRESS = "127.0.0.80"


def cyclonedx(components: list[tuple[str, str]], spec: str = "1.5") -> str:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": spec, "version": 1,
                       "metadata": {"component": {"type": "firmware", "name": "Cam100", "version": "1.0"}},
                       "components": [{"type": "application", "name": n, "version": v} for n, v in components]})


SPDX_JSON = json.dumps({
    "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "Cam100-1.0",
    "documentNamespace": "https://acme.invalid/spdx/cam100-1.0",
    "creationInfo": {"created": "2026-11-01T00:00:00Z", "creators": ["Organization: Acme"]},
    "packages": [{"SPDXID": "SPDXRef-ssh", "name": "openssh-server", "versionInfo": "1:9.2p1-2+deb12u10",
                  "downloadLocation": "NOASSERTION", "filesAnalyzed": False}],
    "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                       "relatedSpdxElement": "SPDXRef-ssh"}]})
SPDX_TV = """SPDXVersion: SPDX-2.3
DataLicense: CC0-1.0
SPDXID: SPDXRef-DOCUMENT
DocumentName: Cam100-1.0
DocumentNamespace: https://acme.invalid/spdx/cam100-tv
Creator: Organization: Acme
Created: 2026-11-01T00:00:00Z

PackageName: nginx
SPDXID: SPDXRef-nginx
PackageVersion: 1.22.1-9
PackageDownloadLocation: NOASSERTION
FilesAnalyzed: false
"""


# ---------------------------------------------------------------- parsing and comparing
def test_each_format_is_read_with_its_components():
    read = parse_sbom(cyclonedx([("nginx", "1.22.1")]))
    assert [(c.name, c.version) for c in read.components] == [("nginx", "1.22.1")]
    xml = ('<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1"><components><component type="library">'
           '<name>zlib</name><version>1.3</version></component></components></bom>')
    assert parse_sbom(xml).components == [Component("zlib", "1.3")]
    spdx = parse_sbom(SPDX_JSON)
    assert spdx.valid and spdx.components[0].name == "openssh-server" and spdx.format == "SPDX-2.3 (JSON)"
    tv = parse_sbom(SPDX_TV)
    assert tv.valid and tv.components == [Component("nginx", "1.22.1-9")], tv.errors


@pytest.mark.parametrize("text, said", [
    (cyclonedx([("nginx", "1.22.1")]).replace('"application"', '"gadget"'), "components/0/type"),
    ('{"bomFormat": "CycloneDX", "specVersion": "9.9"}', "CycloneDX version '9.9'"),
    (SPDX_JSON.replace('"documentNamespace": "https://acme.invalid/spdx/cam100-1.0", ', ""), "document_namespace"),
    ('<?xml version="1.0"?><!DOCTYPE b [<!ENTITY x SYSTEM "file:///etc/passwd">]><b>&x;</b>', "unsafe XML"),
    ("just some text", "not a CycloneDX"),
    ("{not json", "not valid JSON"),
])
def test_an_invalid_or_hostile_sbom_is_refused_naming_the_problem(text, said):
    sbom = parse_sbom(text)
    assert not sbom.valid and said in "; ".join(sbom.errors), sbom.errors


def test_versions_match_on_substance_not_on_packaging():
    assert same_version("9.2p1", "1:9.2p1-2+deb12u10") and same_version("1.22", "1.22.1")
    assert not same_version("8.4p1", "9.2p1") and not same_version("9.2", "9.20") and not same_version("", "1.0")
    seen = from_version_scan("u", {22: {"product": "Dropbear sshd", "version": "2022.83",
                                        "cpe": "cpe:/a:matt_johnston:dropbear_ssh_server:2022.83"},
                                   8883: {"product": "Eclipse Mosquitto", "version": "", "cpe": ""}})
    seen += from_server_header("u SSDP SERVER", "Linux/6.1 UPnP/1.0 MiniUPnPd/2.3.3")
    # prose names no component; only product/version tokens in a sysDescr do
    assert from_description("u SNMP", "LabCam100 firmware 2.0.1 on Linux 6.1") == []
    assert [r.product for r in from_description("u SNMP", "ACME OS lighttpd/1.4.69 busybox/1.36")] == \
        ["lighttpd", "busybox"]
    result = {c.revealed.product: c.status for c in compare(seen, [
        Component("dropbear-bin", "2019.78"), Component("mosquitto", "2.0.11"), Component("opensshx", "1")])}
    assert result == {"Dropbear sshd": "version-differs", "Eclipse Mosquitto": "declared", "MiniUPnPd": "undeclared"}


# ---------------------------------------------------------------- on a device
class Device:
    """An SSH banner and an nginx-like web server on loopback: what nmap -sV reads versions from."""

    def __init__(self) -> None:
        self.ssh = socket.create_server((ADDRESS, 0))
        self.ssh_port = self.ssh.getsockname()[1]
        threading.Thread(target=self._banner, daemon=True).start()

        class Handler(BaseHTTPRequestHandler):
            def version_string(self):
                return "nginx/1.22.1"  # exactly as nginx says it (http.server would add its Python version)

            def do_GET(self):
                body = b"<html><body>Cam100</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

            def handle(self):
                with contextlib.suppress(OSError):  # nmap's probes hang up mid-request; nginx shrugs that off
                    super().handle()

        self.web = ThreadingHTTPServer((ADDRESS, 0), Handler)
        self.web_port = self.web.server_address[1]
        threading.Thread(target=self.web.serve_forever, daemon=True).start()

    def _banner(self) -> None:
        while True:
            try:
                conn, _ = self.ssh.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n")
                conn.settimeout(2)
                conn.recv(256)

    def close(self) -> None:
        self.web.shutdown()
        self.ssh.close()


@pytest.fixture(scope="module")
def device():
    d = Device()
    yield d
    d.close()


def run(tmp_path, device, sbom: str | None, name: str = "sbom.json"):
    urls = ""
    if sbom is not None:
        (tmp_path / name).write_text(sbom)
        urls = f"urls: {{sbom: {name}}}"
    (tmp_path / "profile.yaml").write_text(f"""
identity: {{vendor: Acme, model: Cam100, firmware_version: "1.0"}}
units: [{{name: u1, address: {ADDRESS}}}]
services:
  - {{name: ssh, port: {device.ssh_port}, protocol: ssh, purpose: maintenance, authentication: public-key}}
  - {{name: web, port: {device.web_port}, protocol: http, purpose: status page, authentication: none, public: true}}
credentials: {{kind: unique-per-unit}}
schemes: [nistir-8425]
{urls}
""")
    out = tmp_path / "bundle"
    r = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(out), "--suite",
                str(ROOT / "test_suites" / "documents"), timeout=600)
    assert (out / "results.json").exists(), r.stderr
    res = json.loads((out / "results.json").read_text())
    return {c["check"].split(".")[-1]: c for c in res["cases"] if "sbom" in c["check"]}, out


def test_an_sbom_listing_what_the_device_runs_passes(tmp_path, device):
    cases, out = run(tmp_path, device, cyclonedx([("openssh-server", "1:9.2p1-2+deb12u10"), ("nginx", "1.22.1-9")]))
    assert cases["sbom_lists_what_the_device_runs"]["verdict"] == "PASS", cases
    assert cases["sbom_versions_match_what_the_device_runs"]["verdict"] == "PASS", cases
    said = " | ".join(f["reason"] for f in cases["sbom_versions_match_what_the_device_runs"]["findings"])
    assert "OpenSSH 9.2p1 matches the SBOM's openssh-server 1:9.2p1-2+deb12u10" in said
    assert "nginx 1.22.1 matches" in said
    scan = json.loads((out / "observations/u1/tcp-versions.json").read_text())["observation"]
    assert all("-sV" in c for c in scan["commands"]) and scan["services"]


def test_an_sbom_the_device_contradicts_fails_naming_each_component(tmp_path, device):
    cases, _ = run(tmp_path, device, SPDX_JSON.replace("1:9.2p1-2+deb12u10", "1:8.4p1-5"), name="sbom.spdx.json")
    listed = cases["sbom_lists_what_the_device_runs"]
    assert listed["verdict"] == "FAIL" and "nginx" in listed["reason"] and "does not list" in listed["reason"]
    assert any(f["rule"] == "sbom.undeclared_component" and f["fix"] for f in listed["findings"])
    versions = cases["sbom_versions_match_what_the_device_runs"]
    assert versions["verdict"] == "FAIL"
    assert "runs OpenSSH 9.2p1, but the SBOM lists openssh-server 1:8.4p1-5" in versions["reason"]


def test_an_invalid_sbom_fails_and_none_declared_is_not_applicable(tmp_path, device):
    cases, _ = run(tmp_path, device, cyclonedx([("nginx", "1.22.1")]).replace('"application"', '"gadget"'))
    assert cases["sbom_lists_what_the_device_runs"]["verdict"] == "FAIL"
    assert "is not a valid SBOM (CycloneDX 1.5 (JSON))" in cases["sbom_lists_what_the_device_runs"]["reason"]
    (tmp_path / "none").mkdir()
    cases, _ = run(tmp_path / "none", device, None)
    assert {c["verdict"] for c in cases.values()} == {"NOT_APPLICABLE"}
    assert "declares no SBOM" in cases["sbom_lists_what_the_device_runs"]["reason"]


# ---------------------------------------------------------------- known vulnerabilities (offline OSV)
def osv_folder(tmp_path, *, garbage: bool = False):
    folder = tmp_path / "osv"
    folder.mkdir()
    (folder / "DSA-0001.json").write_text(json.dumps({
        "id": "DSA-0001", "aliases": ["CVE-2099-0001"], "summary": "openssh: made-up flaw for the test",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssh"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:9.0p1-1"}]}]}]}))
    if garbage:
        (folder / "broken.json").write_text("{not json")
    return folder


def run_osv(tmp_path, device, sbom, *extra):
    (tmp_path / "sbom.json").write_text(sbom)
    (tmp_path / "profile.yaml").write_text(f"""
identity: {{vendor: Acme, model: Cam100, firmware_version: "1.0"}}
units: [{{name: u1, address: {ADDRESS}}}]
services:
  - {{name: ssh, port: {device.ssh_port}, protocol: ssh, purpose: maintenance, authentication: public-key}}
credentials: {{kind: unique-per-unit}}
schemes: [jc-star-1]
urls: {{sbom: sbom.json}}
""")
    out = tmp_path / "bundle"
    r = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(out), "--suite",
                str(ROOT / "test_suites" / "documents"), *extra, timeout=600)
    if not (out / "results.json").exists():
        return r, None, {}
    res = json.loads((out / "results.json").read_text())
    return r, res, {c["check"].split(".")[-1]: c for c in res["cases"]}


def purl_sbom(version: str) -> str:
    data = json.loads(cyclonedx([("openssh", version)]))
    data["components"][0]["purl"] = f"pkg:deb/debian/openssh@{version.replace(':', '%3A')}"
    return json.dumps(data)


def test_a_component_with_a_known_vulnerability_fails_naming_the_record(tmp_path, device):
    _, res, cases = run_osv(tmp_path, device, purl_sbom("1:8.4p1-5"), "--osv-data", str(osv_folder(tmp_path)))
    case = cases["sbom_components_have_no_known_vulnerabilities"]
    assert case["verdict"] == "FAIL" and "DSA-0001, CVE-2099-0001" in case["reason"], case
    assert next(q for q in res["requirements"] if q["id"] == "S1.1-13")["verdict"] == "FAIL"
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["vulnerability_data"]["records"] == 1


def test_a_fixed_version_passes_and_an_unreadable_record_keeps_it_from_passing(tmp_path, device):
    (tmp_path / "a").mkdir()
    _, _, cases = run_osv(tmp_path / "a", device, purl_sbom("1:9.2p1-2+deb12u10"), "--osv-data",
                          str(osv_folder(tmp_path / "a")))
    assert cases["sbom_components_have_no_known_vulnerabilities"]["verdict"] == "PASS"
    (tmp_path / "b").mkdir()
    _, _, cases = run_osv(tmp_path / "b", device, purl_sbom("1:9.2p1-2+deb12u10"), "--osv-data",
                          str(osv_folder(tmp_path / "b", garbage=True)))
    case = cases["sbom_components_have_no_known_vulnerabilities"]
    assert case["verdict"] == "INCONCLUSIVE" and "broken.json" in case["reason"]


def test_without_osv_data_no_matching_is_done_and_a_bad_folder_is_refused(tmp_path, device):
    (tmp_path / "a").mkdir()
    _, res, cases = run_osv(tmp_path / "a", device, purl_sbom("1:8.4p1-5"))
    assert "sbom_components_have_no_known_vulnerabilities" not in cases
    assert json.loads((tmp_path / "a" / "bundle" / "manifest.json").read_text())["vulnerability_data"] is None
    (tmp_path / "b").mkdir()
    r, res, _ = run_osv(tmp_path / "b", device, purl_sbom("1:8.4p1-5"), "--osv-data", str(tmp_path / "nowhere"))
    assert res is None and r.returncode == 2 and "not a folder of OSV JSON records" in r.stderr
