"""Which login probe speaks a declared (or identified) service's protocol."""

from __future__ import annotations

from harness.probes.ftp import FtpLoginProbe
from harness.probes.http import HttpLoginProbe
from harness.probes.login import LoginProbe
from harness.probes.mqtt import MqttLoginProbe
from harness.probes.ssh import SshLoginProbe
from harness.probes.telnet import TelnetLogin
from harness.profile import Protocol, Service, TlsExpectation
from harness.scope import ScopeGuard

LOGIN_PROTOCOLS = ("ssh", "telnet", "http", "https", "mqtt", "mqtts", "ftp")


def login_probe(guard: ScopeGuard, address: str, service: Service, timeout: float) -> LoginProbe | None:
    p = service.protocol
    if p is Protocol.SSH:
        return SshLoginProbe(guard, address, service.port, timeout)
    if p is Protocol.TELNET:
        return TelnetLogin(guard, address, service.port, timeout)
    if p in (Protocol.HTTP, Protocol.HTTPS):
        return HttpLoginProbe(guard, address, service, timeout)
    if p in (Protocol.MQTT, Protocol.MQTTS):
        tls = p is Protocol.MQTTS or service.tls is TlsExpectation.REQUIRED
        return MqttLoginProbe(guard, address, service.port, tls, timeout)
    if p is Protocol.FTP:
        return FtpLoginProbe(guard, address, service.port, timeout)
    return None
