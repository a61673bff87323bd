"""The reports a run leaves inside its own bundle, sealed with it.

A report is only ever rendered from a verified bundle, and a bundle is only verified once sealed,
so the run seals twice: first the evidence (every file but the reports), then, after the reports
have been rendered from that verified evidence, everything. The first envelope is kept as
`reports/evidence.dsse.json`: the digest a report prints is that statement's, and `bundle verify`
checks that it is signed by the same key and that nothing but `reports/` changed after it. A
report that fails to render never keeps the evidence from being sealed; the reason is sealed in
its place.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.record.bundle import ENVELOPE, EVIDENCE_SEAL, REPORTS, seal
from harness.record.evidence import EvidenceRecorder
from harness.record.signing import Signer

# file in reports/ -> (format, language): the page a manufacturer opens, in both languages.
EMBEDDED = {"report.html": ("html", "en"), "report.ja.html": ("html", "ja")}
NOT_RENDERED = f"{REPORTS}/not-rendered.txt"


def _format(name: str):
    """The format that renders `name`: a lab's own from $IOT_HARNESS_REPORTS when it gives one, else
    the built-in module alone (discovering every format would import them all, trestle included,
    which costs each run a second for pages it never writes)."""
    import importlib
    import os

    from reports import REPORTS_PATH_ENV, formats_in, report_formats

    if os.environ.get(REPORTS_PATH_ENV):
        return report_formats()[name]
    return formats_in([importlib.import_module(f"reports.{name}")])[0]


def seal_with_reports(out: Path, signer: Signer, predicate: Callable[[], dict[str, Any]],
                      recorder: EvidenceRecorder) -> list[str]:
    """Seal `out` with its reports inside; returns what could not be rendered (empty when all were)."""
    from harness.record.reader import BundleRefused, open_bundle
    from reports import ReportOptions

    shutil.rmtree(out / REPORTS, ignore_errors=True)  # a re-judged bundle's folder is rendered anew
    seal(out, signer, predicate())
    envelope = (out / ENVELOPE).read_bytes()
    problems: list[str] = []
    try:
        bundle = open_bundle(out)
        for name, (fmt, lang) in EMBEDDED.items():
            text = _format(fmt)(bundle, ReportOptions(lang=lang, output=out / REPORTS / name))
            recorder.write_text(f"{REPORTS}/{name}", text)
    except BundleRefused as e:
        problems.append(f"the evidence just sealed did not verify: {e}")
    except Exception as e:  # a report must never keep the evidence from being sealed
        problems.append(f"{type(e).__name__}: {e}")
    try:
        (out / REPORTS).mkdir(exist_ok=True)
        (out / EVIDENCE_SEAL).write_bytes(envelope)
        if problems:
            recorder.write_text(NOT_RENDERED, "The reports were not rendered into this bundle:\n"
                                + "\n".join(f"- {p}" for p in problems)
                                + "\nRender them with: iot-harness report BUNDLE --format html\n")
    except OSError as e:
        problems.append(f"cannot write into {REPORTS}/: {e.strerror}")
        shutil.rmtree(out / REPORTS, ignore_errors=True)
    seal(out, signer, predicate())
    return problems
