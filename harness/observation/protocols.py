"""The protocol table: one entry per application protocol the harness knows.

Adding a protocol is one entry here: the profile accepts its name, undeclared ports are
identified by its greeting, the credential checks reach it through its login probe, and the
TLS checks know whether it is TLS by nature. Login probes are named by import path and loaded
on first use, so the table stays plain data and imports nothing heavy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.observation.probes.login import LoginProbe


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    transport: str = "tcp"
    tls: bool = False  # TLS by nature (https, mqtts); a declared `tls:` can add it to others
    usual_ports: tuple[int, ...] = ()
    login: str | None = None  # "module:factory(guard, address, service, timeout) -> LoginProbe"
    greeting: Callable[[bytes], bool] | None = field(default=None, compare=False)  # what it says first
    # answers discovery queries and nothing else (no functions, no settings, nothing secret): what it
    # gives away is judged by the discovery checks, and access control or clear text do not bear on it
    discovery_only: bool = False
    # some probe of this harness speaks it (every login protocol does); for the others, no check can
    # judge a declared service at all, and the coverage matrix and `profile validate` say so
    spoken: bool = False

    @property
    def has_probe(self) -> bool:
        return self.spoken or self.login is not None


def _telnet_greeting(first: bytes) -> bool:
    return first[:1] == b"\xff" or b"login:" in first.lower()


PROTOCOLS: dict[str, ProtocolSpec] = {p.name: p for p in (
    ProtocolSpec("ssh", usual_ports=(22,), login="harness.observation.probes.ssh:login_probe",
                 greeting=lambda b: b.startswith(b"SSH-")),
    ProtocolSpec("telnet", usual_ports=(23,), login="harness.observation.probes.telnet:login_probe",
                 greeting=_telnet_greeting),
    ProtocolSpec("ftp", usual_ports=(21,), login="harness.observation.probes.ftp:login_probe",
                 greeting=lambda b: b.startswith(b"220")),
    ProtocolSpec("http", usual_ports=(80, 8080), login="harness.observation.probes.http:login_probe"),
    ProtocolSpec("https", tls=True, usual_ports=(443, 8443), login="harness.observation.probes.http:login_probe"),
    ProtocolSpec("mqtt", usual_ports=(1883,), login="harness.observation.probes.mqtt:login_probe"),
    ProtocolSpec("mqtts", tls=True, usual_ports=(8883,), login="harness.observation.probes.mqtt:login_probe"),
    ProtocolSpec("tls", tls=True, spoken=True),  # TLS around something the harness could not name
    ProtocolSpec("tftp", transport="udp", usual_ports=(69,), spoken=True),
    ProtocolSpec("snmp", transport="udp", usual_ports=(161,), spoken=True),
    ProtocolSpec("upnp", usual_ports=(5000, 49152), spoken=True),
    ProtocolSpec("ssdp", transport="udp", usual_ports=(1900,), discovery_only=True, spoken=True),
    ProtocolSpec("mdns", transport="udp", usual_ports=(5353,), discovery_only=True, spoken=True),
    # name and service discovery nothing here queries: no functions or settings behind them, so access
    # control and clear text do not bear on them (an ONVIF camera's WS-Discovery is declared so)
    ProtocolSpec("ws-discovery", transport="udp", usual_ports=(3702,), discovery_only=True),
    ProtocolSpec("llmnr", transport="udp", usual_ports=(5355,), discovery_only=True),
    ProtocolSpec("netbios-ns", transport="udp", usual_ports=(137,), discovery_only=True),
    ProtocolSpec("coap", transport="udp", usual_ports=(5683,), spoken=True),
    # CoAP over DTLS (RFC 7252 §9): encrypted, but sslyze speaks no DTLS, so not a `tls` protocol
    ProtocolSpec("coaps", transport="udp", usual_ports=(5684,), spoken=True),
    ProtocolSpec("rtsp", usual_ports=(554,)),
    ProtocolSpec("other"),
)}

LOGIN_PROTOCOLS: tuple[str, ...] = tuple(n for n, p in PROTOCOLS.items() if p.login)
TLS_PROTOCOLS: tuple[str, ...] = tuple(n for n, p in PROTOCOLS.items() if p.tls)


def spec(name: str) -> ProtocolSpec:
    return PROTOCOLS[str(name)]


def by_greeting(first: bytes) -> str | None:
    """The protocol a port's first words give away, or None."""
    for p in PROTOCOLS.values():
        if p.greeting and first and p.greeting(first):
            return p.name
    return None


def login_probe(guard: Any, address: str, service: Any, timeout: float) -> LoginProbe | None:
    """The login probe for a declared (or identified) service, or None when none speaks it."""
    entry = PROTOCOLS[str(service.protocol)].login
    if entry is None:
        return None
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(module), name)(guard, address, service, timeout)
