"""Two verified bundles compared: what changed from the last release to this build, and what regressed.

Firmware CI runs this between the last release's bundle and the current build's, so the rules
lean one way: anything the new bundle can no longer show is a regression, never a silence. A
requirement or case that got worse, or that was evaluated before and is gone now, regressed; so
did every port that is open now and was not, and every policy violation (a FAIL finding, by target
and rule) that is new. A scan the new run did not record, where the old one did, regressed too:
without it nobody can say no port was opened.

Observations are read from the bundles' recorded files (`observations/<unit>/<key>.json`, the
names the observation store gives them), so the comparison needs no device and no harness run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from harness.record.reader import VerifiedBundle
from harness.record.results import CaseResult, RequirementResult, Results
from harness.record.verdict import ACCEPTABLE, SEVERITY, Verdict

Aspect = Literal["run", "requirement", "case", "port", "service", "tls", "ssh", "finding"]
ASPECTS: tuple[str, ...] = get_args(Aspect)  # the order the renderings list them in

# TLS versions oldest first, as sslyze names them in the recorded summary.
TLS_ORDER = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
SSH_LISTS = ("kex", "host_key", "cipher", "mac")


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aspect: Aspect
    subject: str = Field(description="what changed: a requirement or case id, unit:tcp/port, unit:port ...")
    change: Literal["added", "removed", "changed"]
    before: str | None = None
    after: str | None = None
    regression: bool
    detail: str = ""


class BundleDiff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["iot-label-harness/diff/v1"] = "iot-label-harness/diff/v1"
    old: dict[str, str] = Field(description="the old bundle: path, digest, device, firmware, started")
    new: dict[str, str]
    notes: list[str] = Field(default_factory=list, description="what could not be compared, and why")
    changes: list[Change] = Field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def _rank(v: Verdict) -> int:
    """Position in the verdict order, worst = 0; NOT_APPLICABLE ranks with PASS (nothing to fix)."""
    return SEVERITY.index(Verdict.PASS if v is Verdict.NOT_APPLICABLE else v)


def verdict_regressed(before: Verdict, after: Verdict) -> bool:
    """Worse by the verdict order, and not something a run may exit 0 with (a new advisory is shown,
    it does not fail the build, as it does not fail the run)."""
    return after not in ACCEPTABLE and _rank(after) < _rank(before)


def _verdict_changes(aspect: Aspect, old: dict[str, Verdict], new: dict[str, Verdict],
                     reasons: dict[str, str]) -> list[Change]:
    out = []
    for key in sorted(old.keys() | new.keys()):
        b, a = old.get(key), new.get(key)
        if b == a:
            continue
        if a is None:
            evaluated = b is not Verdict.NOT_EVALUATED
            out.append(Change(aspect=aspect, subject=key, change="removed", before=b, regression=evaluated,
                              detail="evaluated before, not part of the new run" if evaluated else ""))
        elif b is None:
            out.append(Change(aspect=aspect, subject=key, change="added", after=a, regression=a not in ACCEPTABLE,
                              detail=reasons.get(key, "")))
        else:
            out.append(Change(aspect=aspect, subject=key, change="changed", before=b, after=a,
                              regression=verdict_regressed(b, a), detail=reasons.get(key, "")))
    return out


def _requirements(old: Results, new: Results) -> list[Change]:
    def key(r: RequirementResult) -> str:
        return f"{r.scheme} {r.id}"

    def why(r: RequirementResult) -> str:
        return "; ".join(r.notes)

    return _verdict_changes("requirement", {key(r): r.verdict for r in old.requirements},
                            {key(r): r.verdict for r in new.requirements}, {key(r): why(r) for r in new.requirements})


def _cases(old: Results, new: Results) -> list[Change]:
    def why(c: CaseResult) -> str:
        return c.reason

    return _verdict_changes("case", {c.id: c.verdict for c in old.cases}, {c.id: c.verdict for c in new.cases},
                            {c.id: why(c) for c in new.cases})


def _failures(results: Results) -> dict[str, str]:
    """FAIL findings by "target [rule]" (the policy violation's identity across runs) -> reason."""
    out: dict[str, str] = {}
    for c in results.cases:
        for f in c.findings:
            if f.verdict is Verdict.FAIL:
                out.setdefault(f"{f.target} [{f.rule}]", f.reason)
    return out


def _findings(old: Results, new: Results) -> list[Change]:
    b, a = _failures(old), _failures(new)
    return ([Change(aspect="finding", subject=k, change="added", after="FAIL", regression=True, detail=a[k])
             for k in sorted(a.keys() - b.keys())]
            + [Change(aspect="finding", subject=k, change="removed", before="FAIL", regression=False, detail=b[k])
               for k in sorted(b.keys() - a.keys())])


# ---------------------------------------------------------------- recorded observations
class _Recorded:
    """One bundle's recorded observations, by unit and key; an observation that ended in an error
    is kept as its error text, so "not recorded" and "recorded as failed" stay apart."""

    def __init__(self, bundle: VerifiedBundle) -> None:
        self.bundle = bundle
        self.units = [u.name for u in bundle.results.device.units]

    def keys(self, unit: str, prefix: str) -> list[str]:
        folder = self.bundle.root / "observations" / unit
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob(f"{prefix}*.json"))

    def offer(self, unit: str, key: str) -> Any:
        """The observation, or None when it was not recorded or recorded as failed."""
        got = self.read(unit, key)
        return got[0] if got is not None and got[1] is None else None

    def read(self, unit: str, key: str) -> tuple[Any, str | None] | None:
        """(observation, None), (None, error text), or None when the run recorded no such observation."""
        rel = f"observations/{unit}/{key}.json"
        if not (self.bundle.root / rel).is_file():
            return None
        data = self.bundle.read_json(rel)
        if "error" in data:
            err = data["error"]
            return None, f"{err.get('type', 'error')}: {err.get('text', '')}"
        return data.get("observation"), None


def _interfaces(results: Results) -> dict[str, str]:
    """unit:transport/port -> "service (protocol[, undeclared])", from the coverage rows."""
    out: dict[str, str] = {}
    for row in results.coverage:
        _, _, where = row.interface.partition(":")  # unit:service/transport/port
        _, transport, port = where.rsplit("/", 2)
        label = f"{row.service} ({row.protocol}{'' if row.declared else ', undeclared'})"
        out[f"{row.unit}:{transport}/{port}"] = label
    return out


def _ports(old: _Recorded, new: _Recorded, labels: dict[str, str], notes: list[str]) -> list[Change]:
    out = []
    for unit in sorted(set(old.units) | set(new.units)):
        for transport in ("tcp", "udp"):
            key = f"{transport}-scan"
            b, a = old.read(unit, key), new.read(unit, key)
            where = f"{unit}:{transport}"
            if b is None and a is None:
                continue
            if a is None or a[1] is not None:
                if b is not None and b[1] is None:
                    why = "the new run recorded no" if a is None else f"the new run's {key} failed ({a[1]}); no"
                    out.append(Change(aspect="port", subject=where, change="changed", before="scanned",
                                      after="not scanned", regression=True,
                                      detail=f"{why} {transport.upper()} scan: a newly opened port could not be seen"))
                continue
            if b is None or b[1] is not None:
                notes.append(f"{where}: the old bundle has no {transport.upper()} scan to compare with; "
                             f"the new run found {len(a[0].get('open_ports', []))} open ports")
                continue
            before, after = set(b[0].get("open_ports", [])), set(a[0].get("open_ports", []))
            for port in sorted(after - before):
                out.append(Change(aspect="port", subject=f"{where}/{port}", change="added", after="open",
                                  regression=True, detail=labels.get(f"{where}/{port}", "")))
            for port in sorted(before - after):
                out.append(Change(aspect="port", subject=f"{where}/{port}", change="removed", before="open",
                                  regression=False, detail=labels.get(f"{where}/{port}", "")))
    return out


def _advertised(rec: _Recorded, unit: str) -> set[str]:
    got = rec.read(unit, "discovery")
    if got is None or got[1] is not None or not isinstance(got[0], dict):
        return set()
    names = {f"mDNS {s.get('instance')} (port {s.get('port')})" for s in got[0].get("mdns_services", [])}
    for r in got[0].get("ssdp_responses", []):
        if isinstance(r, dict):
            names.add(f"SSDP {r.get('usn') or r.get('st') or r.get('location')}")
    return names


def _services(old: _Recorded, new: _Recorded) -> list[Change]:
    out = []
    b, a = _interfaces(old.bundle.results), _interfaces(new.bundle.results)
    for key in sorted(a.keys() - b.keys()):
        undeclared = "undeclared" in a[key]
        out.append(Change(aspect="service", subject=key, change="added", after=a[key], regression=undeclared,
                          detail="answering and not declared" if undeclared else "newly declared"))
    for key in sorted(b.keys() - a.keys()):
        out.append(Change(aspect="service", subject=key, change="removed", before=b[key], regression=False))
    for key in sorted(a.keys() & b.keys()):
        if a[key] != b[key]:
            out.append(Change(aspect="service", subject=key, change="changed", before=b[key], after=a[key],
                              regression=True, detail="the same port now speaks or is declared as something else"))
    for unit in sorted(set(old.units) | set(new.units)):
        ob, oa = _advertised(old, unit), _advertised(new, unit)
        out += [Change(aspect="service", subject=f"{unit} advertises", change="added", after=s, regression=False)
                for s in sorted(oa - ob)]
        out += [Change(aspect="service", subject=f"{unit} advertises", change="removed", before=s, regression=False)
                for s in sorted(ob - oa)]
    return out


def _listed(aspect: Aspect, subject: str, before: Iterable[str], after: Iterable[str]) -> list[Change]:
    b, a = set(before), set(after)
    return ([Change(aspect=aspect, subject=subject, change="added", after=x, regression=False) for x in sorted(a - b)]
            + [Change(aspect=aspect, subject=subject, change="removed", before=x, regression=False)
               for x in sorted(b - a)])


def _offered(summary: dict) -> dict[str, list[str]]:
    return {v: list(s) for v, s in (summary.get("protocols") or {}).items() if s}


def _offers(old: _Recorded, new: _Recorded, prefix: str) -> Iterator[tuple[str, Any, Any]]:
    """(unit:port, old offer, new offer) for each port either bundle recorded an offer of; an offer
    is None where that bundle recorded none, or recorded the attempt as failed."""
    for unit in sorted(set(old.units) | set(new.units)):
        for key in sorted(set(old.keys(unit, prefix)) | set(new.keys(unit, prefix))):
            yield f"{unit}:{key.removeprefix(prefix)}", old.offer(unit, key), new.offer(unit, key)


def _presence(aspect: Aspect, subject: str, before: Any, after: Any, what: str) -> list[Change]:
    """An offer recorded in one bundle only. Not a regression by itself: a port that closed, or a
    case that could not read the offer, shows in the port and case changes."""
    if (before is None) == (after is None):
        return []
    if after is None:
        return [Change(aspect=aspect, subject=subject, change="removed", before=f"{what} recorded", regression=False,
                       detail=f"no {what} recorded in the new run (see the port and case changes)")]
    return [Change(aspect=aspect, subject=subject, change="added", after=f"{what} recorded", regression=False)]


def _tls(old: _Recorded, new: _Recorded) -> list[Change]:
    """Versions and suites offered per TLS port. A version newly offered that is older than the
    newest one offered before is a regression whatever a policy says: the build widened its offer
    downwards. Added suites and groups are listed; whether they break the policy is judged in the
    run itself and shows up as an added FAIL finding."""
    out = []
    for subject, b, a in _offers(old, new, "tls-"):
        if b is None or a is None:
            out += _presence("tls", subject, b, a, "TLS offer")
            continue
        sb, sa = b["summary"], a["summary"]
        pb, pa = _offered(sb), _offered(sa)
        newest_before = max((TLS_ORDER.index(v) for v in pb if v in TLS_ORDER), default=-1)
        for version in sorted(pa.keys() - pb.keys(), key=lambda v: TLS_ORDER.index(v) if v in TLS_ORDER else 99):
            older = version in TLS_ORDER and TLS_ORDER.index(version) < newest_before
            out.append(Change(aspect="tls", subject=subject, change="added", after=version, regression=older,
                              detail=f"older than {TLS_ORDER[newest_before]}, offered before" if older
                              else f"{len(pa[version])} suites"))
        for version in sorted(pb.keys() - pa.keys()):
            out.append(Change(aspect="tls", subject=subject, change="removed", before=version, regression=False))
        for version in sorted(pa.keys() & pb.keys()):
            out += _listed("tls", f"{subject} {version}", pb[version], pa[version])
        out += _listed("tls", f"{subject} groups", sb.get("groups") or [], sa.get("groups") or [])
        cb, ca = (next((c.get("sha256") for c in x.get("chain") or []), None) for x in (sb, sa))
        if cb != ca:
            out.append(Change(aspect="tls", subject=f"{subject} certificate", change="changed", before=cb, after=ca,
                              regression=False))
    return out


def _ssh(old: _Recorded, new: _Recorded) -> list[Change]:
    """Each SSH algorithm list per port; the banner (software version) as a change."""
    out = []
    for subject, b, a in _offers(old, new, "ssh-offer-"):
        if b is None or a is None:
            out += _presence("ssh", subject, b, a, "SSH offer")
            continue
        for name in SSH_LISTS:
            out += _listed("ssh", f"{subject} {name}", b.get(name) or [], a.get(name) or [])
        if b.get("banner") != a.get("banner"):
            out.append(Change(aspect="ssh", subject=f"{subject} banner", change="changed", before=b.get("banner"),
                              after=a.get("banner"), regression=False))
    return out


def _describe(bundle: VerifiedBundle) -> dict[str, str]:
    d, m = bundle.results.device, bundle.manifest
    return {"bundle": str(bundle.root), "digest": bundle.digest, "device": f"{d.vendor} {d.model}",
            "firmware": d.firmware_version, "started": m.started, "status": m.status,
            "profile_sha256": m.profile.get("sha256", "")}


def _run(old: VerifiedBundle, new: VerifiedBundle, notes: list[str]) -> list[Change]:
    out = []
    if new.manifest.status != "complete":
        out.append(Change(aspect="run", subject="assessment", change="changed", before=old.manifest.status,
                          after=new.manifest.status, regression=True,
                          detail=new.manifest.incomplete_reason or "the new run did not complete"))
    elif old.manifest.status != "complete":
        notes.append(f"the old bundle is {old.manifest.status}: what it did not reach is not compared")
    if (old.results.device.vendor, old.results.device.model) != (new.results.device.vendor, new.results.device.model):
        notes.append("the two bundles are of different devices; unit names are matched as they are")
    if old.manifest.probe_classes_enabled != new.manifest.probe_classes_enabled:
        out.append(Change(aspect="run", subject="probe classes", change="changed",
                          before=",".join(old.manifest.probe_classes_enabled),
                          after=",".join(new.manifest.probe_classes_enabled),
                          regression=not set(old.manifest.probe_classes_enabled)
                          <= set(new.manifest.probe_classes_enabled),
                          detail="a probe class enabled before and not now leaves its checks unrun"))
    if old.manifest.policies != new.manifest.policies:
        out.append(Change(aspect="run", subject="policies", change="changed", regression=False,
                          before=", ".join(f"{k}={v}" for k, v in sorted(old.manifest.policies.items())),
                          after=", ".join(f"{k}={v}" for k, v in sorted(new.manifest.policies.items()))))
    return out


def compare(old: VerifiedBundle, new: VerifiedBundle) -> BundleDiff:
    """Both bundles have been verified by the one reader; nothing here reads an unverified byte."""
    notes: list[str] = []
    ro, rn = _Recorded(old), _Recorded(new)
    labels = {**_interfaces(old.results), **_interfaces(new.results)}
    changes = (_run(old, new, notes) + _requirements(old.results, new.results) + _cases(old.results, new.results)
               + _ports(ro, rn, labels, notes) + _services(ro, rn) + _tls(ro, rn) + _ssh(ro, rn)
               + _findings(old.results, new.results))
    return BundleDiff(old=_describe(old), new=_describe(new), notes=notes, changes=changes)
