"""The reports people read, rendered from a real sealed bundle through the verifying reader:
the HTML page (self-contained, escaped, English and Japanese, every evidence link with its
signed hash) and its PDF, printed and rasterised by the real tools (Chromium, pdftoppm)."""

import hashlib
import re
import shutil
import subprocess

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
    for fmt in ("html", "pdf", "checklist"):
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
