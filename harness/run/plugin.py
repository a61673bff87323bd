"""The pytest plugin: turns pytest items into assessment cases.

Registered through the `pytest11` entry point, it stays inert unless `--iot-profile` is given,
so it never disturbs an ordinary pytest run in the same environment. When active it:
parametrises tests over the declared units and endpoints, checks markers against the catalogs
at collection, gates probe classes, maps each outcome to a verdict, and seals the bundle when
the session ends, complete or not.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.declaration.catalog import check_markers
from harness.declaration.profile import Service, TlsExpectation, Unit, load_profile
from harness.declaration.questions import Question
from harness.judgement.inventory import as_service, undeclared_ports
from harness.observation.protocols import LOGIN_PROTOCOLS, spec
from harness.observation.scope import PROBE_CLASSES, BudgetExhausted, ScopeViolation, install_audit_backstop
from harness.record.evidence import DiskFull
from harness.record.findings import CaseFindings
from harness.record.results import CaseResult, case_verdict
from harness.record.verdict import CaseEnded, Verdict, not_applicable
from harness.run.assessment import AssessmentRun, RunOptions, RunSetupError, now_iso
from harness.run.budget import Budgets, CaseOverBudget
from harness.run.places import PlaceError, PlaceRecord, places_from_env, units_on_places
from harness.run.progress import Progress

RUN_KEY = pytest.StashKey[AssessmentRun]()


@dataclass(frozen=True)
class Endpoint:
    """One declared service on one unit: what most checks are parametrised over."""

    unit: Unit
    service: Service

    @property
    def address(self) -> str:
        return self.unit.address

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def label(self) -> str:
        return f"{self.unit.name}:{self.service.name}/{self.service.port}"


@dataclass(frozen=True)
class NoTarget:
    """Stands in for a parameter when the declaration gives nothing to test: NOT_APPLICABLE."""

    reason: str


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("iot-label-harness")
    g.addoption("--iot-profile", help="device profile (YAML) to assess; activates the harness")
    g.addoption("--iot-out", help="folder for the evidence bundle (must be new or empty)")
    g.addoption("--iot-scheme", action="append", default=[], help="scheme to evaluate (repeatable)")
    g.addoption("--iot-allow", action="append", default=[], help="enable probe classes: intrusive, brute, dos")
    g.addoption("--iot-deny", action="append", default=[], help="disable probe classes on by default: auth")
    g.addoption("--iot-replay", help="re-judge this bundle's recorded observations; no device contact")
    g.addoption("--iot-tls-policy", help="TLS policy to judge by instead of the profile's")
    g.addoption("--iot-ssh-policy", help="SSH policy (id or file) to judge by instead of the profile's")
    g.addoption("--iot-allow-network", action="append", default=[], help="extra network a unit may be in")
    g.addoption("--iot-allow-wide-network", action="store_true", help="permit an --iot-allow-network wider than /16")
    g.addoption("--iot-operator", help="name recorded in the manifest")
    g.addoption("--iot-signing-key", help="Ed25519 PEM private key to sign the bundle")
    g.addoption("--iot-state", help="device state the units are in (one of the profile's states)")
    g.addoption("--iot-answers", help="the operator's answers to the attestation questions (YAML)")
    g.addoption("--iot-ask", action="store_true",
                help="ask the attestation questions not answered by --iot-answers at the terminal, before the cases")
    g.addoption("--iot-osv-data", help="folder of OSV records: match the SBOM's components against them, offline")
    g.addoption("--iot-unit", action="append", default=[],
                help="assess only this declared unit (repeatable); `run --lg-place` sets it from the places held")
    g.addoption("--iot-labgrid", help="JSON record of the labgrid places the units were reached through (set by "
                "`run --lg-place/--lg-tags`); with labgrid's --lg-env, the environment's targets are read instead")
    g.addoption("--iot-extra-suite", action="store_true",
                help="the suite is not the built-in one: skip the check that it covers every automated requirement")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
    """A case that ended with a verdict (a `CaseEnded`) is reported with its reason, not a
    traceback: the verdict and the reason are the case's result, and formatting the traceback
    (Python 3.11 re-parses each frame's source line to place its carets) was a seventh of a forked
    run's Python time. Any other exception still gets pytest's own report, traceback and all."""
    if call.excinfo is None or not isinstance(call.excinfo.value, CaseEnded):
        return None
    ended = call.excinfo.value
    return pytest.TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed",
                             f"{type(ended).__name__} ({ended.verdict.value}): {ended.reason}", call.when,
                             duration=call.duration, start=call.start, stop=call.stop,
                             user_properties=item.user_properties)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config.option, "tbstyle"):
        # `run` switches pytest's terminal off, and with it --tb: pytest then formats every case that
        # ends with a verdict as a long traceback, parsing the source of each frame, for a report
        # nobody reads (a sixth of a forked run's Python time). Python's own formatting keeps a
        # readable traceback for a check that crashes, at a fraction of the cost.
        config.option.tbstyle = "native"
    config.addinivalue_line("markers", "requirements(*ids): requirement IDs the test evaluates")
    config.addinivalue_line("markers", "probe_class(name): safe (default), auth, intrusive, brute or dos")
    config.addinivalue_line("markers", "protocols(*names): declared service protocols `endpoint` ranges over")
    config.addinivalue_line("markers", "needs_osv_data: collected only when the run is given OSV records (--osv-data)")
    config.addinivalue_line("markers", "observes(*names): slow, read-only observations the check reads for its unit "
                            f"({', '.join(sorted(EARLY_OBSERVATIONS))}), begun for every unit as the run starts")
    config.addinivalue_line("markers", "method(name): how the case evaluates: device-test (default), document or "
                            "attestation (an operator's answer, labelled so everywhere)")
    profile = config.getoption("iot_profile", None)
    replay = config.getoption("iot_replay", None)
    if not (profile or replay):
        return
    out = config.getoption("iot_out")
    if not out:
        raise pytest.UsageError("--iot-out is required with --iot-profile or --iot-replay")
    def classes(name: str) -> list[str]:
        return [c.strip() for a in config.getoption(name) for c in a.split(",") if c.strip()]

    options = RunOptions(
        profile_path=Path(profile) if profile else None,
        out=Path(out),
        schemes=list(config.getoption("iot_scheme")),
        allow=classes("iot_allow"),
        deny=classes("iot_deny"),
        replay=Path(r) if (r := config.getoption("iot_replay")) else None,
        tls_policy=config.getoption("iot_tls_policy"),
        ssh_policy=config.getoption("iot_ssh_policy"),
        allow_networks=list(config.getoption("iot_allow_network")),
        allow_wide_network=bool(config.getoption("iot_allow_wide_network")),
        operator=config.getoption("iot_operator"),
        signing_key=Path(k) if (k := config.getoption("iot_signing_key")) else None,
        state=config.getoption("iot_state"),
        answers=Path(a) if (a := config.getoption("iot_answers")) else None,
        ask=bool(config.getoption("iot_ask")),
        osv_data=Path(o) if (o := config.getoption("iot_osv_data")) else None,
    )
    try:
        options.units, options.labgrid = _labgrid_units(config, options)
    except PlaceError as e:
        raise pytest.UsageError(str(e)) from None
    try:
        run = AssessmentRun.start(options)
    except RunSetupError as e:
        raise pytest.UsageError(str(e)) from None
    install_audit_backstop(run.guard.scope)
    config.stash[RUN_KEY] = run
    config.pluginmanager.register(ActiveRun(run), "iot-label-harness-active-run")


def _labgrid_units(config: pytest.Config, options: RunOptions) -> tuple[list[str], dict[str, Any] | None]:
    """The units to assess and the labgrid record: from `run --lg-*` (a record file), or from
    labgrid's own `--lg-env` when pytest runs the suites directly: the environment's targets'
    NetworkService resources (a RemotePlace's, once acquired with labgrid-client) must name
    declared units, as a place held by `run` must."""
    units = list(config.getoption("iot_unit"))
    if record := config.getoption("iot_labgrid"):
        return units, json.loads(Path(record).read_text())
    env_file = getattr(config.option, "lg_env", None) or os.environ.get("LG_ENV")
    if not env_file or options.profile_path is None:
        return units, None
    from harness.declaration.profile import ProfileError

    coordinator, held = places_from_env(env_file, getattr(config.option, "lg_coordinator", None))
    try:
        profile = load_profile(options.profile_path)
    except ProfileError as e:
        raise pytest.UsageError(str(e)) from None
    found = units_on_places(profile, held)
    record = PlaceRecord(coordinator=coordinator, places=held,
                         asked={"env": [str(env_file)]})
    return units or found, record.as_json()


def check_id(item: pytest.Item) -> str:
    """The check a case is an instance of: `<suite>.<check>`, e.g. `exposure.tcp_ports_declared`.
    Asked several times a case, so it reads item.path as the Path it is: parsing it again from a
    string cost a run about 75 ms of CPU."""
    path = item.path
    parts = path.parts
    suite = parts[parts.index("test_suites") + 1] if "test_suites" in parts else path.parent.name
    return f"{suite}.{getattr(item, 'originalname', item.name).removeprefix('test_')}"


def case_id(item: pytest.Item) -> str:
    """Stable, readable case ID: `<suite>.<check>[<target>]`, e.g. `exposure.tcp_ports_declared[cam]`."""
    callspec = getattr(item, "callspec", None)
    return f"{check_id(item)}[{callspec.id}]" if callspec else check_id(item)


def _marker_ids(item: pytest.Item) -> list[str]:
    return [str(a) for m in item.iter_markers("requirements") for a in m.args]


def _target(item: pytest.Item) -> tuple[str | None, str | None]:
    """The unit and service a parametrised case is about, for the case record."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    ep, unit = params.get("endpoint"), params.get("unit")
    if isinstance(ep, Endpoint):
        return ep.unit.name, ep.service.name
    return (unit.name if isinstance(unit, Unit) else None), None


def _target_label(item: pytest.Item, device: str) -> str:
    """What a finding is about when the check does not say: the endpoint, the unit, or the device."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    ep, unit = params.get("endpoint"), params.get("unit")
    if isinstance(ep, Endpoint):
        return ep.label
    return unit.name if isinstance(unit, Unit) else device


def _marker_arg(item: pytest.Item, name: str, default: str) -> str:
    m = item.get_closest_marker(name)
    return str(m.args[0]) if m and m.args else default


def _method(item: pytest.Item) -> str:
    return _marker_arg(item, "method", "device-test")


def _question(item: pytest.Item) -> Question | None:
    q = getattr(getattr(item, "callspec", None), "params", {}).get("question")
    return q if isinstance(q, Question) else None


def _question_id(item: pytest.Item) -> str | None:
    q = _question(item)
    return q.id if q else None


# observations of a unit that are read-only, light on the device and mostly spent waiting on it
# (nmap's UDP scan waits out its SNMP script's 5 s when the agent refuses 'public'; discovery
# waits for mDNS and SSDP answers): a check names them with @pytest.mark.observes and the run
# begins them for every unit at once, beside the TCP scan, instead of when the first case asks
EARLY_OBSERVATIONS = frozenset({"udp_scan", "discovery"})


def _observes(item: pytest.Item) -> set[str]:
    names = {name for mark in item.iter_markers("observes") for name in mark.args}
    unknown = names - EARLY_OBSERVATIONS
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.observes names {sorted(unknown)}; the observations "
                                f"begun early are {sorted(EARLY_OBSERVATIONS)}")
    return names


def _reads_version_scan(item: pytest.Item) -> bool:
    """The SBOM checks compare the SBOM with what nmap's version detection reads off the unit."""
    return check_id(item).startswith("documents.sbom_")


def _run_order(item: pytest.Item) -> tuple[int, bool]:
    """Gentlest class first. The cases that read nmap's version detection (it runs in the background
    from the start, 10-15 s a unit) come after the default-credential ones too: those only read or
    log in, as the background series already do beside the safe cases, so they fill the wait
    instead of queueing behind it. Nothing that changes the device comes before them."""
    order = PROBE_CLASSES.index(_probe_class(item))
    if _reads_version_scan(item):
        return max(order, PROBE_CLASSES.index("auth")), True
    return order, False


def _probe_class(item: pytest.Item) -> str:
    return _marker_arg(item, "probe_class", "safe")


# probe classes whose cases change what the device does next (a lockout, a reset, a new image)
CHANGES_DEVICE = frozenset({"intrusive", "brute", "dos"})


class ActiveRun:
    """Hooks and fixtures that exist only while an assessment runs."""

    def __init__(self, run: AssessmentRun) -> None:
        self.run = run
        self.pending: dict[str, dict[str, Any]] = {}
        self.collected = 0
        self.done = 0
        self.interrupted = ""
        limits = run.profile.limits
        self.budgets = Budgets(limits.case_budget_s, limits.run_budget_s)
        self.progress = Progress(limits.run_budget_s, self.budgets.started)

    # ---------------------------------------------------------------- budgets
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        if not self.budgets.run_over:
            self.progress.case_started(case_id(item))
            return None
        # the run's deadline passed: no case starts after it, and the bundle says so
        self.interrupted = (f"the run's deadline passed ({self.budgets.run_s:g} s, limits.run_budget_s); "
                            f"{self.collected - self.done} case(s) were not started")
        item.session.shouldstop = self.interrupted
        return True

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        if _probe_class(item) in CHANGES_DEVICE:
            # what runs in the background must see the device as it was: a lockout, a restart or
            # a new image under a default-password series could turn an accepted pair into a
            # rejected one (a false PASS)
            self.run.observations.settle()
        self.budgets.arm()
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        yield
        self.budgets.disarm()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item):
        self.budgets.disarm()  # a set-up that failed never reached the call
        yield

    # ---------------------------------------------------------------- collection
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        profile = self.run.profile
        if "question" in metafunc.fixturenames:
            # each question is a case of its own, evaluating the requirements it names
            metafunc.parametrize("question", [pytest.param(q, marks=pytest.mark.requirements(*q.requirements), id=q.id)
                                              for q in self.run.questions])
        if "unit" in metafunc.fixturenames:
            metafunc.parametrize("unit", profile.units, ids=[u.name for u in profile.units])
        if "endpoint" in metafunc.fixturenames:
            marker = metafunc.definition.get_closest_marker("protocols")
            wanted = {str(p) for p in marker.args} if marker else set()
            # "tls" stands for every service speaking TLS: by nature (the protocol table) or as declared
            eps = [
                Endpoint(u, s)
                for u in profile.units
                for s in profile.services_for(u)
                if not wanted or str(s.protocol) in wanted
                or ("tls" in wanted and (spec(s.protocol).tls or s.tls is not TlsExpectation.NONE))
            ]
            if eps:
                metafunc.parametrize("endpoint", eps, ids=[e.label for e in eps], indirect=True)
            else:
                what = "/".join(sorted(wanted)) or "network"
                metafunc.parametrize(
                    "endpoint", [NoTarget(f"the profile declares no {what} service")], ids=["none-declared"],
                    indirect=True,
                )

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        # a check with no question to ask (a scheme with none) has nothing to record
        unasked = [i for i in items if "question" in getattr(i, "fixturenames", ()) and _question_id(i) is None]
        # vulnerability matching is the operator's choice, like a narrower scan: not asked, not run
        # (the manifest's vulnerability_data says whether it was)
        unasked += [i for i in items if i.get_closest_marker("needs_osv_data") and self.run.osv is None]
        items[:] = [i for i in items if i not in unasked]
        marked: dict[str, list[str]] = {}
        for item in items:
            if _method(item) == "attestation":
                continue  # questions name requirements by data, checked against the catalogs at start
            fn = f"{Path(str(item.path)).name}::{getattr(item, 'originalname', item.name)}"
            marked[fn] = _marker_ids(item)
        problems = check_markers(marked, self.run.catalogs, not config.getoption("iot_extra_suite"))
        if problems:
            raise pytest.UsageError(
                "requirement markers and catalogs disagree:\n  " + "\n  ".join(problems)
            )
        keep, left_out = [], []
        for item in items:
            cls = _probe_class(item)
            if cls not in self.run.allowed_classes:
                left_out.append(item)
                why = (f"probe class '{cls}' not enabled; run with --allow {cls} to evaluate" if cls != "auth"
                       else "probe class 'auth' was turned off (--deny auth); default-credential logins not tried")
                self._record_gated(item, cls, why)
            elif self.run.replay and cls != "safe":
                left_out.append(item)  # live interaction by nature: carry what the device showed
                self.run.carry(case_id(item), check_id(item), _marker_ids(item), "its probe class is " + cls)
            else:
                keep.append(item)
        if left_out:
            config.hook.pytest_deselected(items=left_out)
        # gentlest first: a brute-force measurement that locks an account, or an update case that
        # restarts the device, must not change what the other checks observe
        items[:] = sorted(keep, key=_run_order)
        if self.run.terminal is not None:
            self.run.ask_operator([q for i in items if (q := _question_id(i))])
            self.budgets.started = time.monotonic()  # the person's time at the prompt is not the run's
            self.progress = Progress(self.run.profile.limits.run_budget_s, self.budgets.started)
        self.collected = len(items)
        self.progress.begin(self.collected)
        if not config.getoption("collectonly"):  # collecting sends no packet
            self._prefetch(items)

    def _prefetch(self, items: list[pytest.Item]) -> None:
        """Begin, for every unit at once, the observations the collected cases would otherwise wait
        on one after another: nmap's version detection where an SBOM is to be compared with it
        (about 10 s per unit), each declared login service's default-credential series (a
        failed login costs seconds of the device's own delay), and what the checks name with
        @pytest.mark.observes (the UDP scan, discovery). The units' waits then overlap each
        other and the first cases; every connection still takes a slot of the unit's budget in
        the one scope guard, so a unit never sees more than its declared limit at once."""
        run = self.run
        if run.replay:
            return
        store = run.observations
        work: list = []
        if run.profile.urls.sbom and any(_reads_version_scan(i) for i in items):
            work += [lambda u=unit: store.service_versions(u) for unit in run.profile.units]
        for name in sorted(set().union(*(_observes(i) for i in items))):
            make = getattr(store, name)
            work += [lambda u=unit, make=make: make(u) for unit in run.profile.units]
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            ep, unit = params.get("endpoint"), params.get("unit")
            if check_id(item) == "credentials.default_password" and isinstance(ep, Endpoint):
                work.append(lambda ep=ep: store.default_logins(ep.unit, ep.service, ep.label))
            if check_id(item) == "credentials.default_password_on_undeclared_services" and isinstance(unit, Unit):
                work.append(lambda unit=unit: self._undeclared_series(unit))
        if work:
            store.prefetch(work, parallel=len(work))

    def _undeclared_series(self, unit: Unit) -> None:
        """The default-credential series on every undeclared port that speaks a login protocol (the
        scan and the identification first, as the case itself would read them)."""
        store = self.run.observations
        for port, proto in undeclared_ports(store, unit, self.run.state, LOGIN_PROTOCOLS, "").items():
            svc, label = as_service(unit, port, str(proto))
            store.default_logins(unit, svc, label)

    def _record_gated(self, item: pytest.Item, cls: str, reason: str) -> None:
        unit, service = _target(item)
        self.run.record(CaseResult(
            id=case_id(item), check=check_id(item), verdict=Verdict.NOT_EVALUATED, requirements=_marker_ids(item),
            reason=reason, probe_class=cls, gated_by=cls, method=_method(item), unit=unit, service=service,
        ))

    # ---------------------------------------------------------------- fixtures
    @pytest.fixture
    def profile(self):
        return self.run.profile

    @pytest.fixture
    def guard(self):
        return self.run.guard

    @pytest.fixture
    def observations(self):
        """The observation store: every check reads what the harness learnt about a unit from here."""
        return self.run.observations

    @pytest.fixture
    def findings(self, request: pytest.FixtureRequest) -> CaseFindings:
        """Where a check records one finding per target it judged (the case ends with their aggregate)."""
        return self._state(request.node)["findings"]

    @pytest.fixture
    def current_case(self, request: pytest.FixtureRequest) -> str:
        """This case's id, for facts it records for other checks (`observations.note`)."""
        return case_id(request.node)

    @pytest.fixture
    def evidence(self, request: pytest.FixtureRequest):
        return self.run.recorder.for_case(case_id(request.node))

    @pytest.fixture
    def osv_data(self):
        """The OSV records the operator supplied (--osv-data), read once for the run."""
        return self.run.osv

    @pytest.fixture
    def operator_answers(self):
        """The operator's answers by question id (answers file, then --ask at the terminal)."""
        return self.run.answers

    @pytest.fixture
    def redactor(self):
        """Add a value (e.g. a temporary password a test invents) so no evidence can show it."""
        return self.run.recorder.redactor

    @pytest.fixture
    def catalogs(self):
        return self.run.catalogs

    @pytest.fixture
    def policies(self):
        """The TLS and SSH policies in force (the profile's, or the ones `rejudge` was given)."""
        return self.run.policies

    @pytest.fixture
    def device_state(self):
        """The state the units are in for this run (exposure is judged against that state's services)."""
        return self.run.state

    @pytest.fixture
    def run_cache(self):
        """Material a suite prepares once per run that is not an observation (derived images)."""
        return self.run.cache

    @pytest.fixture
    def endpoint(self, request: pytest.FixtureRequest):
        ep = request.param
        if isinstance(ep, NoTarget):
            not_applicable(ep.reason)
        return ep

    # ---------------------------------------------------------------- outcomes
    def _state(self, item: pytest.Item) -> dict[str, Any]:
        state = self.pending.get(item.nodeid)
        if state is None:
            state = self.pending[item.nodeid] = {"t0": time.monotonic(), "started": now_iso()}
        if "findings" not in state:
            state["findings"] = CaseFindings(check_id(item), _target_label(item, self.run.profile.identity.model))
            state["refused_before"] = len(self.run.guard.refused)
        state["item"] = item
        return state

    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        self.pending[nodeid] = {"t0": time.monotonic(), "started": now_iso()}
        self.run.observations.begin_case()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        outcome.get_result()
        state = self._state(item)
        finding = _finding_of(call)
        if finding is not None:
            verdict, reason, ended = finding
            if ended is not None:
                state["findings"].ended(ended)
            else:
                state["findings"].add(verdict, reason)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple) -> None:
        state = self.pending.pop(nodeid, None)
        if not state or "item" not in state:
            return
        self._record(state["item"], state)
        space = self.run.recorder.space
        if space.full and not self.interrupted:  # no case starts without room for its evidence
            self.interrupted = (f"the disk holding the bundle filled up while writing {space.where}; the run "
                                "stopped there and was sealed in the space held back for it")
            state["item"].session.shouldstop = self.interrupted

    def _record(self, item: pytest.Item, state: dict[str, Any]) -> None:
        cid = case_id(item)
        read = self.run.observations.read_by_case()
        if self.run.replay and (len(self.run.guard.refused) > state.get("refused_before", 0) or not read):
            # it reached for the device (or an observation never recorded), or judged nothing the
            # original run observed (files, the declaration alone): carry what the original found
            why = "it needs live interaction with the device" if read else "it judges no recorded observation"
            self.run.carry(cid, check_id(item), _marker_ids(item), why)
            self._progress(self.run.records[-1])
            return
        unit, service = _target(item)
        files = list(self.run.recorder.for_case(cid).files)
        found = state["findings"].close(files + read, self.run.recorder.redactor.text)
        verdict, reason = case_verdict(found)
        method = _method(item)
        rec = CaseResult(
            id=cid,
            check=check_id(item),
            verdict=verdict,
            requirements=_marker_ids(item),
            reason=reason,
            findings=found,
            evidence=files + read,
            probe_class=_probe_class(item),
            method=method,
            # an unanswered question waits for a person, like a probe class left off: it leaves its
            # requirements NOT_EVALUATED without making the device's assessment incomplete
            gated_by="operator-answer" if method == "attestation" and verdict is Verdict.NOT_EVALUATED else None,
            fallback_for=list(q.fallback_for) if (q := _question(item)) else [],
            unit=unit,
            service=service,
            covers=list(state["findings"].covered),
            duration_s=round(time.monotonic() - state["t0"], 3),
            started=state.get("started", ""),
            judged="rejudged" if self.run.replay else "live",
        )
        self.run.record(rec)
        self._progress(rec)

    def _progress(self, rec: CaseResult) -> None:
        self.done += 1
        self.progress.case_done(rec)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # the terminal reporter is off during a run; a broken suite must still say why
        if report.failed:
            print(f"collection error in {report.nodeid}:\n{report.longreprtext}", file=sys.stderr)
            self.interrupted = f"test suite failed to load: {report.nodeid}"

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        # pytest reports a stop it was asked for (the run's deadline) through this hook too
        self.interrupted = self.interrupted or "interrupted by the operator (Ctrl-C or SIGTERM)"

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # a case that was running when the run was cut off is recorded, not dropped
        for state in list(self.pending.values()):
            if "item" in state:
                state["findings"].add(Verdict.ERROR, "run interrupted while this case was running")
                self._record(state["item"], state)
        self.pending.clear()
        reason = self.interrupted
        if not reason and exitstatus == pytest.ExitCode.INTERRUPTED:
            reason = "run stopped before all cases finished"
        if not reason and self.done < self.collected:
            reason = f"only {self.done} of {self.collected} cases ran"
        self.progress.close()
        self.run.observations.settle()  # nothing may be written into the bundle once it is sealed
        self.run.finish(complete=not reason, reason=reason)


def _finding_of(call: pytest.CallInfo) -> tuple[Verdict, str, CaseEnded | None] | None:
    """The finding a phase's exception stands for; None when the phase ended quietly."""
    exc = call.excinfo
    if exc is None:
        return None
    err = exc.value
    if isinstance(err, CaseEnded):
        return err.verdict, err.reason, err
    if isinstance(err, pytest.skip.Exception):
        return Verdict.INCONCLUSIVE, f"skipped without a verdict: {err.msg}", None
    if isinstance(err, ScopeViolation):
        return Verdict.ERROR, f"refused by the scope guard, nothing sent: {err}", None
    if isinstance(err, BudgetExhausted):
        return Verdict.ERROR, f"connection budget exhausted: {err}", None
    if isinstance(err, CaseOverBudget):
        return Verdict.INCONCLUSIVE, str(err), None
    if isinstance(err, DiskFull):
        return Verdict.ERROR, f"{err.strerror}: the case's evidence could not all be written", None
    if call.when == "call" and isinstance(err, AssertionError):
        text = str(err).split("\nassert ")[0].strip() or "assertion failed"
        return Verdict.FAIL, text, None
    where = "setting up" if call.when == "setup" else "tearing down" if call.when == "teardown" else "running"
    return Verdict.ERROR, f"harness error while {where} the case: {type(err).__name__}: {err}", None


