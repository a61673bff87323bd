"""The HTML report printed to PDF by headless Chromium, for labs that file paper.

The same page as `--format html`, every requirement opened (the print style shows every detail),
so the paper copy holds the same evidence references and hashes as the screen.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from harness.record.reader import VerifiedBundle
from reports import ReportOptions
from reports import html as html_report
from reports.browser import print_pdf

FORMAT = "pdf"
BINARY = True


def render(bundle: VerifiedBundle, options: ReportOptions | None = None) -> bytes:
    options = options or ReportOptions()
    with tempfile.TemporaryDirectory(prefix="iot-harness-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html_report.render(bundle, dataclasses.replace(options, expanded=True)),
                        encoding="utf-8")
        return print_pdf(page)
