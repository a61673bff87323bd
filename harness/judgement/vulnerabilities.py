"""Known vulnerabilities of the SBOM's components, matched offline against OSV records.

The operator supplies a folder of OSV JSON records (an export of osv.dev for the ecosystems the
firmware uses, or the lab's own); nothing is fetched. A component is affected when a record for
its package lists its version, or its version lies in an affected range. Versions are ordered by
the ecosystem's own rules (Debian's by python-debian, others by PEP 440 where they parse); where
the order cannot be known the pair is reported as undecided, never as unaffected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.judgement.sbom import Component

MAX_RECORD_BYTES = 4 << 20
MAX_RECORDS = 200_000
PURL_ECOSYSTEMS = {"deb": "Debian", "pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven",
                   "cargo": "crates.io", "gem": "RubyGems", "nuget": "NuGet", "apk": "Alpine", "composer": "Packagist"}


@dataclass(frozen=True)
class Package:
    ecosystem: str | None
    name: str


@dataclass
class OsvData:
    folder: Path
    records: list[dict] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Match:
    component: Component
    record: str  # the OSV id
    aliases: tuple[str, ...]
    summary: str
    affected: bool | None  # None: the version order could not be known
    how: str


class OsvDataError(Exception):
    pass


def load_osv(folder: Path) -> OsvData:
    if not folder.is_dir():
        raise OsvDataError(f"--osv-data {folder}: not a folder of OSV JSON records")
    data = OsvData(folder)
    for path in sorted(folder.rglob("*.json")):
        if len(data.records) >= MAX_RECORDS:
            data.unreadable.append(f"more than {MAX_RECORDS} records: the rest were not read")
            break
        try:
            if not path.is_file() or path.stat().st_size > MAX_RECORD_BYTES:
                raise ValueError("not a regular file of at most 4 MiB")
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise ValueError("no OSV id")
        except (OSError, ValueError, UnicodeDecodeError) as e:
            data.unreadable.append(f"{path.relative_to(folder)}: {e}")
            continue
        data.records.append(record)
    return data


def package_of(c: Component) -> Package:
    m = re.match(r"pkg:([^/]+)/(?:[^/]+/)*([^@?#]+)", c.purl)
    if m:
        return Package(PURL_ECOSYSTEMS.get(m.group(1).lower()), m.group(2).lower())
    return Package(None, c.name.lower())


def purl_version(c: Component) -> str:
    m = re.search(r"@([^?#]+)", c.purl)
    from urllib.parse import unquote

    return unquote(m.group(1)) if m else c.version


def _order(ecosystem: str | None, a: str, b: str) -> int | None:
    """-1, 0, 1 as a is before, equal to or after b; None when this ecosystem's order is unknown."""
    if ecosystem == "Debian":
        from debian.debian_support import Version

        try:
            va, vb = Version(a), Version(b)
        except ValueError:
            return None
        return (va > vb) - (va < vb)
    from packaging.version import InvalidVersion, Version

    try:
        pa, pb = Version(a), Version(b)
    except InvalidVersion:
        return None
    return (pa > pb) - (pa < pb)


def _in_range(ecosystem: str | None, version: str, events: list[dict]) -> bool | None:
    """OSV's range semantics: affected from each `introduced` up to the next `fixed` (exclusive) or
    `last_affected` (inclusive)."""
    affected, undecided = False, False
    for ev in events:
        for kind, bound in ev.items():
            if kind == "introduced":
                cmp = 1 if bound == "0" else _order(ecosystem, version, bound)
                if cmp is None:
                    undecided = True
                elif cmp >= 0:
                    affected = True
            elif kind in ("fixed", "last_affected"):
                cmp = _order(ecosystem, version, bound)
                if cmp is None:
                    undecided = True
                elif (kind == "fixed" and cmp >= 0) or (kind == "last_affected" and cmp > 0):
                    affected = False
    if affected:
        return True
    return None if undecided else False


def match(components: list[Component], osv: OsvData) -> list[Match]:
    out = []
    for c in components:
        pkg = package_of(c)
        version = purl_version(c) or c.version
        for rec in osv.records:
            for aff in rec.get("affected") or []:
                p = aff.get("package") or {}
                name = str(p.get("name", "")).lower()
                eco = p.get("ecosystem")
                eco_base = str(eco).split(":")[0] if eco else None
                if name != pkg.name or (pkg.ecosystem and eco_base and eco_base != pkg.ecosystem):
                    continue
                how = "" if pkg.ecosystem else " (matched by name: the SBOM gives no purl)"
                listed = [str(v) for v in aff.get("versions") or []]
                if version in listed:
                    result: bool | None = True
                else:
                    result = False
                    for rng in aff.get("ranges") or []:
                        if rng.get("type") == "GIT":
                            continue
                        r = _in_range(eco_base or pkg.ecosystem, version, rng.get("events") or [])
                        if r:
                            result = True
                            break
                        if r is None:
                            result = None
                if result is False:
                    continue
                out.append(Match(c, rec["id"], tuple(rec.get("aliases") or ()), str(rec.get("summary", ""))[:200],
                                 result, f"{eco or 'any ecosystem'} {name} {version}{how}"))
    return out
