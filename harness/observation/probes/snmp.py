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
from dataclasses import dataclass

from harness.observation.scope import ScopeGuard, exchange_deadline

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
MAX_SHOWN = 200  # characters of sysDescr kept as evidence


@dataclass(frozen=True)
class CommunityAnswer:
    community_id: str
    version: str  # "v2c" or "v1"
    answered: bool
    detail: str  # sysDescr (cut), or why there was no answer


class SnmpProbe:
    def __init__(self, guard: ScopeGuard, address: str, port: int = 161, timeout: float = 2.0) -> None:
        self.guard, self.address, self.port, self.timeout = guard, address, port, timeout

    def _run(self, ask):
        """One exchange: the scope check and the unit's budget first, then `ask()` within its deadline."""
        with self.guard.slot(self.address, self.port, self.timeout):
            return asyncio.run(asyncio.wait_for(ask(), exchange_deadline(self.timeout)))

    def read(self, community: str, version: str) -> tuple[bool, str]:
        """Whether the agent answers a GET of sysDescr with this community: (answered, what it said)."""
        from pysnmp.hlapi.v3arch.asyncio import (
            CommunityData,
            ContextData,
            ObjectIdentity,
            ObjectType,
            SnmpEngine,
            UdpTransportTarget,
            get_cmd,
        )

        async def ask():
            target = await UdpTransportTarget.create((self.address, self.port), timeout=self.timeout, retries=0)
            return await get_cmd(SnmpEngine(), CommunityData(community, mpModel=1 if version == "v2c" else 0),
                                 target, ContextData(), ObjectType(ObjectIdentity(SYS_DESCR)))

        try:
            error, status, _, binds = self._run(ask)
        except (TimeoutError, OSError) as e:
            return False, f"no answer ({type(e).__name__})"
        if error:
            return False, f"no answer ({error})"
        if status:
            # an answer with an error status still proves the community was accepted
            return True, f"answered with error status {status.prettyPrint()}"
        return True, " ".join(str(v.prettyPrint()) for _, v in binds)[:MAX_SHOWN]

    def v3_engine(self) -> str | None:
        """The agent's SNMPv3 engine ID from the discovery exchange, or None without a v3 answer."""
        from pysnmp.hlapi.v3arch.asyncio import (
            ContextData,
            ObjectIdentity,
            ObjectType,
            SnmpEngine,
            UdpTransportTarget,
            UsmUserData,
            get_cmd,
        )

        engine = SnmpEngine()

        async def ask():
            target = await UdpTransportTarget.create((self.address, self.port), timeout=self.timeout, retries=0)
            # an unknown user: the agent answers discovery with its engine ID, then a report
            return await get_cmd(engine, UsmUserData("iot-label-harness-discovery"), target, ContextData(),
                                 ObjectType(ObjectIdentity(SYS_DESCR)))

        try:
            error, _, _, _ = self._run(ask)
        except (TimeoutError, OSError):
            return None
        text = str(error or "")
        if "unknownUserName" in text or "usmStatsUnknownUserNames" in text or "Unknown USM user" in text:
            return text
        return None
