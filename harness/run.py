"""One assessment run: the state shared by the pytest plugin, the probes and the bundle writer.

Kept free of pytest so the life cycle (start → cases recorded as they finish → sealed bundle,
complete or not) is plain code that can be read and tested on its own.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from harness import __version__
from harness.bundle import bundle_files, seal
from harness.catalog import SCHEME_FILES, Catalogs, load_catalogs
from harness.evidence import EvidenceRecorder, Redactor
from harness.profile import DeviceProfile, load_profile, profile_sha256
from harness.results import CaseRecord, blocking_failures, requirement_results, summary
from harness.scope import Scope, ScopeGuard
from harness.signing import Signer, load_signer
from harness.verdict import Verdict

PROBE_CLASSES = ("safe", "intrusive", "brute", "dos")
PARTIAL = "results.partial.jsonl"


class RunSetupError(Exception):
    """The run cannot start: bad profile, scope, output folder or key. Message says the fix."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunOptions:
    profile_path: Path
    out: Path
    schemes: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    allow_networks: list[str] = field(default_factory=list)
    operator: str | None = None
    signing_key: Path | None = None
    state: str | None = None


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
    records: list[CaseRecord] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, options: RunOptions) -> AssessmentRun:
        from harness.profile import ProfileError
        from harness.scope import ScopeViolation
        from harness.signing import SigningKeyError

        try:
            profile = load_profile(options.profile_path)
        except ProfileError as e:
            raise RunSetupError(str(e)) from None
        schemes = options.schemes or list(profile.schemes)
        unknown = [s for s in schemes if s not in SCHEME_FILES]
        if unknown:
            raise RunSetupError(f"unknown scheme(s) {unknown}; choose from {', '.join(SCHEME_FILES)}")
        bad = [c for c in options.allow if c not in PROBE_CLASSES[1:]]
        if bad:
            raise RunSetupError(f"--allow {','.join(bad)}: classes are {', '.join(PROBE_CLASSES[1:])}")
        state = options.state or profile.states[0]
        if state not in profile.states:
            raise RunSetupError(
                f"--state {state!r} is not a state the profile declares; declared: {', '.join(profile.states)}"
            )
        catalogs = load_catalogs()
        check_declared_ids(profile, catalogs)
        try:
            scope = Scope.build([u.address for u in profile.units], options.allow_networks)
        except ScopeViolation as e:
            raise RunSetupError(f"out of scope, nothing was sent: {e}") from None
        out = options.out
        if out.exists() and any(out.iterdir()):
            raise RunSetupError(f"output folder {out} is not empty; give a new folder for the bundle")
        try:
            signer = load_signer(options.signing_key)
        except SigningKeyError as e:
            raise RunSetupError(str(e)) from None
        out.mkdir(parents=True, exist_ok=True)
        redact, left = _redaction_plan(profile)
        redactor = Redactor(redact)
        guard = ScopeGuard(
            scope,
            max_connections_per_unit=profile.limits.max_connections_per_unit,
            connect_timeout_s=profile.limits.connect_timeout_s,
        )
        run = cls(
            options=options,
            profile=profile,
            catalogs=catalogs,
            schemes=schemes,
            allowed_classes=frozenset(["safe", *options.allow]),
            state=state,
            guard=guard,
            recorder=EvidenceRecorder(out, redactor),
            signer=signer,
            started=now_iso(),
        )
        run.recorder.write_json("profile.json", profile.redacted())
        run.manifest = run._manifest()
        run.manifest["redaction"] = {
            "secrets_redacted": len(redact),
            "not_redacted": left,
            "why_not": "publicly known default passwords (in harness/data/default_credentials.yaml) or shorter "
                       f"than {MIN_SECRET_LEN} characters: hiding them protects nothing and would garble every "
                       "report (a password 'admin' would erase the user name 'admin' too)",
        }
        run.recorder.write_json("manifest.json", run.manifest)
        return run

    def _manifest(self) -> dict[str, Any]:
        base = resources.files("harness")
        catalogs = {}
        for scheme in self.schemes:
            data = (base / "catalogs" / SCHEME_FILES[scheme]).read_bytes()
            catalogs[scheme] = {
                "edition": self.catalogs.by_scheme[scheme].edition,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        return {
            "format": "iot-label-harness/bundle/v1",
            "tool": {"name": "iot-label-harness", "version": __version__},
            "profile": {
                "path": str(self.options.profile_path),
                "sha256": profile_sha256(self.options.profile_path),
                "recorded_as": "profile.json",
            },
            "device": self.device(),
            "scope": {
                "targets": sorted(str(t) for t in self.guard.scope.targets),
                "allowed_networks": [str(n) for n in self.guard.scope.allowed_networks],
            },
            "schemes": self.schemes,
            "catalogs": catalogs,
            "probe_classes_enabled": sorted(self.allowed_classes),
            "device_state": self.state,
            "operator": self.options.operator or _default_operator(),
            "started": self.started,
            "finished": None,
            "complete": False,
            "status": "running",
            "platform": {
                "python": sys.version.split()[0],
                "system": platform.system(),
                "release": platform.release(),
                "machine": platform.machine(),
                "network_namespace": _netns_name(),
            },
            "signer": {"fingerprint": self.signer.keyid, "origin": self.signer.origin},
        }

    def device(self) -> dict[str, Any]:
        ident = self.profile.identity
        return {
            "vendor": ident.vendor,
            "model": ident.model,
            "firmware_version": ident.firmware_version,
            "units": [{"name": u.name, "address": u.address} for u in self.profile.units],
        }

    def record(self, case: CaseRecord) -> None:
        """Keep a finished case and append it to the partial log at once (survives a crash)."""
        self.records.append(case)
        self.recorder.append_jsonl(PARTIAL, case.to_json())

    def finish(self, complete: bool, reason: str = "") -> dict[str, Any]:
        """Write results.json and the final manifest, then seal and sign. Returns the results."""
        reqs = requirement_results(
            self.records, self.catalogs, self.profile, self.schemes, datetime.now(UTC).date()
        )
        results = {
            "format": "iot-label-harness/results/v1",
            "device": self.device(),
            "schemes": self.schemes,
            "complete": complete,
            "requirements": reqs,
            "cases": [c.to_json() for c in self.records],
            "summary": summary(reqs, self.records),
        }
        self.recorder.write_json("results.json", results)
        self.manifest.update(
            finished=now_iso(),
            complete=complete,
            status="complete" if complete else "incomplete",
            incomplete_reason=reason or None,
            connections=dict(self.guard.connections),
            refused_by_scope=list(self.guard.refused),
        )
        self.recorder.write_json("manifest.json", self.manifest)
        partial = self.options.out / PARTIAL
        if complete and partial.exists():
            partial.unlink()
        seal(self.options.out, self.signer, self._predicate(results, complete))
        return results

    def _predicate(self, results: dict[str, Any], complete: bool) -> dict[str, Any]:
        cases = results["cases"]
        warned_verdicts = {str(v) for v in Verdict} - {"PASS", "FAIL"}
        reqs = results["requirements"]
        if blocking_failures(reqs):
            result = "FAILED"
        elif not complete or any(r["verdict"] not in ("PASS", "NOT_APPLICABLE") for r in reqs):
            result = "WARNED"
        else:
            result = "PASSED"
        files = bundle_files(self.options.out)
        config = [
            {"name": name, "digest": {"sha256": files[name]}}
            for name in ("profile.json", "manifest.json")
            if name in files
        ]
        return {
            "result": result,
            "configuration": config,
            "passedTests": [c["id"] for c in cases if c["verdict"] == "PASS"],
            "warnedTests": [c["id"] for c in cases if c["verdict"] in warned_verdicts],
            "failedTests": [c["id"] for c in cases if c["verdict"] == "FAIL"],
        }


MIN_SECRET_LEN = 4


def _redaction_plan(profile: DeviceProfile) -> tuple[list[str], list[str]]:
    """Secret values to scrub from everything written, and the names of those left alone."""
    from harness.credentials import default_credentials

    public = {e.password for e in default_credentials().entries}
    redact, left = [], []
    for unit, name, value in profile.secret_items():
        if value in public or len(value) < MIN_SECRET_LEN:
            left.append(f"{unit}:{name}")
        else:
            redact.append(value)
    return redact, left


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


def load_results(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "results.json").read_text())
