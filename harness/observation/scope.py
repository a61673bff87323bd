"""The one scope guard every probe goes through.

Two layers, because a certification tool that scans the wrong network is worse than useless:

1. `ScopeGuard` is the only place probes get sockets and scanner runs from. It checks the
   target against the run's scope *before* a socket object exists, and it holds the per-unit
   connection budget (SSLyze's rule: a job holds at most one connection, so the number of jobs
   in flight caps what a fragile device sees).
2. `install_audit_backstop` adds a CPython audit hook that refuses `socket.connect`/`sendto` to
   any address outside the scope, so a library that opens its own connection (or a test
   written carelessly) is stopped too, before the system call.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from harness.observation.exchanges import ExchangeLedger

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Loopback, and the range RFC 2544 reserves for network test labs (the built-in lab lives there).
LAB_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("198.18.0.0/15"),
)


class ScopeViolation(Exception):
    """A probe asked for a target outside the run's scope; nothing was sent."""


# Probe classes, gentlest first. `auth` is default-credential logins: on by default (a botnet tries
# them on every device), but capped per account and turned off with --deny auth.
PROBE_CLASSES = ("safe", "auth", "intrusive", "brute", "dos")
DEFAULT_CLASSES = frozenset({"safe", "auth"})
_acting_as: contextvars.ContextVar[str] = contextvars.ContextVar("probe_class", default="safe")
# set for work done in the background (prefetched observations): see `UnitBudget`
_in_background: contextvars.ContextVar[bool] = contextvars.ContextVar("in_background", default=False)
BACKGROUND_WAIT_S = 120.0  # background work queues behind other work, itself deadline-bound


def background_share(budget: int) -> int:
    """Connections a unit's background work may hold at once: all but one of its budget, so a
    case always finds a slot free without waiting for a background exchange to end."""
    return max(1, budget - 1)


class UnitBudget:
    """One unit's connection budget: at most `size` connections at once, whoever asks. Cases come
    first: while a case waits for a slot, no background work takes one, and background work
    never holds more than `background_share` at once. Prefetching thus fills the idle slots of a
    run without ever delaying the case in front of it by more than one exchange."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self.background_held = 0
        self.cases_waiting = 0
        self._cond = threading.Condition()

    def acquire(self, timeout: float, background: bool) -> bool:
        share = background_share(self.size)
        with self._cond:
            if not background:
                self.cases_waiting += 1
            try:
                ok = self._cond.wait_for(
                    lambda: self.free > 0 and (not background or (self.cases_waiting == 0
                                                                  and self.background_held < share)), timeout)
                if ok:
                    self.free -= 1
                    self.background_held += background
                return ok
            finally:
                if not background:
                    self.cases_waiting -= 1

    def release(self, background: bool) -> None:
        with self._cond:
            self.free += 1
            self.background_held -= background
            self._cond.notify_all()


def in_own_context(fn: Callable[..., object]) -> Callable[..., object]:
    """`fn` to run on a pool thread with the caller's context (probe class, background mark):
    pool threads do not inherit it. Each call gets its own copy, as a context runs on one thread."""
    ctx = contextvars.copy_context()
    return lambda *a, **k: ctx.copy().run(fn, *a, **k)


class ProbeClassRefused(ScopeViolation):
    """A probe of a class the run has not allowed asked for a connection; nothing was sent."""


class BudgetExhausted(Exception):
    """A unit's connection budget stayed full for the whole wait: a probe is leaking connections."""


def parse_address(address: str) -> IPAddress:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        raise ScopeViolation(
            f"{address!r} is not an IP literal; the harness never resolves host names (no DNS traffic)"
        ) from None


@dataclass(frozen=True)
class Scope:
    """What a run may talk to: exactly the declared unit addresses, each inside an allowed network."""

    targets: frozenset[IPAddress]
    allowed_networks: tuple[IPNetwork, ...] = LAB_NETWORKS

    @classmethod
    def build(cls, addresses: Iterable[str], extra_networks: Iterable[str] = (), allow_wide: bool = False) -> Scope:
        nets = list(LAB_NETWORKS)
        for n in extra_networks:
            try:
                net = ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise ScopeViolation(f"--allow-network {n!r} is not a network (write e.g. 192.0.2.7/32)") from None
            _check_width(net, allow_wide)
            nets.append(net)
        targets = set()
        for a in addresses:
            ip = parse_address(a)
            if not any(ip in n for n in nets):
                raise ScopeViolation(
                    f"unit address {ip} is outside the allowed networks "
                    f"({', '.join(str(n) for n in nets)}). If you are authorised to test that device, "
                    f"run on its network with --allow-network {ip}/{ip.max_prefixlen}."
                )
            targets.add(ip)
        return cls(frozenset(targets), tuple(nets))

    def check(self, address: str) -> IPAddress:
        ip = parse_address(address)
        if ip not in self.targets:
            allowed = ", ".join(sorted(str(t) for t in self.targets)) or "nothing"
            raise ScopeViolation(f"{ip} is not a unit of the device under test; in scope: {allowed}")
        return ip


@dataclass
class ScopeGuard:
    scope: Scope
    max_connections_per_unit: int = 4
    connect_timeout_s: float = 5.0
    allowed_classes: frozenset[str] = DEFAULT_CLASSES
    _budgets: dict[IPAddress, UnitBudget] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    refused: list[str] = field(default_factory=list, init=False)
    connections: dict[str, int] = field(default_factory=dict, init=False)
    exchanges: ExchangeLedger = field(default_factory=ExchangeLedger, init=False)

    def _budget(self, ip: IPAddress) -> UnitBudget:
        with self._lock:
            if ip not in self._budgets:
                self._budgets[ip] = UnitBudget(self.max_connections_per_unit)
            return self._budgets[ip]

    @staticmethod
    @contextmanager
    def background() -> Iterator[None]:
        """Mark the work inside as background: its connections take the unit's background share."""
        token = _in_background.set(True)
        try:
            yield
        finally:
            _in_background.reset(token)

    def check(self, address: str) -> IPAddress:
        try:
            self._check_class(_acting_as.get())
            return self.scope.check(address)
        except ScopeViolation as e:
            self.refused.append(str(e))
            raise

    def _check_class(self, probe_class: str) -> None:
        if probe_class not in PROBE_CLASSES:
            raise ProbeClassRefused(f"unknown probe class {probe_class!r}; classes are {', '.join(PROBE_CLASSES)}")
        if probe_class not in self.allowed_classes:
            raise ProbeClassRefused(
                f"a probe of class '{probe_class}' was refused before any packet: this run allows "
                f"{', '.join(sorted(self.allowed_classes))} (run with --allow {probe_class} to permit it)"
            )

    @contextmanager
    def probe_class(self, name: str) -> Iterator[None]:
        """Declare what the probes inside this block are: every connection they ask for is refused
        unless the run allows that class. Probes declare it themselves (a login attempt is `auth`,
        an image upload `intrusive`), so no check can send a class the operator did not enable."""
        try:
            self._check_class(name)
        except ScopeViolation as e:
            self.refused.append(str(e))
            raise
        token = _acting_as.set(name)
        try:
            yield
        finally:
            _acting_as.reset(token)

    def hold(self, address: str, port: int, count: int, timeout: float | None = None) -> Callable[[], None]:
        """Take `count` connection slots for a library that runs its own threads (sslyze), and
        return the function that gives them back. The caller releases only when those threads are
        really done, so a scan that overran its deadline keeps the unit's budget busy until it ends."""
        stack = contextlib.ExitStack()
        try:
            for _ in range(count):
                stack.enter_context(self.slot(address, port, timeout, bounded=False))
        except BaseException:
            stack.close()
            raise
        once = threading.Lock()

        def release() -> None:
            if once.acquire(blocking=False):
                stack.close()

        return release

    @contextmanager
    def slot(self, address: str, port: int, timeout: float | None = None, *, bounded: bool = True) -> Iterator[str]:
        """Permission for one connection to an in-scope unit, held against its budget.

        For libraries that open their own socket (requests, paho-mqtt, ftplib): the check and the
        budget happen here, and the audit backstop still refuses any other address they try.
        The slot is also the one wall-clock bound of the exchange: every socket this thread
        connects inside it is shut at `exchange_deadline(timeout)`, however the device trickles
        (per-read timeouts never trip on a byte a second, nor on an endless banner).
        `bounded=False` only for slots held on behalf of another library's threads (`hold`).
        """
        ip = self.check(address)
        _check_port(port)
        wait = timeout or self.connect_timeout_s
        background = _in_background.get()
        budget = self._budget(ip)
        if not budget.acquire(BACKGROUND_WAIT_S if background else wait * 4, background):
            raise BudgetExhausted(f"{ip}: all {self.max_connections_per_unit} connections stayed busy")
        deadline = exchange_deadline(wait)
        watchdog = _Watchdog(deadline) if bounded else None
        try:
            self._count(ip)
            if watchdog is None:
                yield str(ip)
            else:
                with self.exchanges.timed(str(ip), port, "connection", deadline, watchdog.fired), watchdog:
                    yield str(ip)
        finally:
            budget.release(background)

    @contextmanager
    def tcp(self, address: str, port: int, timeout: float | None = None) -> Iterator[socket.socket]:
        """A connected TCP socket to an in-scope unit, counted against its budget until closed."""
        wait = timeout or self.connect_timeout_s
        with self.slot(address, port, wait) as ip:
            sock = socket.create_connection((ip, port), timeout=wait)
            try:
                yield sock
            finally:
                sock.close()

    @contextmanager
    def udp(self, address: str, port: int, timeout: float | None = None) -> Iterator[socket.socket]:
        """A UDP socket connected to an in-scope unit (so replies from elsewhere are dropped)."""
        wait = timeout or self.connect_timeout_s
        with self.slot(address, port, wait) as ip:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.settimeout(wait)
                sock.connect((ip, port))
                yield sock
            finally:
                sock.close()

    def url(self, address: str, url: str, schemes: tuple[str, ...] = ("http", "https")) -> tuple[str, int]:
        """A URL a device handed us (an SSDP LOCATION, a redirect), checked as the HTTP library will
        read it: parsed by urllib3's parser (the one requests connects with), refused unless its
        host is `address` itself, and rebuilt from the parsed parts so the request goes exactly
        where the check looked. Returns the URL to request and its port."""
        from urllib3.util import parse_url

        ip = self.check(address)
        if any(c in url for c in "\\\r\n\t ") or any(ord(c) < 32 or ord(c) == 127 for c in url):
            raise ScopeViolation(f"URL {url!r} holds a backslash, white space or control character; not followed")
        try:
            parts = parse_url(url)
        except ValueError as e:
            raise ScopeViolation(f"URL {url!r} does not parse ({e}); not followed") from None
        if parts.scheme not in schemes or parts.auth or not parts.host:
            raise ScopeViolation(f"URL {url!r}: only {'/'.join(schemes)} URLs without user info are followed")
        try:
            host = ipaddress.ip_address(parts.host.strip("[]"))
        except ValueError:
            raise ScopeViolation(f"URL {url!r} names host {parts.host!r}, not an IP literal; never resolved") from None
        if host != ip:
            self.refused.append(f"URL {url!r} points at {host}, not at the unit {ip}")
            raise ScopeViolation(f"URL {url!r} points at {host}, not at the unit {ip}; not followed")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        _check_port(port)
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{parts.scheme}://{netloc}:{port}{parts.request_uri}", port

    def nmap_targets(self, addresses: Iterable[str]) -> list[str]:
        """The validated target list for a scanner subprocess; refuses the whole scan if any is out."""
        return [str(self.check(a)) for a in addresses]

    def _count(self, ip: IPAddress) -> None:
        with self._lock:
            self.connections[str(ip)] = self.connections.get(str(ip), 0) + 1


WIDEST = {4: 16, 6: 48}  # prefix lengths wider than these need --allow-wide-network


def _check_width(net: IPNetwork, allow_wide: bool) -> None:
    """A default route is never a device network; a very wide one is almost always a typo."""
    if net.prefixlen == 0:
        raise ScopeViolation(f"--allow-network {net} would allow every address; name the devices' own network "
                             "(e.g. 192.0.2.0/28)")
    if net.prefixlen < WIDEST[net.version] and not allow_wide:
        raise ScopeViolation(f"--allow-network {net} is wider than /{WIDEST[net.version]}; name the devices' own "
                             "network, or add --allow-wide-network if you are authorised to test all of it")


def _check_port(port: int) -> None:
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ScopeViolation(f"port {port!r} is not a TCP/UDP port number")


def exchange_deadline(timeout: float) -> float:
    """The wall-clock bound of one exchange whose per-step timeout is `timeout`: connect, banner
    or handshake, request and answer together."""
    return max(timeout * 3, timeout + 2.0)


_tracked = threading.local()  # the sockets the innermost bounded slot of this thread has connected


class _Watchdog:
    """Shuts every socket its thread connects while it is active, once `deadline_s` has passed."""

    def __init__(self, deadline_s: float) -> None:
        _track_connects()
        self.deadline_s = deadline_s
        self.sockets: list[socket.socket] = []
        self.fired = threading.Event()
        self._timer = threading.Timer(deadline_s, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._outer = getattr(_tracked, "sockets", None), getattr(_tracked, "watchdog", None)
        _tracked.sockets, _tracked.watchdog = self.sockets, self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _tracked.sockets, _tracked.watchdog = self._outer

    def _fire(self) -> None:
        self.fired.set()
        for sock in list(self.sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


_tracking_installed = threading.Lock()
_tracking = False


def _track_connects() -> None:
    """Hand every socket a thread connects to that thread's active watchdog (installed once,
    process-wide; a thread without a watchdog is untouched)."""
    global _tracking
    with _tracking_installed:
        if _tracking:
            return
        cls = socket.socket
        connect, connect_ex = cls.connect, cls.connect_ex

        def tracked_connect(self, address):
            _register(self)
            return connect(self, address)

        def tracked_connect_ex(self, address):
            _register(self)
            return connect_ex(self, address)

        cls.connect = tracked_connect  # type: ignore[method-assign]
        cls.connect_ex = tracked_connect_ex  # type: ignore[method-assign]
        _tracking = True


def exchange_overran() -> bool:
    """Whether this thread's current exchange hit its deadline (its sockets were shut): what was
    read after that is cut off, never an answer."""
    watchdog = getattr(_tracked, "watchdog", None)
    return watchdog is not None and watchdog.fired.is_set()


def _register(sock: socket.socket) -> None:
    sockets = getattr(_tracked, "sockets", None)
    if sockets is not None:
        sockets.append(sock)


_active_scope: Scope | None = None


def install_audit_backstop(scope: Scope) -> None:
    """Refuse any Python-level connect/sendto outside `scope` for the rest of this process.

    Audit hooks cannot be removed, so this is only for the process that runs an assessment.
    Non-IP sockets (unix, netlink) are untouched.
    """
    global _active_scope
    first = _active_scope is None
    _active_scope = scope
    if first:
        sys.addaudithook(_audit)
        _wrap_socket_methods()


def _wrap_socket_methods() -> None:
    """CPython resolves a host name inside `socket.connect` before it raises the audit event, so
    a library connecting by name would send a DNS query first. Checking at the Python method
    level runs before any resolution; the audit hook stays as the backstop for C-level callers."""
    cls = socket.socket
    connect, connect_ex, sendto = cls.connect, cls.connect_ex, cls.sendto

    def guarded_connect(self, address):
        _audit("socket.connect", (self, address))
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _audit("socket.connect", (self, address))
        return connect_ex(self, address)

    def guarded_sendto(self, data, *rest):
        if rest:
            _audit("socket.sendto", (self, rest[-1]))
        return sendto(self, data, *rest)

    cls.connect = guarded_connect  # type: ignore[method-assign]
    cls.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    cls.sendto = guarded_sendto  # type: ignore[method-assign]


_NAME_LOOKUPS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex")
_own_listeners: weakref.WeakSet = weakref.WeakSet()


def _is_own_listener(ip: IPAddress, port: int) -> bool:
    """A loopback socket this very process bound (paho-mqtt's wake-up socket pair does this):
    connecting to it never leaves the process, so it is not a probe of anything."""
    if not ip.is_loopback:
        return False
    for s in list(_own_listeners):
        try:
            host, bound_port = s.getsockname()[:2]
        except OSError:
            continue
        if bound_port == port and ipaddress.ip_address(host) == ip:
            return True
    return False


def _audit(event: str, args: tuple) -> None:
    scope = _active_scope
    if scope is None:
        return
    if event == "socket.bind" and len(args) >= 2:
        sock, address = args[0], args[1]
        inet = getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6)
        if inet and isinstance(address, tuple) and address:
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(address[0]).is_loopback:
                    _own_listeners.add(sock)
        return
    if event in _NAME_LOOKUPS:
        host = args[0] if args else None
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host in (None, "", "localhost"):
            return
        try:
            ipaddress.ip_address(str(host).split("%")[0])
        except ValueError:
            raise ScopeViolation(f"name lookup of {host!r} refused: the harness never resolves names") from None
        return
    if event not in ("socket.connect", "socket.sendto", "socket.sendmsg") or len(args) < 2:
        return
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if not isinstance(address, tuple) or not address:
        return
    host = address[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ScopeViolation(f"connect to host name {host!r} refused: the harness never resolves names") from None
    if ip not in scope.targets and not _is_own_listener(ip, address[1] if len(address) > 1 else 0):
        raise ScopeViolation(f"connection to {ip} refused by the scope backstop: not a unit under test")
