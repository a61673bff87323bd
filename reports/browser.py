"""Debian's Chromium, headless, in an empty network namespace: the PDF printer and the screenshot.

Chromium is the renderer assessors' browsers share, so its print is what they would see. It is
started inside `unshare -n` (as root) or `unshare -rn` (a user namespace otherwise), so whatever a
page or the browser's own background services ask for, there is no network to reach: the page
is proven to render offline, and the project's network rule holds even if a flag is missed.
Bounded like every exchange: a deadline, and the output read back with a size cap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from reports import ReportUnavailable

DEADLINE_S = 90.0
MAX_OUTPUT = 64 << 20
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--no-default-browser-check", "--hide-scrollbars"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise ReportUnavailable("Chromium is not installed; run `make setup` as root (Debian package chromium)")


def _offline() -> list[str]:
    if not shutil.which("unshare"):
        raise ReportUnavailable("unshare (util-linux) is missing; it keeps the browser off every network")
    return ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]


def _run(page: Path, flag: str, out_name: str, extra: list[str]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="iot-harness-chromium-") as tmp:
        out = Path(tmp) / out_name
        cmd = [*_offline(), chromium(), *FLAGS, f"--user-data-dir={tmp}/profile", *extra,
               f"{flag}={out}", page.resolve().as_uri()]
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=DEADLINE_S,
                               env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired:
            raise ReportUnavailable(f"Chromium did not finish within {DEADLINE_S:g} s") from None
        if not out.is_file():
            tail = r.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise ReportUnavailable(f"Chromium wrote nothing (exit {r.returncode}): {' / '.join(tail)}")
        if out.stat().st_size > MAX_OUTPUT:
            raise ReportUnavailable(f"Chromium's output is over {MAX_OUTPUT >> 20} MiB")
        return out.read_bytes()


def print_pdf(page: Path) -> bytes:
    return _run(page, "--print-to-pdf", "page.pdf", ["--no-pdf-header-footer"])


def screenshot(page: Path, width: int = 1280, height: int = 2000) -> bytes:
    return _run(page, "--screenshot", "page.png", [f"--window-size={width},{height}"])
