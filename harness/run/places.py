"""Units reached through labgrid places: the run takes its units from a farm's coordinator,
locked for as long as it talks to them, the way an embedded lab shares benches.

Everything goes through labgrid's own client (`labgrid.remote.client.ClientSession`, the object
`labgrid-client` drives) and its coordinator's reservation service; nothing here re-implements a
lock. What is ours:
- the coordinator address passes the same network rule as every probe (loopback or the lab
  range), before any connection;
- a place is waited for within a bound (`--lg-wait`), never forever, and a held place is
  refused naming who holds it;
- a run by tag (`--lg-tags model=X`) makes a labgrid reservation, so the coordinator's scheduler
  picks a free place and two CI jobs asking for the same model are served one after the other;
- the places' `NetworkService` resources must name units the profile declares, or the run
  refuses: a farm that moved a device cannot silently make a run assess another box;
- every place is released, and the reservation cancelled, on every exit path, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import ipaddress
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.declaration.profile import DeviceProfile

DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's default port, on this machine
POLL_S = 0.5
# the network rule: a coordinator lives on this machine or on the lab's own network
COORDINATOR_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
                        ipaddress.ip_network("198.18.0.0/15"))
TAG = re.compile(r"^[a-z][a-z0-9_-]*=[A-Za-z0-9_.:-]+$")


class PlaceError(Exception):
    """The places could not be had or do not fit the profile; nothing was sent to a unit."""


@dataclass(frozen=True)
class PlaceResource:
    exporter: str
    group: str
    cls: str
    name: str
    address: str
    port: int | None


@dataclass
class HeldPlace:
    name: str
    tags: dict[str, str]
    acquired_by: str
    resources: list[PlaceResource]
    reservation: str | None = None
    unit: str | None = None  # the profile's unit it holds, once matched


@dataclass
class PlaceRecord:
    """What the manifest says about how the units were reached."""

    coordinator: str
    places: list[HeldPlace] = field(default_factory=list)
    asked: dict[str, list[str]] = field(default_factory=dict)  # places: [...], tags: [...]
    waited_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def coordinator_address(address: str | None) -> str:
    """HOST:PORT of the coordinator, refused unless HOST is loopback or in the lab range."""
    address = address or DEFAULT_COORDINATOR
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise PlaceError(f"--lg-coordinator {address}: give HOST:PORT, e.g. {DEFAULT_COORDINATOR}")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise PlaceError(f"--lg-coordinator {address}: give the coordinator's IP address, not a name (a name "
                         "could resolve anywhere; the harness talks only to loopback and the lab network)") from None
    if not any(ip in net for net in COORDINATOR_NETWORKS):
        raise PlaceError(f"--lg-coordinator {address}: out of scope, nothing was sent; a coordinator must be on "
                         "loopback (127.0.0.0/8, ::1) or the lab network (198.18.0.0/15). On a multi-host lab, "
                         "reach it through a tunnel or forward that ends on this machine's loopback")
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def parse_tags(filters: list[str]) -> list[dict[str, str]]:
    """`model=LabCam100,unit=cam` per --lg-tags: each one place whose tags all match."""
    out = []
    for f in filters:
        pairs = [p.strip() for p in f.split(",") if p.strip()]
        bad = [p for p in pairs if not TAG.match(p)]
        if bad or not pairs:
            raise PlaceError(f"--lg-tags {f}: give key=value pairs separated by commas (e.g. model=LabCam100); "
                             f"not understood: {bad or [f]}")
        out.append(dict(p.split("=", 1) for p in pairs))
    return out


def _tags(tags: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in tags.items())


class PlaceLocks:
    """Context manager: acquire the named places and the places the tag filters are allocated,
    waiting at most `wait_s`; release them all on leaving, however it is left."""

    def __init__(self, coordinator: str, names: list[str], tag_filters: list[dict[str, str]],
                 wait_s: float = 0.0) -> None:
        self.coordinator = coordinator_address(coordinator)
        self.names = list(names)
        self.tag_filters = tag_filters
        self.wait_s = wait_s
        self.session: Any = None
        self.held: list[str] = []
        self.tokens: list[str] = []  # reservations made, cancelled on leaving
        self.reserved: dict[str, str] = {}  # place -> the reservation it was allocated to
        self.record = PlaceRecord(self.coordinator, asked={
            "places": list(names), "tags": [_tags(t) for t in tag_filters]})

    # ------------------------------------------------------------ plumbing
    def _call(self, coro):
        return self.session.loop.run_until_complete(coro)

    def _client(self, **args: Any):
        """Run one of ClientSession's own commands with the arguments labgrid-client would give it;
        its printing goes nowhere (the run's console is the run's)."""
        self.session.args = argparse.Namespace(allow_unmatched=False, kick=False, **args)

    def _connect(self) -> None:
        from labgrid.remote.client import Error, start_session

        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.session = start_session(self.coordinator)
        except (Error, OSError) as e:
            raise PlaceError(f"labgrid coordinator {self.coordinator}: {e}; is it running (`iot-harness lab up "
                             "--labgrid`, or your lab's labgrid-coordinator)?") from None
        except Exception as e:  # grpc's own errors when nothing listens
            raise PlaceError(f"labgrid coordinator {self.coordinator} did not answer ({type(e).__name__}: {e}); "
                             "is it running?") from None

    def _pause(self) -> None:
        self._call(asyncio.sleep(POLL_S))  # lets the session's stream bring place updates in

    # ------------------------------------------------------------ acquiring
    def __enter__(self) -> PlaceRecord:
        started = time.monotonic()
        try:
            self._connect()
            deadline = started + self.wait_s
            if self.tag_filters:
                self.names += self._reserve(deadline)
            for name in self.names:
                self._acquire(name, deadline)
            self.record.places = [self._describe(n) for n in self.held]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.record.waited_s = round(time.monotonic() - started, 3)
        return self.record

    def _acquire(self, pattern: str, deadline: float) -> None:
        from labgrid.remote.client import Error

        while True:
            try:
                place = self.session.get_place(pattern)
            except Error as e:
                raise PlaceError(f"--lg-place {pattern}: {e} (known places: "
                                 f"{', '.join(sorted(self.session.places)) or 'none'})") from None
            holder = place.acquired
            if not holder:
                self._client(place=place.name)
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        self._call(self.session.acquire())
                    self.held.append(place.name)
                    return
                except Error:
                    holder = self.session.places[place.name].acquired or "another client, at the same moment"
            if time.monotonic() >= deadline:
                waited = f"waited {self.wait_s:g} s; " if self.wait_s else ""
                raise PlaceError(f"labgrid place {place.name} is held by {holder}: {waited}nothing was sent to its "
                                 "unit. Wait for it (--lg-wait SECONDS) or ask by tag for any free unit of the model")
            self._pause()

    def _reserve(self, deadline: float) -> list[str]:
        """A labgrid reservation per tag filter (the coordinator takes one filter per reservation):
        its scheduler allocates a free place (in priority order among the waiting jobs), and only
        the reservation's owner may then acquire it."""
        import grpc

        places = []
        for tags in self.tag_filters:
            try:
                places.append(self._reserve_one(tags, deadline))
            except grpc.RpcError as e:
                details = e.details() if hasattr(e, "details") else str(e)
                raise PlaceError(f"labgrid coordinator {self.coordinator} refused the reservation for "
                                 f"{_tags(tags)}: {details}") from None
        return places

    def _reserve_one(self, tags: dict[str, str], deadline: float) -> str:
        from labgrid.remote.common import Reservation, ReservationState
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        request = pb.CreateReservationRequest(filters={"main": pb.Reservation.Filter(filter=tags)}, prio=0.0)
        token = self._call(self.session.stub.CreateReservation(request)).reservation.token
        self.tokens.append(token)
        while True:
            res = Reservation.from_pb2(
                self._call(self.session.stub.PollReservation(pb.PollReservationRequest(token=token))).reservation)
            if res.state is ReservationState.allocated:
                (name,) = [p for names in res.allocations.values() for p in names]
                self.reserved[name] = token
                return name
            if res.state is not ReservationState.waiting:
                raise PlaceError(f"labgrid reservation for {_tags(tags)} ended {res.state.name}")
            if time.monotonic() >= deadline:
                tagged = [p for p in self.session.places.values() if all(p.tags.get(k) == v for k, v in tags.items())]
                which = ", ".join(f"{p.name} (held by {p.acquired})" if p.acquired else p.name for p in tagged)
                raise PlaceError(f"no labgrid place tagged {_tags(tags)} became free within {self.wait_s:g} s "
                                 f"(--lg-wait); nothing was sent. Places with those tags: {which or 'none'}")
            self._pause()

    def _describe(self, name: str) -> HeldPlace:
        place = self.session.places[name]
        resources = []
        for exporter, group, cls, rname in sorted(tuple(p) for p in place.acquired_resources):
            params = self.session.resources[exporter][group][rname].params
            port = params.get("port")
            resources.append(PlaceResource(exporter, group, cls, rname, str(params.get("address", "")),
                                           int(port) if port is not None else None))
        return HeldPlace(name=name, tags=dict(place.tags), acquired_by=str(place.acquired), resources=resources,
                         reservation=self.reserved.get(name))

    # ------------------------------------------------------------ releasing
    def __exit__(self, *exc: object) -> None:
        if self.session is None:
            return
        from labgrid.remote.client import Error
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        # a second Ctrl-C while releasing must not leave a place locked: finish, then let it through
        with _deferred_interrupts():
            for name in list(self.held):
                self._client(place=name)
                with contextlib.suppress(Error, OSError), contextlib.redirect_stdout(io.StringIO()):
                    self._call(self.session.release())
                self.held.remove(name)
            for token in self.tokens:
                with contextlib.suppress(Exception):
                    self._call(self.session.stub.CancelReservation(pb.CancelReservationRequest(token=token)))
            with contextlib.suppress(Exception):
                self._call(self.session.stop())
                self._call(self.session.close())
            self.session = None


@contextlib.contextmanager
def _deferred_interrupts():
    import signal

    pending: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if pending:
            raise KeyboardInterrupt


def units_on_places(profile: DeviceProfile, places: list[HeldPlace]) -> list[str]:
    """The profile's units the places hold, each place exactly one declared unit (by the address
    of its network resources); anything else is refused, naming the place and what it holds."""
    by_address = {u.address: u.name for u in profile.units}
    problems, units = [], []
    for p in places:
        addresses = sorted({r.address for r in p.resources if r.cls == "NetworkService" and r.address})
        if len(addresses) != 1:
            problems.append(f"place {p.name} holds {'no' if not addresses else len(addresses)} network address(es) "
                            f"{addresses or ''}: a place must hold one unit's NetworkService resources")
            continue
        unit = by_address.get(addresses[0])
        if unit is None:
            problems.append(f"place {p.name} holds {addresses[0]}, which the profile declares for no unit "
                            f"(declared: {', '.join(f'{n} {a}' for a, n in by_address.items())})")
        elif unit in units:
            problems.append(f"place {p.name} holds unit {unit}, which another acquired place holds too")
        else:
            p.unit = unit
            units.append(unit)
    if problems:
        raise PlaceError("the labgrid places do not match the profile's declared units; nothing was sent:\n  - "
                         + "\n  - ".join(problems))
    return units


def places_from_env(env_file: str, coordinator: str | None = None) -> tuple[str, list[HeldPlace]]:
    """The targets of a labgrid environment file (`--lg-env`), as places: a `RemotePlace` target
    brings its place's resources from the coordinator (labgrid requires it to be acquired by this
    user first, so the lock is labgrid's); a local target lists its own NetworkService resources."""
    import os

    from labgrid import Environment
    from labgrid.exceptions import NoConfigFoundError
    from labgrid.resource import NetworkService
    from labgrid.resource.remote import RemotePlace

    try:
        env = Environment(config_file=str(env_file))
    except (NoConfigFoundError, OSError, ValueError) as e:
        raise PlaceError(f"--lg-env {env_file}: {e}") from None
    if coordinator:
        env.config.set_option("coordinator_address", coordinator)
    # the network rule holds for a coordinator named in an environment file too
    address = coordinator_address(env.config.get_option("coordinator_address",
                                                        os.environ.get("LG_COORDINATOR", DEFAULT_COORDINATOR)))
    held = []
    try:
        for name in env.config.get_targets():
            try:
                target = env.get_target(name)
            except Exception as e:  # labgrid raises its own kinds for a place not acquired, or no coordinator
                raise PlaceError(f"--lg-env {env_file}: target {name}: {type(e).__name__}: {e} (a RemotePlace must "
                                 "be acquired first: labgrid-client -p PLACE acquire)") from None
            place, tags, resources = name, {}, []
            for r in target.resources:
                if isinstance(r, RemotePlace):
                    place, tags = r.name, dict(r.tags)
                elif isinstance(r, NetworkService):
                    resources.append(PlaceResource("", "", "NetworkService", r.name or "", r.address, r.port))
            held.append(HeldPlace(name=place, tags=tags, acquired_by="labgrid environment " + str(env_file),
                                  resources=resources))
    finally:
        env.cleanup()
    return address, held
