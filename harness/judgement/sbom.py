"""A software bill of materials, read and validated with the formats' own libraries.

CycloneDX (JSON or XML) through cyclonedx-python-lib, validated against the schema of the
specVersion it claims; SPDX (JSON or tag-value) through spdx-tools, validated by its document
validator. The SBOM is the manufacturer's input, so it is untrusted: any failure to parse is a
finding naming what is wrong, never an exception, and XML is parsed with defusedxml first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeET

CDX_NS = "http://cyclonedx.org/schema/bom/"


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    purl: str = ""


@dataclass
class Sbom:
    format: str  # "CycloneDX 1.5 (JSON)", "SPDX-2.3 (JSON)", … or "unknown"
    valid: bool
    errors: list[str] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    describes: str = ""  # the product the SBOM says it is about, where it says


def parse_sbom(text: str) -> Sbom:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            return Sbom("unknown", False, [f"not valid JSON: {e.msg} (line {e.lineno})"])
        if not isinstance(data, dict):
            return Sbom("unknown", False, ["JSON, but not an object: neither CycloneDX nor SPDX"])
        if data.get("bomFormat") == "CycloneDX":
            return _cyclonedx_json(text, data)
        if "spdxVersion" in data:
            return _spdx_json(data)
        return Sbom("unknown", False, ["JSON without bomFormat: CycloneDX or spdxVersion: neither CycloneDX nor SPDX"])
    if stripped.startswith("<"):
        return _cyclonedx_xml(text)
    if "SPDXVersion:" in text[:4096]:
        return _spdx_tag_value(text)
    return Sbom("unknown", False, ["not a CycloneDX (JSON or XML) or SPDX (JSON or tag-value) document"])


def _cyclonedx_json(text: str, data: dict) -> Sbom:
    from cyclonedx.model.bom import Bom
    from cyclonedx.validation.json import JsonStrictValidator

    spec = str(data.get("specVersion", ""))
    return _cyclonedx(f"CycloneDX {spec} (JSON)", spec, text, JsonStrictValidator, lambda: Bom.from_json(data))


def _cyclonedx_xml(text: str) -> Sbom:
    from cyclonedx.model.bom import Bom
    from cyclonedx.validation.xml import XmlValidator

    try:
        root = SafeET.fromstring(text)
    except Exception as e:
        return Sbom("unknown", False, [f"not well-formed or unsafe XML: {str(e)[:200]}"])
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if not ns.startswith(CDX_NS):
        return Sbom("unknown", False, [f"XML in namespace {ns or '(none)'!r}: not a CycloneDX BOM"])
    spec = ns[len(CDX_NS):]
    return _cyclonedx(f"CycloneDX {spec} (XML)", spec, text, XmlValidator, lambda: Bom.from_xml(root))


def _cyclonedx(fmt: str, spec: str, text: str, validator, read) -> Sbom:
    """Validate against the schema of the version the document claims, then read it."""
    from cyclonedx.schema import SchemaVersion

    try:
        version = SchemaVersion.from_version(spec)
    except ValueError:
        return Sbom(fmt, False, [f"CycloneDX version {spec!r} is not one this harness knows"])
    problem = validator(version).validate_str(text)
    if problem is not None:
        err = problem.data
        where = "/".join(str(p) for p in getattr(err, "absolute_path", []))
        message = getattr(err, "message", None) or str(err)
        return Sbom(fmt, False, [f"{where}: {message[:300]}" if where else message[:300]])
    try:
        bom = read()
    except Exception as e:
        return Sbom(fmt, False, [f"schema-valid but unreadable: {type(e).__name__}: {str(e)[:200]}"])
    return _from_bom(fmt, bom)


def _from_bom(fmt: str, bom) -> Sbom:
    comps = [Component(c.name, c.version or "", str(c.purl or "")) for c in _walk(bom.components)]
    top = bom.metadata.component
    return Sbom(fmt, True, components=comps, describes=f"{top.name} {top.version or ''}".strip() if top else "")


def _walk(components):
    for c in components:
        yield c
        yield from _walk(c.components)


def _spdx_json(data: dict) -> Sbom:
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser

    return _spdx(f"{data.get('spdxVersion')} (JSON)", lambda: JsonLikeDictParser().parse(data))


def _spdx_tag_value(text: str) -> Sbom:
    from spdx_tools.spdx.parser.tagvalue.parser import Parser

    return _spdx("SPDX (tag-value)", lambda: Parser().parse(text), tag_value=True)


def _spdx(fmt: str, parse, tag_value: bool = False) -> Sbom:
    """Parse (spdx-tools' own errors become the reasons), then validate the document read."""
    from spdx_tools.spdx.parser.error import SPDXParsingError

    try:
        doc = parse()
    except SPDXParsingError as e:
        return Sbom(fmt, False, [m[:300] for m in e.get_messages()][:10])
    except Exception as e:
        return Sbom(fmt, False, [f"unreadable: {type(e).__name__}: {str(e)[:200]}"])
    return _from_spdx(f"{doc.creation_info.spdx_version} (tag-value)" if tag_value else fmt, doc)


def _from_spdx(fmt: str, doc) -> Sbom:
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    problems = validate_full_spdx_document(doc)
    if problems:
        return Sbom(fmt, False, [f"{p.validation_message[:300]}" for p in problems][:10])
    comps = []
    for pkg in doc.packages:
        purl = next((r.locator for r in pkg.external_references if str(r.reference_type) == "purl"), "")
        comps.append(Component(pkg.name, str(pkg.version or ""), purl))
    return Sbom(fmt, True, components=comps, describes=doc.creation_info.name)
