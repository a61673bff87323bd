"""The observation store: what the harness learnt about each unit, made once and read by every check.

An observation (the TCP and UDP inventories, what each open port speaks, discovery answers,
TLS and SSH offers, plain-HTTP answers) is made the first time a check asks for it, written
into the bundle under `observations/<unit>/<key>.json` at once, and served to every later check
from memory. A failed observation is recorded too, and raises the same error for every check
that needs it, so two checks never see two different devices.

Facts that only a live case can establish (a default pair the device accepted, an image it
installed without credentials) are recorded with `note()` and readable by any check through
`facts()`: evidence from one case counts for every requirement it bears on.

Because checks read observations only through this store, a bundle can be judged again
(`rejudge`): the store is then filled from the bundle's recorded observations and the guard
refuses every connection, so a check either judges anew from what was recorded or is carried.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from harness.declaration.profile import DeviceProfile, Service, Transport, Unit
from harness.observation.discovered import DiscoveredInterface
from harness.observation.logins import default_series
from harness.observation.probes.coap import CoapObservation, CoapProbe, CoapUnavailable, probe_writes
from harness.observation.probes.coap import observe as coap_observe
from harness.observation.probes.discovery import Advertised, DiscoveryResult, discover
from harness.observation.probes.documents import FetchedDocument
from harness.observation.probes.documents import fetch as fetch_document
from harness.observation.probes.documents import read_file as read_document
from harness.observation.probes.dtls import DtlsOutcome, handshake_without_credentials
from harness.observation.probes.http_plain import PlainHttpAnswers, plain_http
from harness.observation.probes.http_surface import StateChangeTarget, WebPage, WebSurface, explore
from harness.observation.probes.identify import identify
from harness.observation.probes.login import Unreachable
from harness.observation.probes.portscan import PortScan, ScanUnavailable, VersionScan, tcp_scan, udp_scan, version_scan
from harness.observation.probes.snmp import MAX_SHOWN, SYS_DESCR, SnmpProbe
from harness.observation.probes.sshkex import SshOffer, SshOfferUnavailable, read_offer
from harness.observation.probes.tftp import TftpAnswer
from harness.observation.probes.tftp import ask as tftp_ask
from harness.observation.probes.tls import CertificateFacts, TlsObservation, TlsUnavailable
from harness.observation.probes.tls import scan as tls_scan
from harness.observation.scope import ScopeGuard, ScopeViolation, background_share

T = TypeVar("T")
FOLDER = "observations"
FACTS = f"{FOLDER}/facts.jsonl"
DOCUMENTS = f"{FOLDER}/_documents"
UDP_SCAN_TIMEOUT_S = 60.0
IDENTIFY_TIMEOUT_S = 2.0
# a CoAP or TFTP server answers a request in milliseconds, and one that answers late (a separate
# response that never comes) must not cost the profile's full exchange deadline for each request
UDP_REQUEST_TIMEOUT_S = 1.5
TFTP_PORT = 69
SNMP_PORT = 161

# Errors an observation may end in, by name, so a recorded failure is raised again as itself.
_ERRORS: dict[str, type[Exception]] = {e.__name__: e for e in (
    ScanUnavailable, TlsUnavailable, SshOfferUnavailable, Unreachable, CoapUnavailable)}


class NotRecorded(ScopeViolation):
    """Re-judging needs an observation the original run never made: the check is carried."""


class ObservationStore:
    def __init__(self, guard: ScopeGuard, profile: DeviceProfile, recorder, replay_from: Path | None = None,
                 udp_ports: Callable[[Unit], list[int]] | None = None, udp_names: dict[int, str] | None = None,
                 profile_folder: Path | None = None) -> None:
        self.guard = guard
        self.profile_folder = profile_folder  # where a document given as a file is read from
        self.profile = profile
        self.recorder = recorder
        self.replay_from = replay_from
        self._udp_ports = udp_ports or (lambda unit: [])
        self._udp_names = udp_names or {}  # well-known UDP port -> its service's name (exposure data)
        self._memo: dict[str, tuple[str, Any]] = {}  # key -> ("ok", value) | ("error", (type, text))
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._read: set[str] = set()
        self._facts: list[dict[str, Any]] = []
        self._quiet = threading.local()  # set on prefetch threads: what they make is no case's reading

    # ------------------------------------------------------------ bookkeeping
    def begin_case(self) -> None:
        self._read = set()

    def read_by_case(self) -> list[str]:
        """Bundle paths of the observations the current case read: evidence its findings rest on."""
        return sorted(self._read)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def _observe(self, unit: Unit, key: str, make: Callable[[], T], encode: Callable[[T], Any],
                 decode: Callable[[Any], T]) -> T:
        return self._observe_at(f"{FOLDER}/{unit.name}/{key}.json", make, encode, decode)

    def _observe_at(self, path: str, make: Callable[[], T], encode: Callable[[T], Any],
                    decode: Callable[[Any], T]) -> T:
        with self._key_lock(path):
            if path not in self._memo:
                self._memo[path] = self._load(path, decode) if self.replay_from else self._make(path, make, encode)
        if not getattr(self._quiet, "on", False):
            self._read.add(path)
        state, value = self._memo[path]
        if state == "error":
            kind, text = value
            raise _ERRORS.get(kind, Unreachable)(text)
        return value

    def _make(self, path: str, make: Callable[[], T], encode: Callable[[T], Any]) -> tuple[str, Any]:
        try:
            value = make()
        except tuple(_ERRORS.values()) as e:
            self.recorder.write_json(path, {"error": {"type": type(e).__name__, "text": str(e)}})
            return "error", (type(e).__name__, str(e))
        self.recorder.write_json(path, {"observation": encode(value)})
        return "ok", value

    def _load(self, path: str, decode: Callable[[Any], T]) -> tuple[str, Any]:
        assert self.replay_from is not None
        src = self.replay_from / path
        if not src.is_file():
            refusal = NotRecorded(f"the original run recorded no {path}: this needs the device")
            self.guard.refused.append(str(refusal))  # counted like any refused contact: the case is carried
            raise refusal
        data = json.loads(src.read_text())
        self.recorder.write_json(path, data)  # the new bundle holds what its verdicts rest on
        if "error" in data:
            return "error", (data["error"]["type"], data["error"]["text"])
        return "ok", decode(data["observation"])

    def prefetch(self, work: list[Callable[[], Any]], parallel: int) -> None:
        """Start slow, read-only observations (nmap's version detection) in the background while the
        first cases run: a case that needs one waits on the same key lock and reads the one result,
        so nothing is made twice and nothing differs. A failure here is left for the case that asks
        to meet (recorded errors) or to make again (anything else). `settle()` must be called before
        the bundle is sealed: nothing may be written into it after."""
        def quietly(job: Callable[[], Any]) -> None:
            self._quiet.on = True
            # the case that needs it meets a failure properly; marked background, its connections
            # yield to the cases' (scope.UnitBudget)
            with contextlib.suppress(BaseException), self.guard.background():
                job()

        self._prefetching = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="prefetch")
        for job in work:
            self._prefetching.submit(quietly, job)

    def settle(self) -> None:
        """Wait for the prefetch still running (each bounded by its own scan deadlines); drop what
        has not started."""
        pool, self._prefetching = getattr(self, "_prefetching", None), None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ observations
    def tcp_scan(self, unit: Unit) -> PortScan:
        """Every open TCP port of the unit (a full nmap connect scan)."""
        return self._observe(unit, "tcp-scan", lambda: tcp_scan(
            self.guard, unit.address, timeout_s=self.profile.limits.port_scan_timeout_s), asdict, _port_scan)

    def tcp_scan_after_reset(self, unit: Unit) -> PortScan:
        """A second full TCP scan, taken after a factory reset: what the factory state exposes."""
        return self._observe(unit, "tcp-scan-after-reset", lambda: tcp_scan(
            self.guard, unit.address, timeout_s=self.profile.limits.port_scan_timeout_s), asdict, _port_scan)

    def default_logins(self, unit: Unit, service: Service, label: str) -> dict[str, Any]:
        """The well-known pairs tried on one declared login service (`logins.default_series`):
        an observation, so the series can start in the background as the run begins and overlap
        the other units' device-imposed login delays; the case reads the one series it made."""
        return self._observe(unit, f"default-logins-{service.name}",
                             lambda: default_series(self.guard, unit.address, service, self.profile, label),
                             lambda d: d, lambda d: d)

    def service_versions(self, unit: Unit) -> VersionScan:
        """What each open TCP port says it runs (nmap -sV on the ports the full scan found open)."""
        # prefetched, it fills what the cases leave of the unit's budget (see UnitBudget)
        parallel = min(4, background_share(self.profile.limits.max_connections_per_unit))

        def make() -> VersionScan:
            # a login prompt takes nmap's probes as usernames: failed logins that could lock the very
            # account the credential checks test next, for a banner that rarely names a version
            prompts = {p for p, (proto, _) in self.protocols(unit).items() if proto == "telnet"}
            scan = version_scan(self.guard, unit.address,
                                [p for p in self.tcp_scan(unit).open_ports if p not in prompts], parallel=parallel)
            for port in sorted(prompts):
                scan.unidentified[port] = "not probed: a telnet login prompt (nmap's probes would be failed logins)"
            return scan

        return self._observe(unit, "tcp-versions", make, asdict,
            lambda d: VersionScan(**{**d, "services": {int(k): v for k, v in d["services"].items()},
                                     "unidentified": {int(k): v for k, v in d["unidentified"].items()}}))

    def udp_ports_probed(self, unit: Unit) -> list[int]:
        declared = [s.port for s in self.profile.services_for(unit) if s.transport is Transport.UDP]
        return sorted(set(self._udp_ports(unit)) | set(declared))

    def udp_scan(self, unit: Unit) -> PortScan:
        """The UDP ports that answered, of those IoT devices commonly answer on plus the declared ones.
        A TFTP port nmap left "open|filtered" is asked directly (see `PortScan.confirmed`)."""
        ports = self.udp_ports_probed(unit)
        tftp = {TFTP_PORT} | {s.port for s in self.profile.services_for(unit) if s.transport is Transport.UDP
                              and str(s.protocol) == "tftp"}

        def make() -> PortScan:
            scan = udp_scan(self.guard, unit.address, ports, timeout_s=UDP_SCAN_TIMEOUT_S)
            for port in sorted(p for p in tftp if scan.states.get(p) == "open|filtered"):
                answer = self.tftp(unit, port)
                if answer.outcome == "answered":
                    scan.open_ports = sorted({*scan.open_ports, port})
                    scan.states[port] = "open"
                    scan.confirmed[port] = f"a TFTP read request: {answer.detail}"
            if scan.states.get(SNMP_PORT) in ("open", "open|filtered"):
                self._public_sysdescr(unit, scan)
            return scan

        return self._observe(unit, "udp-scan", make, asdict, _port_scan)

    def _public_sysdescr(self, unit: Unit, scan: PortScan) -> None:
        """Ask the SNMP port the UDP scan found for sysDescr with the community every agent ships,
        "public", over SNMPv1: an answer is management data anyone on the network reads (and
        proves the port open). One datagram through the guard, as every SNMP exchange."""
        probe = SnmpProbe(self.guard, unit.address, SNMP_PORT, self._udp_request_timeout)
        answered, said = probe.get("public", "v1", SYS_DESCR)
        said = said[:MAX_SHOWN]
        if answered:
            scan.sysdescr[SNMP_PORT] = said
            if scan.states[SNMP_PORT] != "open":  # nmap's own datagram went unanswered; this one did not
                scan.open_ports = sorted({*scan.open_ports, SNMP_PORT})
                scan.states[SNMP_PORT] = "open"
                scan.confirmed[SNMP_PORT] = "an SNMPv1 GET of sysDescr with the community public"

    def speaks(self, unit: Unit, port: int) -> str | None:
        """What an open TCP port says it is, by its greeting or its answer (None: not recognised)."""
        return self._observe(unit, f"speaks-{port}", lambda: identify(self.guard, unit.address, port,
                                                                     IDENTIFY_TIMEOUT_S), lambda v: v, lambda v: v)

    def protocols(self, unit: Unit, state: str | None = None) -> dict[int, tuple[str | None, bool]]:
        """Open TCP port -> (protocol, declared?). A port declared in `state` takes the declared
        protocol; any other port is identified by what it says (one observation per port, made
        in parallel within the unit's connection budget)."""
        declared = {s.port: s for s in self.profile.services_for(unit, state) if s.transport is Transport.TCP}
        ports = self.tcp_scan(unit).open_ports
        others = [p for p in ports if p not in declared]
        workers = max(1, min(4, self.guard.max_connections_per_unit // 2))
        with ThreadPoolExecutor(workers, thread_name_prefix="identify") as pool:
            said = dict(zip(others, pool.map(lambda p: self.speaks(unit, p), others), strict=True))
        return {port: ((str(declared[port].protocol), True) if port in declared else (said[port], False))
                for port in ports}

    def discovery(self, unit: Unit) -> DiscoveryResult:
        """What the unit answers to unicast mDNS/DNS-SD and SSDP, with its UPnP descriptions."""
        return self._observe(unit, "discovery", lambda: discover(
            self.guard, unit.address, exchange_timeout=self.profile.limits.connect_timeout_s), asdict, _discovery)

    def tls(self, unit: Unit, port: int) -> tuple[TlsObservation, str]:
        """sslyze's reading of one TLS port (its JSON is the raw evidence), or TlsUnavailable."""
        comm = self.profile.communication

        def make() -> tuple[TlsObservation, str]:
            return tls_scan(self.guard, unit.address, port, comm.trust_anchor,
                            timeout=self.profile.limits.connect_timeout_s)

        return self._observe(unit, f"tls-{port}", make, lambda v: {"summary": asdict(v[0]), "sslyze": v[1]},
                             lambda d: (_tls(d["summary"]), d["sslyze"]))

    def ssh_offer(self, unit: Unit, port: int) -> SshOffer:
        """The SSH server's own algorithm offer (KEXINIT), or SshOfferUnavailable."""
        return self._observe(unit, f"ssh-offer-{port}", lambda: read_offer(
            self.guard, unit.address, port, self.profile.limits.connect_timeout_s), asdict, lambda d: SshOffer(**d))

    def plain_http(self, unit: Unit, port: int, paths: list[str]) -> PlainHttpAnswers:
        """How a plain-HTTP port answers GETs of `paths`: served, challenged or redirected."""
        key = f"http-plain-{port}"
        return self._observe(unit, key, lambda: plain_http(
            self.guard, unit.address, port, paths, self.profile.limits.connect_timeout_s),
            asdict, lambda d: PlainHttpAnswers(**d))

    def web_surface(self, unit: Unit, port: int, tls: bool, service: Service | None = None) -> WebSurface:
        """What an HTTP(S) port serves without credentials, by safe requests only: its pages and
        their links and forms, the declared service's protected and API paths, the common IoT
        endpoints; paths that may act are listed as targets, never fetched (see `http_surface`)."""
        return self._observe(unit, f"web-{port}", lambda: explore(
            self.guard, unit.address, port, tls,
            protected=list(service.protected_paths) if service else [],
            api=list(service.api_paths) if service else [],
            login_path=service.http_login.path if service and service.http_login and service.http_login.kind == "form"
            else None,
            timeout=self.profile.limits.connect_timeout_s), asdict, _web_surface)

    def coap(self, unit: Unit, port: int) -> CoapObservation:
        """A CoAP port's listing and each listed resource as a client without credentials reads it."""
        return self._observe(unit, f"coap-{port}", lambda: coap_observe(self._coap_probe(unit, port)), asdict,
                             lambda d: CoapObservation(**d))

    def coap_writes(self, unit: Unit, port: int) -> list[dict]:
        """Writes without credentials (class `intrusive`, which the calling check must hold): each
        readable stable setting changed and proven restored, a resource of the harness's own created
        and deleted. Made once, like every observation, so no second check writes again."""
        readable = [r["path"] for r in self.coap(unit, port).reads if str(r.get("code", "")).startswith("2.")]
        return self._observe(unit, f"coap-writes-{port}", lambda: probe_writes(self._coap_probe(unit, port),
                                                                               readable), lambda v: v, lambda v: v)

    def _coap_probe(self, unit: Unit, port: int) -> CoapProbe:
        return CoapProbe(self.guard, unit.address, port, self._udp_request_timeout)

    @property
    def _udp_request_timeout(self) -> float:
        return min(self.profile.limits.connect_timeout_s, UDP_REQUEST_TIMEOUT_S)

    def dtls(self, unit: Unit, port: int) -> DtlsOutcome:
        """How a DTLS port answers a handshake from a client that holds no credential."""
        return self._observe(unit, f"dtls-{port}", lambda: handshake_without_credentials(
            self.guard, unit.address, port, self.profile.limits.connect_timeout_s), asdict,
            lambda d: DtlsOutcome(**d))

    def document(self, kind: str, ref: str) -> FetchedDocument:
        """A document the profile declares (`urls`), fetched once per run: an http(s) URL through the
        scope guard, or a file read from the profile's folder. Kept under observations/_documents/
        (device-wide, not a unit's; unit names cannot start with "_")."""
        def make() -> FetchedDocument:
            if ref.startswith(("http://", "https://")):
                return fetch_document(self.guard, kind, ref, self.profile.limits.connect_timeout_s)
            path = Path(ref) if Path(ref).is_absolute() or self.profile_folder is None else self.profile_folder / ref
            return read_document(kind, path, ref)

        return self._observe_at(f"{DOCUMENTS}/{kind}.json", make, asdict, lambda d: FetchedDocument(**d))

    def linked_document(self, kind: str, url: str) -> FetchedDocument:
        """A document another one links to (the Policy field of a security.txt)."""
        key = kind + "-" + hashlib.sha256(url.encode()).hexdigest()[:12]
        return self._observe_at(f"{DOCUMENTS}/{key}.json", lambda: fetch_document(
            self.guard, kind, url, self.profile.limits.connect_timeout_s), asdict, lambda d: FetchedDocument(**d))

    def security_txt(self, unit: Unit, port: int, tls: bool) -> FetchedDocument:
        """RFC 9116's standard location on one of the unit's web services."""
        url = f"{'https' if tls else 'http'}://{unit.address}:{port}/.well-known/security.txt"
        return self._observe(unit, f"security-txt-{port}", lambda: fetch_document(
            self.guard, "security_txt", url, self.profile.limits.connect_timeout_s, origin="standard-location"),
            asdict, lambda d: FetchedDocument(**d))

    def tftp(self, unit: Unit, port: int) -> TftpAnswer:
        """How a TFTP port answers a read request from a client without credentials (TFTP has none)."""
        return self._observe(unit, f"tftp-{port}", lambda: tftp_ask(
            self.guard, unit.address, port, self._udp_request_timeout), asdict,
            lambda d: TftpAnswer(**d))

    def discovered(self, state: str | None = None) -> list[DiscoveredInterface]:
        """Every undeclared port the run's own scans found answering, with what it was seen to
        speak: read from what was observed, never by probing again (a run that scanned nothing
        knows of no undeclared interface, and the coverage matrix then lists the declared ones)."""
        found = []
        for unit in self.profile.units:
            declared = {(str(s.transport), s.port) for s in self.profile.services_for(unit, state)}
            for transport in ("tcp", "udp"):
                scan = self._memo.get(f"{FOLDER}/{unit.name}/{transport}-scan.json")
                if scan is None or scan[0] != "ok":
                    continue
                for port in scan[1].open_ports:
                    if (transport, port) in declared:
                        continue
                    if transport == "tcp":
                        said = self._memo.get(f"{FOLDER}/{unit.name}/speaks-{port}.json")
                        proto = said[1] if said and said[0] == "ok" else None
                    else:
                        proto = self._udp_names.get(port)
                    found.append(DiscoveredInterface(unit.name, port, transport, proto))
        return found

    # ------------------------------------------------------------ facts from live cases
    def note(self, kind: str, unit: str, case: str, **data: Any) -> None:
        """Record a fact a live case established, for every other check to read."""
        fact = {"kind": kind, "unit": unit, "case": case, **data}
        with self._lock:
            self._facts.append(fact)
        self.recorder.append_jsonl(FACTS, fact)

    def facts(self, kind: str, unit: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [f for f in self._facts if f["kind"] == kind and (unit is None or f["unit"] == unit)]


# ---------------------------------------------------------------- decoders (JSON -> observation)
def _port_scan(d: dict) -> PortScan:
    return PortScan(**{**d, "states": {int(k): v for k, v in d["states"].items()},
                       "scripts": {int(k): v for k, v in d["scripts"].items()},
                       "confirmed": {int(k): v for k, v in d.get("confirmed", {}).items()},
                       "services": {int(k): v for k, v in d.get("services", {}).items()},
                       "sysdescr": {int(k): v for k, v in d.get("sysdescr", {}).items()}})


def _discovery(d: dict) -> DiscoveryResult:
    return DiscoveryResult(**{**d, "advertised": [Advertised(**a) for a in d["advertised"]]})


def _tls(d: dict) -> TlsObservation:
    return TlsObservation(**{**d, "chain": [CertificateFacts(**c) for c in d["chain"]]})


def _web_surface(d: dict) -> WebSurface:
    return WebSurface(**{**d, "pages": [WebPage(**p) for p in d["pages"]],
                         "targets": [StateChangeTarget(**t) for t in d["targets"]]})
