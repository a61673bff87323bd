"""Starting a fleet's device runs warm: each is still its own process (its own scope guard,
budgets, bundle and signature; a crash or Ctrl-C in one cannot touch another), but forked from
a server process that imported the harness, pytest and the probe libraries once.

On a two-core bench the CPU is what limits how many units overlap, and a fresh interpreter
spends a good part of a short run importing the same modules again. Python's multiprocessing
"forkserver" is the standard way to do this safely: the server is single-threaded (the fleet's
scheduling threads are never forked), so no lock is copied half-held into a child.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

# what a device run imports: all of the harness, the reports a run writes, and the libraries its
# probes, judgements and reports load (many of them lazily, inside the functions that need them).
# The server imports them once; a name that does not import here is skipped, as multiprocessing does.
THIRD_PARTY = [
    "pytest", "_pytest.main", "_pytest.python", "_pytest.runner", "_pytest.fixtures", "pluggy",
    "sslyze", "sslyze.plugins.scan_commands", "nassl._nassl", "tls_parser", "paramiko", "nmap", "requests",
    "urllib3", "cryptography.x509", "cryptography.hazmat.primitives.serialization", "pysnmp.hlapi.v3arch.asyncio",
    "telnetlib3", "zeroconf", "paho.mqtt.client", "websocket", "aiocoap", "tftpy",
    "spdx_tools.spdx.parser.parse_anything",
    "spdx_tools.spdx.validation.document_validator", "cyclonedx.model.bom", "cyclonedx.validation.xml",
    "debian.debian_support", "defusedxml.ElementTree", "jinja2", "yaml", "pydantic", "sectxt", "dns.resolver",
]

# Formats only `iot-harness report` renders (a run writes the HTML pages and, when asked, JUnit);
# OSCAL's imports compliance-trestle, a third of a second.
REPORT_COMMAND_ONLY = {"reports.oscal", "reports.allure", "reports.pdf", "reports.browser"}

# What only some fleets need, each dear enough to import that the server imports it only for a fleet
# that may use it: no device run can be forked before the server has imported everything. A run that
# needs one all the same imports it itself, at the same cost, and judges the same.
OPTIONAL = {
    # jsonschema, which CycloneDX JSON validation uses, builds an IRI grammar at import (rfc3987-syntax's
    # Earley parser): 2.3 s of one core, more than all the other libraries together
    "cyclonedx-json": ["cyclonedx.validation.json"],
    # the labgrid client a run holding places talks to its coordinator with: 0.4 s
    "labgrid": ["labgrid.remote.client", "grpc"],
}

WARMUP = "harness.run.forkserver_warmup"


def may_need_cyclonedx_json(sbom_locations: Iterable[str | None]) -> bool:
    """Whether any declared SBOM may be CycloneDX JSON, going by its file name: any but an SPDX
    document or an XML one (None: no SBOM declared). Only the server's imports hang on it."""
    for where in sbom_locations:
        if where is None:
            continue
        name = urlsplit(where).path.lower() if "://" in where else where.lower()
        if "spdx" not in name.rsplit("/", 1)[-1] and not name.endswith(".xml"):
            return True
    return False


def optional_imports(sbom_locations: Iterable[str | None], holds_places: bool) -> set[str]:
    """The `OPTIONAL` imports a fleet's runs may use: by its devices' declared SBOMs and places."""
    wanted = {"cyclonedx-json"} if may_need_cyclonedx_json(sbom_locations) else set()
    return wanted | {"labgrid"} if holds_places else wanted


EVERY_OPTIONAL = tuple(OPTIONAL)


def preload(optional: Iterable[str] = EVERY_OPTIONAL) -> list[str]:
    """The harness, the reports a run writes and the libraries (with the `OPTIONAL` ones asked
    for), then the built-in check modules (a run imports them by these names, so pytest finds them
    imported, compiled once), then the warm-up."""
    import pkgutil

    import harness
    import reports
    import test_suites

    def modules(pkg) -> list[str]:
        return [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + ".")
                if m.name != WARMUP and m.name not in REPORT_COMMAND_ONLY]

    extra = [name for key in optional for name in OPTIONAL[key]]
    return ["harness", "reports", *modules(harness), *modules(reports), *THIRD_PARTY, *extra,
            "test_suites", *modules(test_suites), WARMUP]


_context: multiprocessing.context.ForkServerContext | None = None


def _warm(optional: Iterable[str] = EVERY_OPTIONAL) -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(preload(optional))
    return _context


def start_early(optional: Iterable[str] = EVERY_OPTIONAL) -> None:
    """Start the server now, while the fleet still prepares its runs: the first run is forked only
    once the server has imported everything (seconds on one core, while the other waits)."""
    from multiprocessing import forkserver

    _warm(optional)
    forkserver.ensure_running()


def _child(argv: list[str], log: str) -> None:
    """In the forked child: a session of its own (a terminal's Ctrl-C reaches the fleet, which
    forwards it once), the log as stdout and stderr, default signal handling, then the run."""
    os.setsid()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.default_int_handler)
    from harness.run.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 2
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no multiprocessing finalizers: the run has sealed its bundle, nothing is pending


class WarmRun:
    """One device's `iot-harness run`, forked from the warm server; the few Popen calls the
    fleet uses (wait, poll, send_signal)."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.process = _warm().Process(target=_child, args=(argv, str(log)), daemon=False)
        self.process.start()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self) -> int:
        self.process.join()
        code = self.process.exitcode
        assert code is not None
        return code if code >= 0 else 2  # killed by a signal: a harness error, never a pass

    def send_signal(self, signum: int) -> None:
        if self.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)
