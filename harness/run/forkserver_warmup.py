"""Imported last by a fleet's fork server (`harness.run.launcher.preload`), never by a run: it
fills the caches every device run fills the same way, so that each forked run finds them full.

The fork server only imports modules by name, so the work is done at import. It reads only what
the harness ships (catalogs, credential, community and endpoint lists, the question set, the
report template) and makes the SNMP engine a run's first SNMP probe takes (MIBs loaded): nothing
a run's own options or profile change. Whatever fails here is left for the run itself to meet
and report in its own words; an exception must not stop the server.
"""

from __future__ import annotations

import contextlib
import gc


def warm() -> None:
    from harness.declaration.catalog import load_catalogs
    from harness.declaration.questions import load_questions
    from harness.judgement.exposure import load_exposure_data
    from harness.observation.communities import default_communities
    from harness.observation.credentials import default_credentials
    from harness.observation.probes.http_surface import common_endpoints
    from harness.observation.probes.snmp import make_spare_engine
    from reports.html import template

    for fill in (load_catalogs, load_questions, load_exposure_data, default_communities, default_credentials,
                 common_endpoints, template, make_spare_engine):
        with contextlib.suppress(Exception):
            fill()


warm()
# Everything imported and filled so far lives as long as the server: out of the collector's sight
# (gc.freeze), a forked run's collections walk only what the run itself made. Otherwise each full
# collection in each run walks, and so copies page by page, the whole inherited heap.
gc.freeze()
