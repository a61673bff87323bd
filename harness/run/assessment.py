"""One assessment run: the state shared by the pytest plugin, the probes and the bundle writer.

Kept free of pytest so the life cycle (start → cases recorded as they finish → sealed bundle,
complete or not) is plain code that can be read and tested on its own.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harness import __version__
from harness.declaration.answers import AnswersError, GivenAnswer, load_answers
from harness.declaration.catalog import Catalogs, load_catalogs
from harness.declaration.profile import DeviceProfile, load_profile, profile_sha256
from harness.declaration.questions import Question, load_questions, questions_for, unknown_requirements
from harness.judgement.coverage import coverage_matrix
from harness.judgement.exposure import load_exposure_data
from harness.judgement.policies import PoliciesInForce
from harness.judgement.vulnerabilities import OsvData, OsvDataError, load_osv
from harness.observation.scope import DEFAULT_CLASSES, PROBE_CLASSES, Scope, ScopeGuard
from harness.observation.store import ObservationStore
from harness.record.bundle import bundle_files
from harness.record.evidence import DiskFull, EvidenceRecorder, Redactor
from harness.record.output import OutputFolder, OutputTaken
from harness.record.reader import VerifiedBundle
from harness.record.results import (
    CaseResult,
    Device,
    Manifest,
    RejudgedFrom,
    Results,
    UnitRef,
    requirement_results,
    summary,
)
from harness.record.signing import Signer, load_signer
from harness.record.verdict import Verdict
from harness.run.embedded_reports import seal_with_reports
from harness.run.interrupts import deferred_interrupts
from harness.run.prompt import NoTerminal, ask_all, open_terminal

PARTIAL = "results.partial.jsonl"


class RunSetupError(Exception):
    """The run cannot start: bad profile, scope, output folder or key. Message says the fix."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunOptions:
    profile_path: Path | None
    out: Path
    schemes: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    allow_networks: list[str] = field(default_factory=list)
    allow_wide_network: bool = False
    operator: str | None = None
    signing_key: Path | None = None
    state: str | None = None
    replay: Path | None = None  # re-judge this bundle's observations instead of observing a device
    tls_policy: str | None = None
    ssh_policy: str | None = None
    answers: Path | None = None  # the operator's answers to the attestation questions (YAML)
    ask: bool = False  # ask the unanswered questions at the terminal before the cases run
    osv_data: Path | None = None  # a folder of OSV records to match the SBOM's components against
    units: list[str] = field(default_factory=list)  # assess only these declared units (a labgrid place's)
    labgrid: dict[str, Any] | None = None  # the places the units were reached through (for the manifest)


def _attestation_inputs(options: RunOptions, schemes: list[str],
                        catalogs: Catalogs) -> tuple[list[Question], dict[str, GivenAnswer]]:
    """The questions this run asks and the answers given in a file, checked before anything is sent."""
    problems = unknown_requirements(load_questions(), catalogs)
    if problems:
        raise RunSetupError("the operator question set names requirements no catalog has:\n  - "
                            + "\n  - ".join(problems))
    questions = questions_for(schemes, catalogs)
    if options.ask and options.replay:
        raise RunSetupError("--ask: re-judging keeps the answers the original run recorded; ask them in a new run")
    if options.answers is None:
        return questions, {}
    try:
        return questions, load_answers(options.answers, load_questions())
    except AnswersError as e:
        raise RunSetupError(str(e)) from None


def allowed_classes(allow: list[str], deny: list[str]) -> frozenset[str]:
    """The probe classes a run may use: safe and auth by default, plus --allow, minus --deny."""
    bad = [c for c in allow if c not in PROBE_CLASSES[2:]]
    if bad:
        raise RunSetupError(f"--allow {','.join(bad)}: classes are {', '.join(PROBE_CLASSES[2:])}")
    bad = [c for c in deny if c != "auth"]
    if bad:
        raise RunSetupError(f"--deny {','.join(bad)}: only 'auth' is on by default and can be turned off")
    return frozenset((DEFAULT_CLASSES | set(allow)) - set(deny))


@dataclass
class AssessmentRun:
    options: RunOptions
    profile: DeviceProfile
    catalogs: Catalogs
    schemes: list[str]
    allowed_classes: frozenset[str]
    state: str
    guard: ScopeGuard
    recorder: EvidenceRecorder
    signer: Signer
    started: str
    observations: ObservationStore
    policies: PoliciesInForce
    questions: list[Question] = field(default_factory=list)
    answers: dict[str, GivenAnswer] = field(default_factory=dict)
    terminal: TextIO | None = None  # where --ask asks the questions (the controlling terminal)
    osv: OsvData | None = None  # --osv-data, read once
    replay: VerifiedBundle | None = None
    folder: OutputFolder | None = None  # held (locked) until the bundle is sealed
    records: list[CaseResult] = field(default_factory=list)
    manifest: Manifest | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, options: RunOptions) -> AssessmentRun:
        from harness.observation.scope import ScopeViolation
        from harness.record.signing import SigningKeyError

        replay = _open_replay(options.replay) if options.replay else None
        profile = _declaration(options, replay)
        if options.units:
            try:
                profile = profile.only_units(options.units)
            except ValueError as e:
                raise RunSetupError(f"the units the labgrid places hold: {e}") from None
        catalogs = load_catalogs()
        schemes, classes, state = _settings(options, profile, replay, catalogs)
        check_declared_ids(profile, catalogs)
        questions, answers = _attestation_inputs(options, schemes, catalogs)
        try:
            terminal = open_terminal() if options.ask else None
        except NoTerminal as e:
            raise RunSetupError(str(e)) from None
        try:
            osv = load_osv(options.osv_data) if options.osv_data else None
        except OsvDataError as e:
            raise RunSetupError(str(e)) from None
        policies = PoliciesInForce(options.tls_policy or profile.communication.tls_policy,
                                   options.ssh_policy or profile.communication.ssh_policy)
        lacking = [] if replay else missing_inputs(profile, policies)
        if lacking:
            raise RunSetupError("the run would lack what the profile names (nothing was sent):\n  - "
                                + "\n  - ".join(lacking))
        try:
            # re-judging talks to nothing: the scope holds no target at all
            scope = Scope.build([] if replay else [u.address for u in profile.units], options.allow_networks,
                               options.allow_wide_network)
        except ScopeViolation as e:
            raise RunSetupError(f"out of scope, nothing was sent: {e}") from None
        out = options.out
        try:
            signer = load_signer(options.signing_key)
        except SigningKeyError as e:
            raise RunSetupError(str(e)) from None
        try:
            folder = OutputFolder(out).take()  # last check before anything is written
        except OutputTaken as e:
            raise RunSetupError(str(e)) from None
        try:  # from here on the folder is ours: a failure removes what this run created
            redact, left = _redaction_plan(profile)
            try:
                recorder = EvidenceRecorder(out, Redactor(redact))
            except DiskFull as e:
                raise RunSetupError(str(e)) from None
            guard = ScopeGuard(
                scope,
                max_connections_per_unit=profile.limits.max_connections_per_unit,
                connect_timeout_s=profile.limits.connect_timeout_s,
                allowed_classes=classes,
            )
            udp_known = {p.port: p.name for p in load_exposure_data().udp_ports}
            udp_common = list(udp_known)
            run = cls(
                options=options,
                profile=profile,
                catalogs=catalogs,
                schemes=schemes,
                allowed_classes=classes,
                state=state,
                guard=guard,
                recorder=recorder,
                signer=signer,
                started=now_iso(),
                observations=ObservationStore(guard, profile, recorder, replay.root if replay else None,
                                              udp_ports=lambda unit: udp_common, udp_names=udp_known,
                                              profile_folder=options.profile_path.resolve().parent
                                              if options.profile_path else None),
                policies=policies,
                questions=questions,
                answers=answers,
                terminal=terminal,
                osv=osv,
                replay=replay,
                folder=folder,
            )
            run.recorder.write_json("profile.json", profile.redacted())
            run.manifest = run._manifest()
            run.manifest.redaction = {
                "secrets_redacted": len(redact),
                "not_redacted": left,
                "why_not": "publicly known default passwords (in harness/data/default_credentials.yaml) or shorter "
                           f"than {MIN_SECRET_LEN} characters: hiding them protects nothing and would garble every "
                           "report (a password 'admin' would erase the user name 'admin' too)",
            }
            run._write_manifest()
            return run
        except BaseException:
            folder.abandon()
            raise

    def ask_operator(self, asked: list[str]) -> None:
        """--ask: put the questions this run collected, and the answers file did not answer, to the
        person at the terminal, before any case runs."""
        if self.terminal is None:
            return
        by_id = {q.id: q for q in self.questions}
        open_questions = [by_id[q] for q in asked if q in by_id and q not in self.answers]
        try:
            self.answers.update(ask_all(open_questions, self.options.operator or _default_operator(), self.terminal))
        finally:
            self.terminal.close()
            self.terminal = None

    def _attestation_summary(self) -> dict[str, str | int]:
        asked = [c for c in self.records if c.method == "attestation"]
        out: dict[str, str | int] = {"asked": len(asked),
                                     "answered": sum(c.gated_by != "operator-answer" for c in asked)}
        if self.options.answers is not None:
            out["answers_file"] = str(self.options.answers)
            with contextlib.suppress(OSError):
                out["answers_file_sha256"] = hashlib.sha256(self.options.answers.read_bytes()).hexdigest()
        typed = sum(a.source == "terminal" for a in self.answers.values())
        if typed:
            out["terminal"] = typed
        return out

    def _write_manifest(self) -> None:
        assert self.manifest is not None
        self.recorder.write_json("manifest.json", self.manifest.model_dump(mode="json"))

    def _manifest(self) -> Manifest:
        catalogs = {
            scheme: {"edition": self.catalogs.by_scheme[scheme].edition,
                     "sha256": hashlib.sha256(self.catalogs.files[scheme].read_bytes()).hexdigest()}
            for scheme in self.schemes
        }
        path = self.options.profile_path
        if path is not None:
            profile = {"path": str(path), "sha256": profile_sha256(path), "recorded_as": "profile.json"}
        else:
            assert self.replay is not None
            profile = {"path": f"{self.replay.root}/profile.json", "recorded_as": "profile.json",
                       "sha256": hashlib.sha256(self.replay.path("profile.json").read_bytes()).hexdigest()}
        rejudged = None
        if self.replay is not None:
            rejudged = RejudgedFrom(bundle=str(self.replay.root), digest=self.replay.digest,
                                    results_sha256=hashlib.sha256(self.replay.path("results.json").read_bytes()).hexdigest())
        return Manifest(
            tool={"name": "iot-label-harness", "version": __version__},
            profile=profile,
            device=self.device(),
            scope={"targets": sorted(str(t) for t in self.guard.scope.targets),
                   "allowed_networks": [str(n) for n in self.guard.scope.allowed_networks]},
            schemes=self.schemes,
            catalogs=catalogs,
            policies=self.policies.refs(),
            probe_classes_enabled=sorted(self.allowed_classes),
            device_state=self.state,
            operator=self.options.operator or _default_operator(),
            started=self.started,
            platform={
                "python": sys.version.split()[0],
                "system": platform.system(),
                "release": platform.release(),
                "machine": platform.machine(),
                "network_namespace": _netns_name(),
            },
            signer={"fingerprint": self.signer.keyid, "origin": self.signer.origin},
            rejudged_from=rejudged,
            labgrid=self.options.labgrid,
        )

    def device(self) -> Device:
        ident = self.profile.identity
        return Device(vendor=ident.vendor, model=ident.model, firmware_version=ident.firmware_version,
                      units=[UnitRef(name=u.name, address=u.address) for u in self.profile.units])

    def record(self, case: CaseResult) -> None:
        """Keep a finished case and append it to the partial log at once (survives a crash)."""
        self.records.append(case)
        with contextlib.suppress(DiskFull):  # kept in memory for results.json; the plugin stops the run
            self.recorder.append_jsonl(PARTIAL, case.model_dump(mode="json"))

    def carry(self, case_id: str, check: str, requirements: list[str], why: str) -> None:
        """Re-judging: a case that needs the device keeps the findings the device gave, with its
        evidence copied into the new bundle, and says so."""
        assert self.replay is not None
        original = next((c for c in self.replay.results.cases if c.id == case_id), None)
        if original is None:
            self.record(CaseResult(id=case_id, check=check, verdict=Verdict.NOT_EVALUATED, requirements=requirements,
                                   reason=f"not in the original run, and {why}: run it against the device",
                                   judged="carried"))
            return
        for rel in {*original.evidence, *(e for f in original.findings for e in f.evidence)}:
            src, dst = self.replay.path(rel), self.options.out / rel
            if src.is_file() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
        note = f"carried from the original run ({why})"
        self.record(original.model_copy(update={
            "judged": "carried", "requirements": requirements,
            "reason": f"{original.reason} [{note}]" if original.reason else f"[{note}]"}))

    def finish(self, complete: bool, reason: str = "") -> Results:
        """Write results.json and the final manifest, then seal and sign. Returns the results."""
        self.recorder.space.release()  # the space held since the start is what sealing now uses
        if self.recorder.space.full:
            complete = False
            reason = reason or f"the disk holding the bundle filled up (writing {self.recorder.space.where})"
        with deferred_interrupts():
            today = datetime.now(UTC).date()
            coverage = coverage_matrix(self.records, self.catalogs, self.profile, self.schemes, self.state,
                                       self.observations.discovered(self.state))
            reqs = requirement_results(self.records, self.catalogs, self.profile, self.schemes, today, coverage)
            results = Results(
                device=self.device(), schemes=self.schemes, complete=complete, requirements=reqs,
                cases=self.records, coverage=coverage, summary=summary(reqs, self.records, complete),
            )
            self.recorder.write_json("results.json", results.model_dump(mode="json"))
            assert self.manifest is not None
            self.manifest.finished = now_iso()
            self.manifest.complete = complete
            self.manifest.status = "complete" if complete else "incomplete"
            self.manifest.incomplete_reason = reason or None
            self.manifest.connections = dict(self.guard.connections)
            self.manifest.refused_by_scope = list(self.guard.refused)
            self.manifest.exchanges = self.guard.exchanges.summary()
            self.manifest.attestations = self._attestation_summary()
            if self.osv is not None:
                self.manifest.vulnerability_data = {"folder": str(self.osv.folder), "records": len(self.osv.records),
                                                    "unreadable": len(self.osv.unreadable)}
            self._write_manifest()
            partial = self.options.out / PARTIAL
            if complete and partial.exists():
                partial.unlink()
            unrendered = seal_with_reports(self.options.out, self.signer, lambda: self._predicate(results),
                                           self.recorder)
            for problem in unrendered:
                print(f"iot-harness: the reports were not rendered into the bundle: {problem}", file=sys.stderr)
            if self.folder is not None:
                self.folder.release()
        return results

    def _predicate(self, results: Results) -> dict[str, Any]:
        """The in-toto test-result predicate; its result and exit code are the CLI's exit code."""
        code = results.summary.exit_code
        result = {0: "PASSED", 1: "FAILED"}.get(code, "WARNED")
        files = bundle_files(self.options.out)
        config = [
            {"name": name, "digest": {"sha256": files[name]}}
            for name in ("profile.json", "manifest.json")
            if name in files
        ]
        return {
            "result": result,
            "exitCode": code,
            "configuration": config,
            "passedTests": [c.id for c in results.cases if c.verdict is Verdict.PASS],
            "warnedTests": [c.id for c in results.cases if c.verdict not in (Verdict.PASS, Verdict.FAIL)],
            "failedTests": [c.id for c in results.cases if c.verdict is Verdict.FAIL],
        }


def _settings(options: RunOptions, profile: DeviceProfile, replay: VerifiedBundle | None,
              catalogs: Catalogs) -> tuple[list[str], frozenset[str], str]:
    """Schemes, probe classes and device state of the run; a re-judgement keeps the original's probe
    classes and state, and its schemes unless told others (--scheme, or a corrected declaration's):
    the same evidence can answer another label's requirements without touching the device."""
    if replay is not None:
        corrected = list(profile.schemes) if options.profile_path else []
        schemes = options.schemes or corrected or list(replay.manifest.schemes)
        classes = frozenset(replay.manifest.probe_classes_enabled)
        state = replay.manifest.device_state
    else:
        schemes = options.schemes or list(profile.schemes)
        classes = allowed_classes(options.allow, options.deny)
        state = options.state or profile.states[0]
    unknown = [s for s in schemes if s not in catalogs.by_scheme]
    if unknown:
        raise RunSetupError(f"unknown scheme(s) {unknown}; choose from {', '.join(catalogs.by_scheme)}")
    if state not in profile.states:
        raise RunSetupError(f"--state {state!r} is not a state the profile declares; declared: "
                            f"{', '.join(profile.states)}")
    return schemes, classes, state


def _open_replay(path: Path) -> VerifiedBundle:
    from harness.record.reader import BundleRefused, open_bundle

    try:
        return open_bundle(path)
    except BundleRefused as e:
        raise RunSetupError(str(e)) from None


def _declaration(options: RunOptions, replay: VerifiedBundle | None) -> DeviceProfile:
    """The profile in force: the file given, or (re-judging) the declaration the bundle recorded."""
    from pydantic import ValidationError

    from harness.declaration.profile import ProfileError

    if options.profile_path is not None:
        try:
            return load_profile(options.profile_path)
        except ProfileError as e:
            raise RunSetupError(str(e)) from None
    if replay is None:
        raise RunSetupError("give a device profile (--profile)")
    data = replay.profile_data()
    for unit in data.get("units", []):  # the bundle keeps no secret; judging needs none
        unit["secrets"] = {k: {"value": str(v)} for k, v in unit.get("secrets", {}).items()}
    try:
        return DeviceProfile.model_validate(data)
    except ValidationError as e:
        raise RunSetupError(f"{replay.root}/profile.json does not validate with this version of the harness "
                            f"({e.error_count()} problem(s)); pass the declaration with --profile") from None


MIN_SECRET_LEN = 4


def _redaction_plan(profile: DeviceProfile) -> tuple[list[str], list[str]]:
    """Secret values to scrub from everything written, and the names of those left alone."""
    from harness.observation.credentials import default_credentials

    public = {e.password for e in default_credentials().entries}
    redact, left = [], []
    for unit, name, value in profile.secret_items():
        if value in public or len(value) < MIN_SECRET_LEN:
            left.append(f"{unit}:{name}")
        else:
            redact.append(value)
    return redact, left


def missing_inputs(profile: DeviceProfile, policies: PoliciesInForce) -> list[str]:
    """Everything the profile names that a run needs, resolved now rather than half-way through
    (an unset secret or a wrong anchor path would otherwise end cases INCONCLUSIVE, exit 0)."""
    from harness.judgement.policies import PolicyError

    out = []
    for i, unit in enumerate(profile.units):
        for name, secret in unit.secrets.items():
            try:
                secret.reveal()
            except (LookupError, OSError) as e:
                out.append(f"units[{i}].secrets.{name}: {e}")
    for kind, load in (("tls_policy", policies.tls), ("ssh_policy", policies.ssh)):
        try:
            load()
        except PolicyError as e:
            out.append(f"communication.{kind}: {str(e).splitlines()[0]}")
    files = [("communication.trust_anchor", profile.communication.trust_anchor)]
    if profile.update:
        u = profile.update
        files += [("update.trust_anchor", u.trust_anchor), ("update.current_image", u.current_image),
                  ("update.newer_image", u.newer_image), ("update.older_image", u.older_image)]
        if u.expired_signer:
            files += [("update.expired_signer.certificate", u.expired_signer.certificate),
                      ("update.expired_signer.key", u.expired_signer.key)]
    out += [f"{where}: {path} is not a readable file" for where, path in files
            if path is not None and not path.is_file()]
    return out + _unusable_key_files(profile)


def _unusable_key_files(profile: DeviceProfile) -> list[str]:
    """Key-file test accounts, loaded for every unit that exposes the service (the key is read
    here and again where it is used; it is never kept, logged or written)."""
    from harness.observation.probes.ssh import KeyFileError, load_private_key

    out = []
    for i, svc in enumerate(profile.services):
        if svc.account is None or not svc.account.uses_key:
            continue
        for unit in profile.units:
            if svc.units is not None and unit.name not in svc.units:
                continue
            try:
                load_private_key(svc.account.key_path(unit.name))
            except KeyFileError as e:
                out.append(f"services[{i}].account.key_file ({unit.name}): {e}")
    return out


def check_declared_ids(profile: DeviceProfile, catalogs: Catalogs) -> None:
    known = catalogs.requirements
    for where, ids in (
        ("not_applicable", [d.requirement for d in profile.not_applicable]),
        ("waivers", [w.requirement for w in profile.waivers]),
    ):
        for rid in ids:
            if rid not in known:
                raise RunSetupError(
                    f"profile {where} names unknown requirement {rid!r}; "
                    "list them with `iot-harness catalog list --scheme jc-star-1`"
                )


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _netns_name() -> str | None:
    """Which named network namespace the run is in (the lab's tester, or none = host network)."""
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
        for p in Path("/run/netns").iterdir():
            if p.stat().st_ino == mine:
                return p.name
    except OSError:
        pass
    return None


