"""One self-contained HTML page: what fails, why, on which evidence, and what to change.

Rendered with Jinja2 and autoescaping on, because every string in a bundle may have come from a
hostile device (a banner, a page title); a device's `<script>` must print as text, never run.
Nothing in the page asks for anything over a network, so it opens the same on an offline
assessor's laptop; a Content-Security-Policy says so to the browser as well.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from harness.record.bundle import REPORTS
from harness.record.reader import VerifiedBundle
from reports import ReportOptions
from reports.view import CROSSWALK_NAMES, LABELS, build

FORMAT = "html"


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("reports", "templates"), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def template():
    """The report's template, compiled once per process (jinja keeps it in its environment)."""
    return _environment().get_template("report.html.j2")


def evidence_base(bundle: VerifiedBundle, output: Path | None) -> str:
    """Evidence links are relative to where the page is written, so they open the bundle's own files
    when the page sits in the bundle or beside it; on standard output they are relative to the bundle."""
    if output is None:
        return ""
    rel = os.path.relpath(bundle.root.resolve(), output.resolve().parent)
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"


def render(bundle: VerifiedBundle, options: ReportOptions | None = None) -> str:
    options = options or ReportOptions()
    view = build(bundle)
    return template().render(
        lang=options.lang, L=LABELS[options.lang], expanded=options.expanded, device=bundle.results.device,
        manifest=bundle.manifest,
        results=bundle.results, verification=bundle.verification, schemes=view.schemes,
        selection=view.selection, crosswalk_names=CROSSWALK_NAMES, base=evidence_base(bundle, options.output),
        declaration=json.dumps(view.declaration, indent=2, ensure_ascii=False),
        profile_sha256=bundle.hashes().get("profile.json", ""),
        embedded=_inside_the_bundle(bundle, options.output),
    )


def _inside_the_bundle(bundle: VerifiedBundle, output: Path | None) -> bool:
    """Written into the bundle's reports/ by the run itself (harness/run/embedded_reports.py)."""
    return output is not None and output.resolve().parent == (bundle.root / REPORTS).resolve()
