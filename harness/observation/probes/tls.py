"""TLS server scan through sslyze, used as a library, reduced to what a policy judges.

sslyze opens its own sockets (through nassl, which bundles legacy OpenSSL builds so it can still
speak SSL 2/3 and TLS 1.0 to old devices). The scan is bounded three ways: the scope guard
approves the target and holds connection slots for the whole scan, sslyze's own network timeout
and retry count bound each connection, and an overall deadline bounds the scan, after which the
result is INCONCLUSIVE rather than a hang. The audit backstop still refuses any other address.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import ipaddress
import ssl
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.observation.probes.login import Unreachable
from harness.observation.scope import ScopeGuard, background_share

PROTOCOL_COMMANDS = {
    "SSLv2": "ssl_2_0_cipher_suites",
    "SSLv3": "ssl_3_0_cipher_suites",
    "TLSv1.0": "tls_1_0_cipher_suites",
    "TLSv1.1": "tls_1_1_cipher_suites",
    "TLSv1.2": "tls_1_2_cipher_suites",
    "TLSv1.3": "tls_1_3_cipher_suites",
}
OTHER_COMMANDS = (
    "certificate_info", "elliptic_curves", "heartbleed", "openssl_ccs_injection", "robot",
    "session_renegotiation", "tls_compression", "tls_fallback_scsv",
)


def probing_context() -> ssl.SSLContext:
    """The one TLS client context probes use to *reach* a device: any version, any suite, no
    certificate check. Judging what the device offers is the policy's job, never this context's."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


class TlsUnavailable(Unreachable):
    """No TLS conversation was possible: closed port, stalled handshake, not TLS, scan overran."""


@dataclass
class CertificateFacts:
    subject: str
    issuer: str
    key_type: str
    key_bits: int
    signature_hash: str | None
    not_before: str
    not_after: str
    san_dns: list[str]
    san_ip: list[str]
    self_signed: bool
    sha256: str


@dataclass
class TlsObservation:
    address: str
    port: int
    protocols: dict[str, list[str]]  # version -> accepted cipher suites (IANA names); absent = not tested
    groups: list[str] | None
    chain: list[CertificateFacts]
    trust_anchor: str
    trusted: bool | None
    validation_error: str | None
    vulnerabilities: dict[str, bool | None]
    incomplete: list[str] = field(default_factory=list)  # checks sslyze could not complete, with why
    scan_seconds: float = 0.0

    @property
    def offered_versions(self) -> list[str]:
        return [v for v, suites in self.protocols.items() if suites]

    def summary(self) -> dict:
        return asdict(self)


def _facts(cert: x509.Certificate) -> CertificateFacts:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kind, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind, bits = f"EC {key.curve.name}", key.curve.key_size
    else:  # Ed25519/Ed448 and the like: no key_size attribute; their strength is fixed by the curve
        kind = type(key).__name__.lstrip("_").removesuffix("PublicKey") or "unknown"
        bits = getattr(key, "key_size", 0)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns, ips = san.get_values_for_type(x509.DNSName), [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    h = cert.signature_hash_algorithm
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        key_type=kind,
        key_bits=bits,
        signature_hash=h.name if h else None,
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        san_dns=dns,
        san_ip=ips,
        self_signed=cert.issuer == cert.subject,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _scan(address: str, port: int, anchor: Path | None, timeout: float, concurrency: int):
    from sslyze import (
        CertificateInfoExtraArgument,
        ScanCommandsExtraArguments,
        Scanner,
        ServerNetworkConfiguration,
        ServerNetworkLocation,
        ServerScanRequest,
    )
    from sslyze.plugins.scan_commands import ScanCommand

    commands = {ScanCommand(c) for c in (*PROTOCOL_COMMANDS.values(), *OTHER_COMMANDS)}
    extra = (
        ScanCommandsExtraArguments(certificate_info=CertificateInfoExtraArgument(custom_ca_file=anchor))
        if anchor
        else ScanCommandsExtraArguments()
    )
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(hostname=address, port=port, ip_address=address),
        network_configuration=ServerNetworkConfiguration(
            tls_server_name_indication=address, network_timeout=int(max(1, timeout)), network_max_retries=1
        ),
        scan_commands=commands,
        scan_commands_extra_arguments=extra,
    )
    scanner = Scanner(per_server_concurrent_connections_limit=concurrency, concurrent_server_scans_limit=1)
    scanner.queue_scans([request])
    return next(iter(scanner.get_results()))


def scan(
    guard: ScopeGuard,
    address: str,
    port: int,
    trust_anchor: Path | None = None,
    timeout: float = 5.0,
    deadline_s: float = 90.0,
) -> tuple[TlsObservation, str]:
    """Scan one TLS port; returns the observation and sslyze's own JSON (the raw evidence)."""
    from sslyze import ServerScanResultAsJson, ServerScanStatusEnum

    if trust_anchor is not None and not trust_anchor.is_file():
        raise FileNotFoundError(f"TLS trust anchor {trust_anchor} does not exist; fix communication.trust_anchor")
    _preflight(guard, address, port, timeout)
    # the slots a case always finds free whatever runs in the background (scope.UnitBudget): a
    # wider hold would wait for prefetched exchanges to end (an nmap version probe holds its slot
    # for up to 15 s); measured on the lab, sslyze takes as long with one connection as with four
    concurrency = max(1, min(4, guard.max_connections_per_unit - background_share(guard.max_connections_per_unit)))
    started = dt.datetime.now(dt.UTC)
    # sslyze's parallel connections count against the unit's budget for as long as its threads
    # run: the slots go back when the scan really ends, not when we stop waiting for it
    release = guard.hold(address, port, concurrency, timeout)
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sslyze")
    try:
        future = pool.submit(_scan, address, port, trust_anchor, timeout, concurrency)
    except BaseException:
        release()
        raise
    future.add_done_callback(lambda _: release())
    try:
        with warnings.catch_warnings(), guard.exchanges.timed(address, port, "tls-scan", deadline_s):
            warnings.simplefilter("ignore")  # sslyze's trust stores hold certificates cryptography frowns on
            result = future.result(timeout=deadline_s)
    except concurrent.futures.TimeoutError:
        pool.shutdown(wait=False, cancel_futures=True)
        raise TlsUnavailable(f"TLS scan of {address}:{port} did not finish within {deadline_s:g}s") from None
    pool.shutdown(wait=False)
    elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
    raw = ServerScanResultAsJson.model_validate(result).model_dump_json(indent=2)
    if result.scan_status != ServerScanStatusEnum.COMPLETED:
        err = result.connectivity_error_trace
        why = str(err).splitlines()[-1] if err else "no TLS handshake"
        raise TlsUnavailable(f"no TLS handshake with {address}:{port}: {why}")
    return _observation(result.scan_result, address, port, trust_anchor, elapsed), raw


def _preflight(guard: ScopeGuard, address: str, port: int, timeout: float) -> None:
    """One handshake of our own before sslyze: a port that accepts and then says nothing would
    otherwise cost sslyze a timeout per protocol version it tries. Any answer, even a refusal of
    our ClientHello, means a TLS stack is there and sslyze goes ahead."""
    ctx = probing_context()
    try:
        with guard.tcp(address, port, timeout) as sock:
            sock.settimeout(timeout)
            with ctx.wrap_socket(sock, do_handshake_on_connect=False) as tls:
                tls.do_handshake()
    except TimeoutError:
        raise TlsUnavailable(
            f"no TLS handshake with {address}:{port}: it accepted the connection but did not answer a "
            f"ClientHello within {timeout:g}s (stalled handshake)"
        ) from None
    except ssl.SSLError:
        return  # it answered, with an alert or something odd: sslyze will tell what it speaks
    except OSError as e:
        raise TlsUnavailable(f"no TLS handshake with {address}:{port}: {e.strerror or e}") from None


def _observation(res, address: str, port: int, anchor: Path | None, elapsed: float) -> TlsObservation:
    from sslyze import ScanCommandAttemptStatusEnum as St

    incomplete: list[str] = []

    def done(name: str):
        attempt = getattr(res, name)
        if attempt.status == St.COMPLETED:
            return attempt.result
        incomplete.append(f"{name}: {attempt.error_reason or attempt.status}")
        return None

    protocols: dict[str, list[str]] = {}
    for version, command in PROTOCOL_COMMANDS.items():
        r = done(command)
        if r is not None:
            protocols[version] = [c.cipher_suite.name for c in r.accepted_cipher_suites]
    curves = done("elliptic_curves")
    groups = [c.name for c in curves.supported_curves] if curves and curves.supported_curves else (
        [] if curves else None
    )
    chain: list[CertificateFacts] = []
    trusted, error = None, None
    store = f"trust anchor {anchor}" if anchor else "Mozilla root store"
    info = done("certificate_info")
    if info and info.certificate_deployments:
        deployment = info.certificate_deployments[0]
        chain = [_facts(c) for c in deployment.received_certificate_chain]
        wanted = "Supplied CA file" if anchor else "Mozilla"
        for pv in deployment.path_validation_results:
            if pv.trust_store.name == wanted:
                trusted, error = pv.was_validation_successful, pv.validation_error
    vulns: dict[str, bool | None] = {}
    hb, ccs, robot = done("heartbleed"), done("openssl_ccs_injection"), done("robot")
    reneg, comp, fallback = done("session_renegotiation"), done("tls_compression"), done("tls_fallback_scsv")
    vulns["heartbleed"] = hb.is_vulnerable_to_heartbleed if hb else None
    vulns["ccs_injection"] = ccs.is_vulnerable_to_ccs_injection if ccs else None
    vulns["robot"] = robot.robot_result.name.startswith("VULNERABLE") if robot else None
    vulns["insecure_renegotiation"] = (not reneg.supports_secure_renegotiation) if reneg else None
    vulns["client_renegotiation_dos"] = reneg.is_vulnerable_to_client_renegotiation_dos if reneg else None
    vulns["compression"] = comp.supports_compression if comp else None
    vulns["fallback_scsv"] = (not fallback.supports_fallback_scsv) if fallback else None
    return TlsObservation(
        address=address, port=port, protocols=protocols, groups=groups, chain=chain, trust_anchor=store,
        trusted=trusted, validation_error=error, vulnerabilities=vulns, incomplete=incomplete,
        scan_seconds=round(elapsed, 3),
    )


def names_match(leaf: CertificateFacts, address: str, names: list[str]) -> bool:
    """Does the certificate name what a client connects to: the unit's IP, or a declared name?"""
    ip = ipaddress.ip_address(address)
    if any(ipaddress.ip_address(i) == ip for i in leaf.san_ip):
        return True
    wanted = {n.lower().rstrip(".") for n in names}
    for dns in leaf.san_dns:
        d = dns.lower().rstrip(".")
        if d in wanted or (d.startswith("*.") and any(w.split(".", 1)[-1] == d[2:] for w in wanted)):
            return True
    return False
