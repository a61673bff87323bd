"""Whether a DTLS port admits a client that holds no credential, with OpenSSL's own client.

Neither Python's ssl module nor sslyze speaks DTLS, and aiocoap's DTLS transport (tinydtls)
cannot start a handshake without a pre-shared key. `openssl s_client -dtls` (Debian's openssl,
already a harness dependency) can: sent with no certificate and no PSK, it either completes the
handshake (the port encrypts but lets anyone in, so access control rests on what runs inside),
is refused by a handshake alert (only holders of the credential get in), or hears nothing.

The address is checked and the unit's budget taken through the scope guard's slot before the
process starts; the process gets the exchange deadline as its lifetime and its output is read
up to MAX_OUTPUT bytes. Nothing is sent on stdin, so no application data leaves after a
completed handshake.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass

from harness.observation.scope import ScopeGuard, exchange_deadline

MAX_OUTPUT = 64 * 1024
COMPLETED = re.compile(r"^New, (?P<version>[\w.]+), Cipher is (?P<cipher>\S+)", re.MULTILINE)
ALERT = re.compile(r"alert (?P<alert>[a-z ]+):", re.IGNORECASE)
REFUSED_PORT = re.compile(r"errno=111|Connection refused", re.IGNORECASE)


@dataclass
class DtlsOutcome:
    outcome: str  # "completed", "refused", "closed", "silent"
    detail: str
    version: str | None = None
    cipher: str | None = None
    output: str = ""  # what s_client printed (capped), the raw evidence

    @property
    def answered(self) -> bool:
        return self.outcome in ("completed", "refused")


def handshake_without_credentials(guard: ScopeGuard, address: str, port: int, timeout: float) -> DtlsOutcome:
    deadline = exchange_deadline(timeout)
    with guard.slot(address, port, timeout) as ip:
        target = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        started = time.monotonic()
        proc = subprocess.Popen(["openssl", "s_client", "-dtls", "-connect", target, "-no_ign_eof"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=deadline)
            cut = False
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            cut = True
    text = out[:MAX_OUTPUT].decode("utf-8", "replace")
    elapsed = time.monotonic() - started
    if (m := COMPLETED.search(text)) and m["cipher"] != "(NONE)":
        return DtlsOutcome("completed", f"a {m['version']} handshake with {m['cipher']} completed without a "
                           "client certificate or pre-shared key", m["version"], m["cipher"], text)
    if a := ALERT.search(text):
        return DtlsOutcome("refused", f"the handshake without a credential was refused (alert: {a['alert'].strip()})",
                           output=text)
    if REFUSED_PORT.search(text):
        return DtlsOutcome("closed", f"udp/{port} is closed (port unreachable)", output=text)
    why = f"cut at the {deadline:g}s deadline" if cut else f"ended after {elapsed:.1f}s"
    return DtlsOutcome("silent", f"no DTLS handshake answer on udp/{port} ({why})", output=text)
