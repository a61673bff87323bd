"""The reports people read, rendered from a real sealed bundle through the verifying reader:
the HTML page (self-contained, escaped, English and Japanese, every evidence link with its
signed hash) and its PDF, printed and rasterised by the real tools (Chromium, pdftoppm)."""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import harness
from tests.unit.report_bundle import PLANTED, make_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("reports"))


def test_the_html_page_is_self_contained_escaped_and_traceable(bundle):
    out = bundle.parent / "report.html"  # beside the bundle: its evidence links open the bundle's files
    r = harness("report", str(bundle), "--format", "html", "--out", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    # nothing is fetched when it opens: no script, stylesheet link, image, frame or remote URL
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page, re.I), "a fetching element"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I), "a remote reference"
    assert "default-src 'none'" in page
    # a device's markup prints as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Cam &lt;b&gt;100&lt;/b&gt;" in page
    # the FAIL, its fix, and its evidence with the hash the bundle signed
    assert 'id="req-S1.1-12" open' in page and "turn TLS 1.0 off" in page
    evidence = next(bundle.glob("evidence/checks.tls_versions_u1/offer.txt"))
    digest = hashlib.sha256(evidence.read_bytes()).hexdigest()
    rel = evidence.relative_to(bundle).as_posix()
    assert f'href="{bundle.name}/{rel}"' in page and f"sha256 {digest}" in page
    # the header names the signed statement, the waiver and the not-applicable justification show
    manifest_digest = re.search(r"Statement digest \(SHA-256\): <span class=\"hash\">([0-9a-f]{64})", page)
    assert manifest_digest, "the statement digest is at the top"
    assert "accepted until the next firmware" in page and "sold only with a support contract page" in page
    assert "left out: probe class not enabled (brute)" in page
    assert PLANTED not in page


def test_the_page_in_japanese(bundle):
    r = harness("report", str(bundle), "--format", "html", "--lang", "ja")
    assert r.returncode == 0, r.stderr
    assert 'lang="ja"' in r.stdout and "不適合" in r.stdout and "通信の盗聴防止" in r.stdout
    assert "改善すべき点" in r.stdout


@pytest.mark.skipif(not shutil.which("chromium") or not shutil.which("pdftoppm"), reason="needs make setup")
def test_the_pdf_prints_every_page_in_a_real_browser_offline(bundle, tmp_path):
    pdf = tmp_path / "report.pdf"
    r = harness("report", str(bundle), "--format", "pdf", "--out", str(pdf))
    assert r.returncode == 0, r.stderr
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"Pages:\s+(\d+)", pages).group(1))
    assert count >= 2
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    rasters = sorted(tmp_path.glob("page-*.png"))
    assert len(rasters) == count and all(p.stat().st_size > 1000 for p in rasters)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "S1.1-12" in text and "turn TLS 1.0 off" in text and PLANTED not in text
    # printed opened: a passing case's evidence (closed on screen) is on paper
    assert "attempts.json" in text


def test_a_binary_format_needs_out_and_a_changed_byte_is_refused(bundle, tmp_path):
    r = harness("report", str(bundle), "--format", "pdf")
    assert r.returncode == 2 and "--out" in r.stderr
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    target = next(copy.glob("evidence/checks.tls_versions_u1/offer.txt"))
    data = bytearray(target.read_bytes())
    data[0] ^= 0x01
    target.write_bytes(bytes(data))
    for fmt in ("html", "pdf", "checklist", "oscal", "junit", "json", "allure"):
        r = harness("report", str(copy), "--format", fmt, "--out", str(tmp_path / f"r.{fmt}"))
        assert r.returncode == 1 and "changed: evidence/checks.tls_versions_u1/offer.txt" in r.stderr, r.stderr
        assert not (tmp_path / f"r.{fmt}").exists()


def test_the_star1_checklist_has_sixteen_rows_in_scheme_order(bundle, tmp_path):
    import csv
    import io

    from openpyxl import load_workbook

    r = harness("report", str(bundle), "--format", "checklist")
    assert r.returncode == 0, r.stderr
    table = list(csv.reader(io.StringIO(r.stdout)))
    assert table[0][1] == "要求事項ID / ID"
    assert [row[1] for row in table[1:]] == [f"S1.1-{n:02d}" for n in range(1, 17)]
    s12 = table[12]
    assert s12[3] == "不適合 / FAIL" and s12[4] == "機器試験 / device test" and "TLS 1.0" in s12[5]
    assert "offer.txt sha256:" in s12[6]
    assert table[16][3] == "対象外 / NOT APPLICABLE"
    assert PLANTED not in r.stdout
    xlsx = tmp_path / "checklist.xlsx"
    assert harness("report", str(bundle), "--format", "checklist", "--out", str(xlsx)).returncode == 0
    ws = load_workbook(xlsx)["JC-STAR STAR-1"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert [v[1] for v in values[1:]] == [row[1] for row in table[1:]] and values[12][3] == s12[3]


def test_oscal_assessment_results_validate_with_trestle_and_read_back(bundle, tmp_path):
    from trestle.oscal.assessment_results import AssessmentResults

    ws = tmp_path / "ws"
    out = ws / "assessment-results" / "device" / "assessment-results.json"
    ws.mkdir()
    assert subprocess.run([str(TRESTLE), "init"], cwd=ws, capture_output=True).returncode == 0
    out.parent.mkdir(parents=True)
    r = harness("report", str(bundle), "--format", "oscal", "--out", str(out))
    assert r.returncode == 0, r.stderr
    v = subprocess.run([str(TRESTLE), "validate", "-f", str(out)], cwd=ws, capture_output=True, text=True)
    assert v.returncode == 0 and "VALID" in v.stdout, v.stdout + v.stderr
    doc = AssessmentResults.oscal_read(out)
    result = doc.results[0]
    by_title = {f.title.split()[0]: f for f in result.findings}
    assert by_title["S1.1-12"].target.status.state.value == "not-satisfied"
    # its case passed but an interface went unjudged: NOT_EVALUATED, so not satisfied
    assert by_title["S1.1-02"].target.status.state.value == "not-satisfied"
    # could not settle is never satisfied; not applicable says so
    assert by_title["S1.1-13"].target.status.state.value == "not-satisfied"
    reason = by_title["S1.1-13"].target.status.reason
    assert getattr(reason, "value", reason) == "other"
    assert by_title["S1.1-16"].target.status.state.value == "satisfied"
    assert by_title["S1.1-16"].target.status.remarks == "harness verdict NOT_APPLICABLE"
    obs = {o.title: o for o in result.observations}
    tls = obs["checks.tls_versions[u1]"]
    evidence = tls.relevant_evidence[0]
    digest = hashlib.sha256((bundle / evidence.href).read_bytes()).hexdigest()
    assert evidence.props[0].value == digest
    assert tls.subjects[0].subject_uuid == result.local_definitions.inventory_items[0].uuid
    assert {o.observation_uuid for o in by_title["S1.1-12"].related_observations} == {tls.uuid}
    assert PLANTED not in out.read_text()


TRESTLE = Path(sys.executable).parent / "trestle"  # the validator compliance-trestle installs


def test_junit_parses_with_junitparser_and_carries_requirements_and_verdicts(bundle, tmp_path):
    import junitparser

    out = tmp_path / "junit.xml"
    assert harness("report", str(bundle), "--format", "junit", "--out", str(out)).returncode == 0
    xml = junitparser.JUnitXml.fromfile(str(out))
    suites = {s.name: s for s in xml}
    cases = {c.name: c for c in suites["Cam <b>100</b> cases"]}
    tls = cases["checks.tls_versions[u1]"]
    props = [(p.name, p.value) for p in tls.child(junitparser.Properties)]
    assert ("verdict", "FAIL") in props and ("requirement", "S1.1-12") in props
    assert any(n == "evidence" and "offer.txt sha256:" in v for n, v in props)
    assert tls.is_failure and not cases["checks.default_passwords[u1]"].is_failure
    logging = cases["checks.logging[u1]"]
    assert logging.is_skipped and "INCONCLUSIVE" in logging.result[0].message
    assert suites["Cam <b>100</b> cases"].failures == 1
    reqs = {c.name.split()[0]: c for c in suites["jc-star-1"]}
    assert len(reqs) == 16 and reqs["S1.1-12"].is_failure
    assert PLANTED not in out.read_text()


def test_allure_results_label_scheme_requirement_case_and_attach_the_evidence(bundle, tmp_path):
    import json

    out = tmp_path / "allure"
    r = harness("report", str(bundle), "--format", "allure", "--out", str(out))
    assert r.returncode == 0, r.stderr
    results = [json.loads(p.read_text()) for p in out.glob("*-result.json")]
    tls = next(x for x in results if x["name"] == "checks.tls_versions[u1]")
    labels = {(lab["name"], lab["value"]) for lab in tls["labels"]}
    assert ("epic", "jc-star-1") in labels and ("story", "checks.tls_versions[u1]") in labels
    assert any(n == "feature" and v.startswith("S1.1-12 ") for n, v in labels)
    assert tls["status"] == "failed"
    attached = {a["name"]: a["source"] for a in tls["attachments"]}
    name = next(n for n in attached if n.startswith("evidence/checks.tls_versions_u1/offer.txt"))
    original = next(bundle.glob("evidence/checks.tls_versions_u1/offer.txt"))
    assert (out / attached[name]).read_bytes() == original.read_bytes()
    assert hashlib.sha256(original.read_bytes()).hexdigest() in name
    # nothing reads as passed that was not: INCONCLUSIVE is skipped; every requirement has its result
    assert next(x for x in results if x["name"] == "checks.logging[u1]")["status"] == "skipped"
    assert sum(1 for x in results if any(lab["value"] == "requirement verdict" for lab in x["labels"])) == 16 + 21
    assert all(PLANTED not in p.read_text(errors="replace") for p in out.iterdir())
    again = harness("report", str(bundle), "--format", "allure", "--out", str(out))
    assert again.returncode == 2 and "not an empty folder" in again.stderr


def test_the_run_seals_its_own_reports_rendered_from_the_sealed_evidence(bundle):
    from harness.record.bundle import verify

    v = verify(bundle)
    assert v.ok, v.problems
    assert {"reports/report.html", "reports/report.ja.html", "reports/evidence.dsse.json"} <= v.subjects.keys()
    page = (bundle / "reports/report.html").read_text()
    printed = re.search(r"Statement digest \(SHA-256\): <span class=\"hash\">([0-9a-f]{64})", page).group(1)
    assert printed == v.evidence_digest != v.digest  # the evidence statement, kept beside the page
    assert "kept as reports/evidence.dsse.json" in page  # and the page says so
    assert "reports/evidence.dsse.json" not in harness("report", str(bundle), "--format", "html").stdout
    links = re.findall(r'href="(\.\./evidence/[^"]+)"', page)
    assert links and all((bundle / "reports" / link).resolve().is_file() for link in links)
    assert "不適合" in (bundle / "reports/report.ja.html").read_text()
    for f in (bundle / "reports").iterdir():
        assert PLANTED.encode() not in f.read_bytes(), f
    r = harness("bundle", "verify", str(bundle))
    assert r.returncode == 0 and f"evidence statement {v.evidence_digest}" in r.stdout


def test_evidence_changed_after_its_seal_is_named_even_when_the_bundle_is_resealed(bundle, tmp_path):
    """Whoever holds the key could re-seal a changed bundle; the kept evidence seal still names
    what changed under the reports, and a foreign key's seal is not taken for this bundle's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from harness.record.bundle import seal, verify
    from harness.record.signing import Signer, load_signer

    predicate = json.loads(base64.b64decode(
        json.loads((bundle / "bundle.dsse.json").read_text())["payload"]))["predicate"]
    for name, key in (("same-key", load_signer(None)), ("other-key", Signer(Ed25519PrivateKey.generate(), "t"))):
        copy = tmp_path / name
        shutil.copytree(bundle, copy)
        (copy / "evidence" / "planted-later.txt").write_text("added after the reports were rendered\n")
        results = copy / "results.json"
        results.write_text(results.read_text().replace('"FAIL"', '"PASS"', 1))
        seal(copy, key, predicate)
        problems = verify(copy).problems
        if name == "same-key":
            assert "reports/evidence.dsse.json: evidence/planted-later.txt was added after the evidence was sealed" \
                in problems, problems
            assert "reports/evidence.dsse.json: results.json differs from the evidence the reports were rendered " \
                "from" in problems, problems
        else:
            assert any(p.startswith("reports/evidence.dsse.json: not the evidence seal of this bundle")
                       for p in problems), problems


def test_a_report_that_fails_to_render_never_keeps_the_evidence_from_being_sealed(tmp_path):
    broken = tmp_path / "formats"
    broken.mkdir()
    (broken / "html.py").write_text('FORMAT = "html"\n\ndef render(bundle, options):\n'
                                    '    raise RuntimeError("template exploded")\n')
    bundle = make_bundle(tmp_path, env={**os.environ, "IOT_HARNESS_REPORTS": str(broken)})
    note = (bundle / "reports" / "not-rendered.txt").read_text()
    assert "RuntimeError: template exploded" in note and "iot-harness report BUNDLE --format html" in note
    assert not (bundle / "reports" / "report.html").exists()
    r = harness("bundle", "verify", str(bundle))
    assert r.returncode == 0, r.stderr


def _readable(path: Path) -> bytes:
    """A file's bytes as a search would need them: zipped (XLSX) members unpacked, PDF text extracted."""
    import zipfile

    data = path.read_bytes()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(path) as z:
            return b"\n".join(z.read(n) for n in z.namelist())
    if data.startswith(b"%PDF-"):
        return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout
    return data


def test_a_planted_password_is_in_no_output_of_any_format_nor_in_the_bundle(bundle, tmp_path):
    from reports import report_formats

    searched = []
    for name, fmt in sorted(report_formats().items()):
        if name == "pdf" and not shutil.which("chromium"):
            continue
        for suffix in (".xlsx", ".csv") if name == "checklist" else ("",):
            out = tmp_path / f"{name}{suffix or ('.d' if fmt.directory else '.out')}"
            r = harness("report", str(bundle), "--format", name, "--out", str(out))
            assert r.returncode == 0, (name, r.stderr)
            assert PLANTED not in r.stdout + r.stderr
            files = sorted(p for p in out.rglob("*") if p.is_file()) if fmt.directory else [out]
            assert files, name
            for f in files:
                assert PLANTED.encode() not in _readable(f), f
            searched.append(name)
    assert {"text", "json", "junit", "html", "checklist", "oscal", "allure"} <= set(searched)
    for f in (p for p in bundle.rglob("*") if p.is_file()):
        assert PLANTED.encode() not in f.read_bytes(), f
