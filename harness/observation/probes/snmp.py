"""SNMP community probe (pysnmp): which well-known communities an agent answers, and whether it
speaks SNMPv3.

An SNMPv1/v2c community is a password sent in clear text, and the shipped ones (`public`,
`private`) are the same on every unit: an agent that answers one gives anyone on the network
read access to the device's management data without a password. The probe asks for sysDescr
(1.3.6.1.2.1.1.1.0) with each community, v2c then v1, and for SNMPv3 sends the unauthenticated
engine-discovery request every v3 agent must answer (RFC 3414 §4), which proves an agent is
there even when it ignores every community. Each request is one datagram through the scope
guard's slot for the unit (budget and scope), bounded by pysnmp's timeout with no retries and an
overall deadline here.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from harness.observation.scope import ScopeGuard, exchange_deadline

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
# writable in every MIB-II agent unless its configuration pins them; a write test puts each back
WRITE_TARGETS = (("sysLocation", "1.3.6.1.2.1.1.6.0"), ("sysContact", "1.3.6.1.2.1.1.4.0"),
                 ("sysName", "1.3.6.1.2.1.1.5.0"))
MAX_SHOWN = 200  # characters of sysDescr kept as evidence
# SET error statuses that refuse the *community* (RFC 3416 §4.2.5; RFC 3584 §4.4 maps them to v1's
# noSuchName/readOnly): anything else (notWritable, wrongValue, ...) refuses the object or value
REFUSED_WRITE = ("noAccess", "authorizationError", "readOnly")


class _SnmpClient:
    """The process's SNMP engine, on one event loop in a thread of its own.

    An engine loads (and, as pysnmp reads its MIB modules from source, compiles) its MIBs when
    made: about 0.15 s of CPU, which one engine per exchange turned into a third of a unit's run.
    So one engine serves every exchange of the process, whatever agent, unit or check asks: an
    exchange asked from any thread holds its slot in the scope guard there and waits for its
    answer, and exchanges from several threads overlap on the engine as pysnmp's asynchronous
    requests, each told apart by its request ID. SNMPv3 asks share it too: an agent's engine ID
    is discovered once and kept, as RFC 3414 §4 has a manager do. An exchange cut at its deadline,
    or broken, retires the engine (it may still hold that request): the next one gets a new one.
    The engines are closed as the process exits (or by `close`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.engines: list[Any] = []  # every engine made, the current one last; all closed with the loop
        self._current: Any = None
        self.spare: list[Any] = []  # made ahead of need (a fleet's fork server), for the first exchange

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=_serve, args=(self._loop,), name="snmp-client", daemon=True)
                self._thread.start()
            return self._loop

    def engine(self) -> Any:
        """The current engine, made on first need (on the loop's thread, where it is only used)."""
        if self._current is None:
            from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

            try:
                self._current = self.spare.pop()
            except IndexError:
                self._current = SnmpEngine()
            self.engines.append(self._current)
        return self._current

    def retire(self, engine: Any) -> None:
        if self._current is engine:
            self._current = None

    def close(self) -> None:
        """Close every engine's transports on the loop, cancel what is left on it (pysnmp's timer)
        as asyncio.run would, then stop the loop and its thread."""
        with self._lock:
            loop, thread, engines = self._loop, self._thread, list(self.engines)
            self._loop, self._thread, self._current = None, None, None
            self.engines.clear()
        if loop is None or thread is None:
            return

        async def shut() -> None:
            for engine in engines:
                with contextlib.suppress(Exception):
                    engine.close_dispatcher()
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not loop.is_running():
            loop.close()

    def forget(self) -> None:
        """In a forked child: the parent's loop thread was not copied, so its loop and engines are
        not this process's to use or close; the spare, made before any use, still is."""
        self._lock = threading.Lock()
        self._loop, self._thread, self._current = None, None, None
        self.engines = []


_client = _SnmpClient()
atexit.register(_client.close)
os.register_at_fork(after_in_child=_client.forget)


def make_spare_engine() -> None:
    """Make an engine now, for the first exchange of this process (or of each process forked from
    it) to take instead of making its own. An engine holds no socket and no thread until used."""
    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    _client.spare.append(SnmpEngine())


@dataclass(frozen=True)
class CommunityAnswer:
    community_id: str
    version: str  # "v2c" or "v1"
    answered: bool
    detail: str  # sysDescr (cut), or why there was no answer


class SnmpProbe:
    """One agent (address and port), asked through the process's one SNMP engine (`_SnmpClient`)."""

    def __init__(self, guard: ScopeGuard, address: str, port: int = 161, timeout: float = 2.0) -> None:
        self.guard, self.address, self.port, self.timeout = guard, address, port, timeout

    def _ask(self, command: str, auth: tuple[str, ...], oid: str, value: str | None = None):
        """One GET or SET of one object, authenticated by `auth` (("community", name, version) or
        ("usm", user)): the scope check and the unit's budget first, then the exchange within its
        deadline. Everything of pysnmp's is made and used on the loop's thread."""
        engine: list[Any] = []

        async def ask():
            from pysnmp.hlapi.v3arch import asyncio as hl

            engine.append(_client.engine())
            target = await hl.UdpTransportTarget.create((self.address, self.port), timeout=self.timeout, retries=0)
            binding = hl.ObjectType(hl.ObjectIdentity(oid), *(() if value is None else (hl.OctetString(value),)))
            send = hl.get_cmd if command == "get" else hl.set_cmd
            return await send(engine[0], _auth(hl, auth), target, hl.ContextData(), binding)

        with self.guard.slot(self.address, self.port, self.timeout):
            loop = _client.loop()
            deadline = exchange_deadline(self.timeout)
            answer = asyncio.run_coroutine_threadsafe(asyncio.wait_for(ask(), deadline), loop)
            try:
                return answer.result(deadline + 1)
            except BaseException:
                answer.cancel()
                if engine:  # one cut at the deadline or broken meets no other exchange
                    loop.call_soon_threadsafe(_client.retire, engine[0])
                raise

    @staticmethod
    def _community(community: str, version: str) -> tuple[str, ...]:
        return ("community", community, version)

    def read(self, community: str, version: str) -> tuple[bool, str]:
        """Whether the agent answers a GET of sysDescr with this community: (answered, what it said)."""
        try:
            error, status, _, binds = self._ask("get", self._community(community, version), SYS_DESCR)
        except (TimeoutError, OSError) as e:
            return False, f"no answer ({type(e).__name__})"
        if error:
            return False, f"no answer ({error})"
        if status:
            # an answer with an error status still proves the community was accepted
            return True, f"answered with error status {status.prettyPrint()}"
        return True, _value(binds)[:MAX_SHOWN]

    def get(self, community: str, version: str, oid: str) -> tuple[bool, str]:
        """A GET of one object: (answered, its whole value, or why not). Whole, because a write
        test puts exactly this value back."""
        try:
            error, status, _, binds = self._ask("get", self._community(community, version), oid)
        except (TimeoutError, OSError) as e:
            return False, f"no answer ({type(e).__name__})"
        if error or status:
            return False, str(error or status.prettyPrint())
        return True, _value(binds)

    def set(self, community: str, version: str, oid: str, value: str) -> tuple[str, str]:
        """A SET of one string object: ("accepted" | "refused" | "undetermined" | "no-answer", detail).
        Only an error status that refuses the community is a refusal (REFUSED_WRITE)."""
        try:
            error, status, _, _ = self._ask("set", self._community(community, version), oid, value)
        except (TimeoutError, OSError) as e:
            return "no-answer", f"no answer ({type(e).__name__})"
        if error:
            return "no-answer", str(error)
        if status:
            name = status.prettyPrint()
            return ("refused" if name in REFUSED_WRITE else "undetermined"), name
        return "accepted", "noError"

    def v3_user(self, user: str) -> tuple[str, str]:
        """A noAuthNoPriv read as `user`: ("answered" | "unknown-user" | "refused" | "no-answer",
        detail). An agent that knows the user but wants authentication refuses in one of two ways:
        a usmStatsUnsupportedSecLevels report, or (Net-SNMP, whose access control decides) an
        authorizationError; both are refusals."""
        try:
            error, status, _, binds = self._ask("get", ("usm", user), SYS_DESCR)
        except (TimeoutError, OSError) as e:
            return "no-answer", f"no answer ({type(e).__name__})"
        text = str(error or "")
        if "nknown" in text and "ser" in text:
            return "unknown-user", text
        if "ecurity level" in text or "nsupportedSecLevel" in text:
            return "refused", text
        if error:
            return "no-answer", text
        if status:
            name = status.prettyPrint()
            if name in ("authorizationError", "noAccess"):
                return "refused", f"error status {name}"
            return "answered", f"answered with error status {name}"
        return "answered", _value(binds)[:MAX_SHOWN]

    def v3_engine(self) -> str | None:
        """The agent's SNMPv3 engine ID from the discovery exchange, or None without a v3 answer."""
        try:  # an unknown user: the agent answers discovery with its engine ID, then a report
            error, _, _, _ = self._ask("get", ("usm", "iot-label-harness-discovery"), SYS_DESCR)
        except (TimeoutError, OSError):
            return None
        text = str(error or "")
        if "unknownUserName" in text or "usmStatsUnknownUserNames" in text or "Unknown USM user" in text:
            return text
        return None


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The client's loop thread. pysnmp is imported here, before the loop runs: its first import
    keeps a traceback (of an optional MIB compiler it does not find), and with it every frame
    that imported it, which must hold nothing else (a probe, a check's state)."""
    import pysnmp.hlapi.v3arch.asyncio  # noqa: F401

    loop.run_forever()


def _auth(hl: Any, auth: tuple[str, ...]) -> Any:
    if auth[0] == "usm":
        return hl.UsmUserData(auth[1])
    return hl.CommunityData(auth[1], mpModel=1 if auth[2] == "v2c" else 0)


def _value(binds) -> str:
    return " ".join(str(v.prettyPrint()) for _, v in binds)

def write_test(probe: SnmpProbe, community: str, version: str) -> dict:
    """Whether a community that reads can also write, proven on the first writable MIB-II string
    object: the value it holds is SET back first (valid by construction, so a refused value cannot
    pass for a refused community); only when that is accepted is a marker SET, read back, and the
    original SET and read back. An object the agent will not write (notWritable: pinned by its
    configuration) moves the test to the next one; a refusal of the community ends it."""
    tries: list[dict] = []
    marker = f"iot-label-harness-{secrets.token_hex(4)}"
    for name, oid in WRITE_TARGETS:
        ok, original = probe.get(community, version, oid)
        if not ok:
            tries.append({"object": name, "oid": oid, "skipped": f"not read: {original}"})
            continue
        outcome, detail = probe.set(community, version, oid, original)
        row: dict = {"object": name, "oid": oid, "set_same_value": detail, "outcome": outcome, "restored": None}
        tries.append(row)
        if outcome == "refused":
            break
        if outcome != "accepted":
            continue
        probe.set(community, version, oid, marker)
        row["took_effect"] = probe.get(community, version, oid) == (True, marker)
        back, _ = probe.set(community, version, oid, original)
        row["restored"] = back == "accepted" and probe.get(community, version, oid) == (True, original)
        break
    outcomes = [t.get("outcome") for t in tries]
    verdict = "accepted" if "accepted" in outcomes else "refused" if "refused" in outcomes else "undetermined"
    return {"community_version": version, "outcome": verdict, "tries": tries}
