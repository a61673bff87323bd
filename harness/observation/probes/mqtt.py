"""MQTT login probe (paho-mqtt): anonymous and username/password connections, over TLS for mqtts
(certificates not judged here). An anonymous client is also asked to subscribe to everything
and to publish, since a broker may accept the connection but refuse both."""

from __future__ import annotations

import secrets
import ssl
import time

import paho.mqtt.client as mqtt

from harness.observation.probes.login import Access, Attempt, Unreachable, declared_class
from harness.observation.scope import ScopeGuard

CRITERION = "the broker answers CONNACK with return code 0 (connection accepted)"
# MQTT 3.1.1 §3.2.2.3 defines return codes 0-5 and reserves the rest; paho maps a reserved code to
# "Unspecified error". Such an answer is not MQTT as specified: it is neither an acceptance nor a
# refusal, and reading it as a refusal would be a false PASS.
RESERVED = "Unspecified error"


def _malformed(rc) -> bool:
    return rc is not None and rc.getName() == RESERVED


class MqttLoginProbe:
    protocol = "mqtt"
    criterion = CRITERION
    probe_class = "auth"

    def __init__(self, guard: ScopeGuard, address: str, port: int, tls: bool, timeout: float = 5.0) -> None:
        self.guard, self.address, self.port, self.tls, self.timeout = guard, address, port, tls, timeout

    def _session(self, username: str | None, password: str | None, probe_topics: bool = False) -> dict:
        state: dict = {}
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"iot-harness-{secrets.token_hex(4)}",
                             protocol=mqtt.MQTTv311)
        if username is not None:
            client.username_pw_set(username, password)
        if self.tls:
            client.tls_set(cert_reqs=ssl.CERT_NONE)
            client.tls_insecure_set(True)
        client.on_connect = lambda c, u, flags, rc, props: state.update(rc=rc)
        client.on_subscribe = lambda c, u, mid, rcs, props: state.update(
            suback=[int(getattr(r, "value", r)) for r in rcs]
        )
        client.on_publish = lambda c, u, mid, rc, props: state.update(puback=True)
        client.on_disconnect = lambda c, u, flags, rc, props: state.update(disconnected=str(rc))
        with self.guard.slot(self.address, self.port, self.timeout):
            try:
                client.connect(self.address, self.port, keepalive=10)
            except (OSError, ssl.SSLError) as e:
                raise Unreachable(f"cannot connect to {self.address}:{self.port}: {e}") from None
            deadline = time.monotonic() + self.timeout
            while "rc" not in state and "disconnected" not in state and time.monotonic() < deadline:
                client.loop(0.1)
            rc = state.get("rc")
            if probe_topics and rc is not None and not rc.is_failure:
                client.subscribe("#", qos=1)
                client.publish("iot-harness/probe", b"unauthenticated publish test", qos=1)
                deadline = time.monotonic() + self.timeout
                while ("suback" not in state or "puback" not in state) and time.monotonic() < deadline:
                    client.loop(0.1)
            client.disconnect()
        return state

    def fingerprint(self) -> dict[str, str]:
        return {}

    def not_applicable(self) -> str | None:
        access = self.anonymous_access()
        if access.refused is False:
            return "the broker accepts clients without any credentials (judged by the unauthenticated-access case)"
        return None

    def anonymous_access(self) -> Access:
        state = self._session(None, None, probe_topics=True)
        rc = state.get("rc")
        if rc is None:
            return Access(None, f"no CONNACK within {self.timeout:g}s ({state.get('disconnected', 'no answer')})")
        obs = [{"connack": str(rc), "suback": state.get("suback"), "puback": state.get("puback", False)}]
        if _malformed(rc):
            return Access(None, "the CONNACK carries a return code MQTT 3.1.1 reserves (not 0-5): not a conforming "
                          "broker answer, so it proves neither acceptance nor refusal", obs)
        if rc.is_failure:
            return Access(True, f"anonymous connection refused: {rc}", obs)
        granted = state.get("suback") and all(code < 0x80 for code in state["suback"])
        return Access(False, "anonymous client connected"
                      + (", subscribed to '#'" if granted else "")
                      + (" and published" if state.get("puback") else ""), obs)

    @declared_class
    def attempt(self, username: str, password: str) -> Attempt:
        t0 = time.monotonic()
        rc = self._session(username, password).get("rc")
        if rc is None:
            return Attempt(username, None, "no CONNACK", round(time.monotonic() - t0, 3))
        if _malformed(rc):
            return Attempt(username, None, "CONNACK with a reserved return code (not MQTT 3.1.1)",
                           round(time.monotonic() - t0, 3))
        return Attempt(username, not rc.is_failure, f"CONNACK {rc}", round(time.monotonic() - t0, 3))


def login_probe(guard: ScopeGuard, address: str, service, timeout: float) -> MqttLoginProbe:
    """The entry the protocol table names (harness/observation/protocols.py)."""
    tls = str(service.protocol) == "mqtts" or str(service.tls) == "required"
    return MqttLoginProbe(guard, address, service.port, tls, timeout)
