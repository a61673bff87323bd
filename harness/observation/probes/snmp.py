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
import contextlib
import secrets
import threading
import weakref
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


@dataclass(frozen=True)
class CommunityAnswer:
    community_id: str
    version: str  # "v2c" or "v1"
    answered: bool
    detail: str  # sysDescr (cut), or why there was no answer


class SnmpProbe:
    """Use as a context manager: it keeps SNMP engines between exchanges and closes them on leaving.

    An engine loads its MIB modules when made (about 0.13 s of CPU): one per exchange was a fifth
    of a run's Python time on a unit with an agent. A community exchange borrows an idle engine,
    each with the event loop it was opened on, and gives it back only after a clean exchange; an
    SNMPv3 exchange gets a fresh engine, so every one begins with its own discovery, as the agent
    would see from a stranger."""

    def __init__(self, guard: ScopeGuard, address: str, port: int = 161, timeout: float = 2.0) -> None:
        self.guard, self.address, self.port, self.timeout = guard, address, port, timeout
        self._idle: list[tuple[asyncio.AbstractEventLoop, Any]] = []
        self._lock = threading.Lock()
        weakref.finalize(self, _dispose_all, self._idle)  # a probe dropped without close() closes its engines too

    def __enter__(self) -> SnmpProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _dispose_all(idle)

    def _borrow(self) -> tuple[asyncio.AbstractEventLoop, Any]:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        with self._lock:
            if self._idle:
                return self._idle.pop()
        return asyncio.new_event_loop(), SnmpEngine()

    def _ask(self, command: str, auth, oid: str, value: str | None = None, fresh: bool = False):
        """One GET or SET of one object, authenticated by `auth` (a community or a USM user): the
        scope check and the unit's budget first, then the exchange within its deadline."""
        from pysnmp.hlapi.v3arch import asyncio as hl

        async def ask(engine):
            target = await hl.UdpTransportTarget.create((self.address, self.port), timeout=self.timeout, retries=0)
            binding = hl.ObjectType(hl.ObjectIdentity(oid), *(() if value is None else (hl.OctetString(value),)))
            send = hl.get_cmd if command == "get" else hl.set_cmd
            return await send(engine, auth, target, hl.ContextData(), binding)

        with self.guard.slot(self.address, self.port, self.timeout):
            loop, engine = (asyncio.new_event_loop(), hl.SnmpEngine()) if fresh else self._borrow()
            clean = False
            try:
                answer = loop.run_until_complete(asyncio.wait_for(ask(engine), exchange_deadline(self.timeout)))
                clean = True
                return answer
            finally:
                if clean and not fresh:
                    with self._lock:
                        self._idle.append((loop, engine))
                else:  # a fresh engine serves one exchange; one cut at the deadline or broken meets no other
                    _dispose(loop, engine)

    @staticmethod
    def _community(community: str, version: str):
        from pysnmp.hlapi.v3arch.asyncio import CommunityData

        return CommunityData(community, mpModel=1 if version == "v2c" else 0)

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
        from pysnmp.hlapi.v3arch.asyncio import UsmUserData

        try:
            error, status, _, binds = self._ask("get", UsmUserData(user), SYS_DESCR, fresh=True)
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
        from pysnmp.hlapi.v3arch.asyncio import UsmUserData

        try:  # an unknown user: the agent answers discovery with its engine ID, then a report
            error, _, _, _ = self._ask("get", UsmUserData("iot-label-harness-discovery"), SYS_DESCR, fresh=True)
        except (TimeoutError, OSError):
            return None
        text = str(error or "")
        if "unknownUserName" in text or "usmStatsUnknownUserNames" in text or "Unknown USM user" in text:
            return text
        return None


def _dispose_all(pairs: list[tuple[asyncio.AbstractEventLoop, Any]]) -> None:
    while pairs:
        _dispose(*pairs.pop())


def _dispose(loop: asyncio.AbstractEventLoop, engine: Any) -> None:
    """Close an engine's transports on the loop they were opened on, then the loop, with the tasks
    still on it (pysnmp's timer) cancelled first, as asyncio.run would."""
    async def close() -> None:
        engine.close_dispatcher()
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    with contextlib.suppress(Exception):
        loop.run_until_complete(close())
    loop.close()


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
