"""CoAP (RFC 7252) without credentials, through aiocoap: what a unit lists, serves and lets
anyone change.

Each request is one exchange in the scope guard's slot for the unit (scope check, connection
budget, the wall-clock watchdog), run in its own event loop and cut at `exchange_deadline`.
aiocoap's `simple6` transport is used because it connects its UDP socket to the unit, so the
audit backstop sees the address and any datagram from elsewhere is dropped by the kernel.
A datagram that is not CoAP is ignored by aiocoap, so garbage reads as "no CoAP answer", never
as a refusal or an empty listing.

Block-wise answers (RFC 7959) are fetched block by block here rather than by aiocoap, so that
an endless or oversized resource stops at MAX_BODY_BYTES with the cut recorded.

Writes (`probe_writes`) are `intrusive`: the probe changes one setting and puts it back. It
writes only a resource whose whole value it holds and that read the same twice (a reading that
changes by itself is not a setting, and could not be proven restored), and proves the restore by
reading the original back. It never DELETEs a resource of the device's own: it creates one of
its own name and deletes that, which proves the same permission and leaves nothing behind. It
never POSTs: what a POST does is the resource's to define (often an action, a reboot or a
reset), while a PUT of the value a setting already holds proves the same permission and does
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

from harness.observation.scope import ScopeGuard, exchange_deadline

MAX_BODY_BYTES = 64 * 1024
MAX_RESOURCES = 16  # resources read from one listing; a listing of thousands is itself recorded cut
MAX_WRITE_TARGETS = 3  # existing resources a write is tried on before the probe gives up
SAMPLE_BYTES = 512  # of each answer kept as evidence
BLOCK_SZX = 6  # 1024-byte blocks
WRITE_OK = ("2.01", "2.04")  # Created, Changed
STABLE_GAP_S = 1.1  # a clock with one-second resolution reads the same twice in quick succession
REFUSED_ACCESS = ("4.01", "4.03", "4.05")  # Unauthorized, Forbidden, Method Not Allowed


class CoapUnavailable(Exception):
    """No CoAP answer at all: the port is closed, silent, or speaks something else."""


@dataclass
class CoapAnswer:
    code: str  # "2.05", "4.01", ...
    content_format: int | None = None
    payload: bytes = b""
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.code.startswith("2.")

    def record(self) -> dict:
        return {"code": self.code, "content_format": self.content_format, "bytes": len(self.payload),
                "truncated": self.truncated, "sample": self.payload[:SAMPLE_BYTES].decode("utf-8", "replace")}


@dataclass
class CoapResource:
    path: str
    attributes: dict[str, str | None] = field(default_factory=dict)


@dataclass
class CoapObservation:
    """What a CoAP port answers to a client without credentials: its listing and each listed
    resource read once (bodies capped at MAX_BODY_BYTES, kept whole for judging)."""

    port: int
    listing: dict
    resources: list[dict] = field(default_factory=list)  # {"path", "attributes"}
    reads: list[dict] = field(default_factory=list)  # {"path", "code", ..., "body"} or {"path", "error"}
    notes: list[str] = field(default_factory=list)


def observe(probe: CoapProbe) -> CoapObservation:
    """The listing, then a GET of each listed resource (up to MAX_RESOURCES). A listing the unit
    does not serve leaves `/` as the one path read. CoapUnavailable when the listing got no CoAP
    answer at all: nothing is then known about the port."""
    listing, resources = probe.resources()
    result = CoapObservation(probe.port, listing.record(),
                             [{"path": r.path, "attributes": r.attributes} for r in resources])
    paths = [r.path for r in resources if r.path != "/.well-known/core"] or ["/"]
    if len(paths) > MAX_RESOURCES:
        result.notes.append(f"{len(paths)} resources listed; the first {MAX_RESOURCES} read")
    for path in paths[:MAX_RESOURCES]:
        try:
            answer = probe.get(path)
        except CoapUnavailable as e:
            result.reads.append({"path": path, "error": str(e)})
            continue
        result.reads.append({"path": path, **answer.record(),
                             "body": answer.payload.decode("utf-8", "replace")})
    return result


def _answer(message, body: bytes, truncated: bool) -> CoapAnswer:
    cf = message.opt.content_format
    return CoapAnswer(message.code.dotted, None if cf is None else int(cf), body[:MAX_BODY_BYTES], truncated)


class CoapProbe:
    def __init__(self, guard: ScopeGuard, address: str, port: int = 5683, timeout: float = 2.0) -> None:
        self.guard, self.address, self.port, self.timeout = guard, address, port, timeout
        logging.getLogger("coap").setLevel(logging.ERROR)  # aiocoap's chatter about the device's quirks

    def _exchange(self, ask):
        """One request: scope and budget first, then `ask(context, base_uri)` in its own loop,
        within the deadline."""
        import aiocoap

        with self.guard.slot(self.address, self.port, self.timeout) as ip:
            base = f"coap://{f'[{ip}]' if ':' in ip else ip}:{self.port}"

            async def run():
                context = await aiocoap.Context.create_client_context(transports=["simple6"])
                try:
                    return await ask(context, base)
                finally:
                    await context.shutdown()

            try:
                return asyncio.run(asyncio.wait_for(run(), exchange_deadline(self.timeout)))
            except TimeoutError:
                raise CoapUnavailable(f"no CoAP answer from udp/{self.port} within "
                                      f"{exchange_deadline(self.timeout):g}s") from None
            except aiocoap.error.Error as e:
                raise CoapUnavailable(f"udp/{self.port}: {type(e).__name__}: {e}") from None
            except OSError as e:
                raise CoapUnavailable(f"udp/{self.port}: {e}") from None

    def request(self, method: str, path: str, payload: bytes = b"", content_format: int | None = None) -> CoapAnswer:
        """One request; a block-wise answer is followed block by block up to MAX_BODY_BYTES."""
        import aiocoap
        from aiocoap.optiontypes import BlockOption

        code = getattr(aiocoap, method)

        async def ask(context, base):
            body, number = b"", 0
            while True:
                message = aiocoap.Message(code=code, uri=base + path, payload=payload if number == 0 else b"")
                if content_format is not None and method != "GET":
                    message.opt.content_format = content_format
                if method == "GET":
                    message.opt.block2 = BlockOption.BlockwiseTuple(number, False, BLOCK_SZX)
                    message.payload = b""
                # a PUT body larger than one block goes out block-wise through aiocoap
                answer = await context.request(message, handle_blockwise=method != "GET").response
                body += answer.payload
                block = answer.opt.block2
                if method != "GET" or block is None or not block.more:
                    return _answer(answer, body, len(body) > MAX_BODY_BYTES)
                if len(body) >= MAX_BODY_BYTES:
                    return _answer(answer, body, True)
                number = block.block_number + 1

        return self._exchange(ask)

    def get(self, path: str) -> CoapAnswer:
        return self.request("GET", path)

    def resources(self) -> tuple[CoapAnswer, list[CoapResource]]:
        """The unit's own listing (`/.well-known/core`, RFC 6690), parsed by aiocoap's link-format reader."""
        from aiocoap.util import linkformat

        answer = self.get("/.well-known/core")
        if not answer.ok:
            return answer, []
        try:
            links = linkformat.parse(answer.payload.decode("utf-8", "strict")).links
        except (UnicodeDecodeError, ValueError) as e:
            raise CoapUnavailable(f"udp/{self.port}: /.well-known/core is not a link-format listing ({e})") from None
        found = []
        for link in links:
            href = str(link.href)
            if href.startswith("/") and "//" not in href:  # the unit's own paths, never another host's
                found.append(CoapResource(href, {k: v for k, v in link.attr_pairs}))
        return answer, found


def write_outcome(code: str) -> str:
    """What a write's answer code says about access: the protocol's own words, nothing inferred.
    A refusal of the value (4.00, 4.15, ...) says nothing about who may write, so it is not
    a refusal of access."""
    if code in WRITE_OK:
        return "accepted"
    if code in REFUSED_ACCESS:
        return "refused"
    if code == "4.04":
        return "absent"
    return "undetermined"


def probe_writes(probe: CoapProbe, readable: list[str]) -> list[dict]:
    """Try to change what anyone can read, and to create and delete a resource, without credentials.

    `readable`: the paths a GET without credentials was answered on. A setting is first written
    with the value it already holds (valid by construction, so a refusal of the value cannot pass
    for a refusal of access); only when that is accepted is a marker written, read back as proof
    and the original put back and read again. Each attempt records every exchange it made:
    `outcome` is accepted / refused / absent / undetermined, `restored` whether the original
    was proven back (None when the probe changed nothing)."""
    attempts: list[dict] = []
    marker = f"iot-label-harness-{secrets.token_hex(4)}".encode()
    tried = 0
    for path in readable:
        if tried >= MAX_WRITE_TARGETS:
            break
        try:
            first = probe.get(path)
            time.sleep(STABLE_GAP_S)
            again = probe.get(path)
        except CoapUnavailable as e:
            attempts.append({"method": "PUT", "path": path, "skipped": f"not read twice: {e}"})
            continue
        if not first.ok or first.truncated:
            attempts.append({"method": "PUT", "path": path, "skipped": f"not held whole (GET {first.code}, "
                             f"truncated: {first.truncated}): it could not be put back"})
            continue
        if again.payload != first.payload:
            attempts.append({"method": "PUT", "path": path, "skipped": "its value changes by itself (a reading, "
                             "not a setting): a write could not be proven restored"})
            continue
        tried += 1
        attempts.append(_write_setting(probe, path, first, marker))
    attempts.append(_create_and_delete(probe, f"/iot-label-harness-{secrets.token_hex(4)}", marker))
    return attempts


def _write_setting(probe: CoapProbe, path: str, first: CoapAnswer, marker: bytes) -> dict:
    row: dict = {"method": "PUT", "path": path, "restored": None}
    try:
        same = probe.request("PUT", path, first.payload, first.content_format)
    except CoapUnavailable as e:
        return {**row, "outcome": "undetermined", "error": f"PUT of its own value: {e}"}
    row |= {"put_same_value": same.record(), "outcome": write_outcome(same.code)}
    if row["outcome"] != "accepted":
        return row
    try:
        probe.request("PUT", path, marker, 0)
        row["read_after_marker"] = probe.get(path).record()
        row["took_effect"] = row["read_after_marker"]["sample"] == marker.decode()
    except CoapUnavailable as e:
        row["error"] = f"marker write: {e}"
    finally:  # whatever happened to the marker, the original goes back and is read back
        try:
            back = probe.request("PUT", path, first.payload, first.content_format)
            proof = probe.get(path)
            row["restore"] = {"put": back.record(), "read": proof.record()}
            row["restored"] = proof.payload == first.payload
        except CoapUnavailable as e:
            row["restore"], row["restored"] = {"error": str(e)}, False
    return row


def _create_and_delete(probe: CoapProbe, own: str, marker: bytes) -> dict:
    row: dict = {"method": "PUT+DELETE", "path": own, "restored": None}
    try:
        create = probe.request("PUT", own, marker, 0)
    except CoapUnavailable as e:
        return {**row, "outcome": "undetermined", "error": str(e)}
    row |= {"put": create.record(), "outcome": write_outcome(create.code)}
    if row["outcome"] == "absent":
        row["outcome"] = "refused"  # creation is not offered: a PUT to a new name finds nothing
    if row["outcome"] == "accepted":
        try:
            row["delete"] = probe.request("DELETE", own).record()
            row["read_after_delete"] = probe.get(own).record()
            row["restored"] = row["read_after_delete"]["code"] == "4.04"
        except CoapUnavailable as e:
            row["error"], row["restored"] = f"delete of its own resource: {e}", False
    return row
